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
}
