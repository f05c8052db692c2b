// The wire format of GET /api/v1/events, shared with the page (web/src/live.ts): no imports here.

/** What a browser hears about: something happened on a lead. It fetches the details through the API. */
export interface LiveEvent {
  id: string;
  kind: string;
  leadId: string;
  ownerId: string | null;
  actor: { type: string; id: string | null };
  direction?: 'in' | 'out';
  at: string;
  /** `contact.typing`: until when to show "typing…" unless a newer event says otherwise. */
  until?: string;
}

/** Events that change nothing stored: a browser shows them, but has nothing to fetch again. */
export const passingEventKinds: readonly string[] = ['contact.typing', 'contact.typing_stopped'];

/** The workspace lists a page keeps for its pickers: who can own a lead, what it can be about, where it came from. */
export const changeableLists = ['users', 'products', 'segments', 'sources'] as const;
export type ChangeableList = (typeof changeableLists)[number];

/** Events named "changed": one of the workspace's lists changed (added, renamed, removed); the page fetches it again. */
export interface ListChangedEvent {
  list: ChangeableList;
  at: string;
}
