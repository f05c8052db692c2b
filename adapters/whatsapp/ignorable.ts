/** Kinds of traffic that are not leads by default; a source can let any of them through. */
export const ignorableKinds = ['groups', 'status', 'broadcasts', 'newsletters', 'reactions'] as const;
export type IgnorableKind = (typeof ignorableKinds)[number];
