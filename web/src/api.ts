/** The page talks to the same /api/v1 as any integration; the session cookie authenticates it. */
import type { paths } from './api-types.js';

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

let csrfToken = '';
let onSignedOut: () => void = () => undefined;

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/api/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      ...(method === 'GET' ? {} : { 'x-csrf-token': csrfToken }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const data: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && path !== '/session') onSignedOut();
    throw new ApiError({ status: response.status, ...(data as Partial<Problem>) });
  }
  return data as T;
}

/** Uploads one file for a message (multipart, as POST /api/v1/uploads takes it). */
export async function uploadFile(file: File): Promise<Upload> {
  const form = new FormData();
  form.append('file', file, file.name);
  const response = await fetch('/api/v1/uploads', { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', 'x-csrf-token': csrfToken }, body: form });
  const text = await response.text();
  const data: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401) onSignedOut();
    throw new ApiError({ status: response.status, ...(data as Partial<Problem>) });
  }
  return data as Upload;
}

export const get = <T,>(path: string) => api<T>('GET', path);
export const post = <T,>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const patch = <T,>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const del = <T,>(path: string) => api<T>('DELETE', path);

export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export interface List<T> {
  data: T[];
  nextCursor: string | null;
}

export type Role = 'owner' | 'manager' | 'rep';

/**
 * What the API answers, as web/src/api-types.ts has it (generated from /openapi.json by
 * `npm run api:types`): the page reads the server's own declaration, and a change there that the
 * page does not follow fails the type check.
 */
type Operation<P extends keyof paths, M extends 'get' | 'post'> = NonNullable<paths[P][M]>;
type Answer<P extends keyof paths, M extends 'get' | 'post', S extends number> =
  Operation<P, M> extends { responses: { [status in S]: { content: { 'application/json': infer Body } } } } ? Body : never;
type Item<L> = L extends { data: (infer Row)[] } ? Row : never;

export type SessionInfo = Answer<'/api/v1/session', 'get', 200>;
export type Conversation = Item<Answer<'/api/v1/conversations', 'get', 200>>;
export type Lead = Answer<'/api/v1/leads/{id}', 'get', 200>;
export type Message = Answer<'/api/v1/messages/{id}', 'get', 200>;
export type Activity = Item<Answer<'/api/v1/leads/{id}/activities', 'get', 200>>;
export type User = Item<Answer<'/api/v1/users', 'get', 200>>;
export type FollowUp = Item<Answer<'/api/v1/follow-ups', 'get', 200>>;
export type Template = Item<Answer<'/api/v1/templates', 'get', 200>>;
export type Upload = Answer<'/api/v1/uploads', 'post', 201>;

/** Where a reply to the lead goes on one channel; `subject` is an email reply's default. */
export interface ReplyOption {
  channel: string;
  to: string;
  subject?: string;
}

export const getReplyOptions = (leadId: string) => get<{ data: ReplyOption[] }>(`/leads/${encodeURIComponent(leadId)}/reply-options`).then((list) => list.data);

/** A contact's conversation (one of its leads), as a contact's detail lists them. */
export interface ContactConversation {
  id: string;
  name: string | null;
  channel: string;
  stage: string;
  status: 'open' | 'pending' | 'snoozed' | 'resolved';
  owner: { id: string; name: string } | null;
  createdAt: string;
  lastActivityAt: string;
}

export interface ContactDetail {
  id: string;
  name: string | null;
  company: string | null;
  identities: { kind: 'phone' | 'email' | 'whatsapp'; value: string; undeliverable: boolean }[];
  optOuts: string[];
  leads: string[];
  conversations: ContactConversation[];
  merges: ContactMerge[];
}

export interface ContactSummary {
  id: string;
  name: string | null;
  company: string | null;
  identities: { kind: 'phone' | 'email' | 'whatsapp'; value: string; undeliverable: boolean }[];
  leads: number;
  createdAt: string;
}

/** A contact merged into another: automatic (one message named both) or by hand. */
export interface ContactMerge {
  id: string;
  fromContactId: string;
  intoContactId: string;
  name: string | null;
  identities: string[];
  leads: number;
  automatic: boolean;
  createdAt: string;
  undoneAt: string | null;
}

export const getContact = (contactId: string) => get<ContactDetail>(`/contacts/${encodeURIComponent(contactId)}`);
export const listContacts = (q: string, cursor?: string) => get<List<ContactSummary>>(`/contacts${query({ q, cursor, limit: 50 })}`);
export const mergeContact = (keepId: string, otherId: string) => post<ContactMerge>(`/contacts/${encodeURIComponent(keepId)}/merge`, { contactId: otherId });
export const undoContactMerge = (mergeId: string) => post<ContactMerge>(`/contact-merges/${encodeURIComponent(mergeId)}/undo`);

/** The workspace's business profile, as GET /workspace answers it (with the rest of its settings). */
export interface WorkspaceProfile {
  id: string;
  name: string;
  timeZone: string;
  workingHours: Record<string, [string, string][]>;
  signature: string | null;
  logoUrl: string | null;
  profileConfirmed: boolean;
}
