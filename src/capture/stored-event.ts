import type { CallProgress, InboundEvent } from '../channels/contract.js';

/** The stored form of an InboundEvent (the `payload` column): JSON, so dates are strings. */
export type StoredPayload = Omit<InboundEvent, 'raw' | 'receivedAt' | 'attachments' | 'externalId'> & {
  receivedAt: string;
  attachments?: { filename: string; contentType: string; size: number }[];
};

/**
 * What a stored event asks of the processor, one kind each. Adapters mark an event that is not a
 * person's message with the one field that says what it is instead; this reads that field once,
 * so each kind has its own handler and no handler looks at another kind's fields.
 */
export type InboundKind =
  /** A person wrote (or filled in a form): a contact, a lead, a message. */
  | { kind: 'message' }
  /**
   * The readable form of a message first stored as unreadable (WhatsApp could not decrypt it):
   * it takes that message's place, or is a message of its own when there is none.
   */
  | { kind: 'replacement'; replaces: string }
  /** A provider's report on a message we sent. */
  | { kind: 'delivery'; delivery: NonNullable<StoredPayload['delivery']> }
  /** A delivery failure report: the addresses it names become undeliverable. */
  | { kind: 'bounce'; bounce: NonNullable<StoredPayload['bounce']> }
  /** A call's progress: its first event opens the call's message as a message would; later ones update it. */
  | { kind: 'call'; call: CallProgress }
  /** The handle's ids are one person: contacts known by any of them become one. */
  | { kind: 'same-person' }
  /** Sent by the business from elsewhere (its own phone) to the person `from` names. */
  | { kind: 'outgoing' };

export function inboundKind(payload: StoredPayload): InboundKind {
  if (payload.bounce) return { kind: 'bounce', bounce: payload.bounce };
  if (payload.delivery) return { kind: 'delivery', delivery: payload.delivery };
  if (payload.call) return { kind: 'call', call: payload.call };
  if (payload.samePerson) return { kind: 'same-person' };
  if (payload.outgoing) return { kind: 'outgoing' };
  if (payload.replaces) return { kind: 'replacement', replaces: payload.replaces };
  return { kind: 'message' };
}

/** What a person's message says, as its message row keeps it, wherever that row is written. */
export function messageContent(payload: StoredPayload) {
  return {
    text: payload.text ?? null,
    fullText: payload.fullText ?? payload.text ?? null,
    html: payload.html ?? null,
    subject: payload.subject ?? null,
    inReplyTo: payload.threadRefs?.at(-1) ?? null,
    references: payload.threadRefs ?? [],
  };
}
