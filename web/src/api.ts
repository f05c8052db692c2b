/** The page talks to the same /api/v1 as any integration; the session cookie authenticates it. */

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

export interface Upload {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  url: string;
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

export interface SessionInfo {
  user: { id: string; workspaceId: string; name: string; email: string; role: Role; locale: string | null };
  workspace: { id: string; name: string; locale: string; timeZone: string; visibility: string; repsCanClaim: boolean; logoUrl: string | null; profileConfirmed: boolean };
  csrfToken: string;
}

export interface Conversation {
  id: string;
  name: string | null;
  company: string | null;
  email: string | null;
  phone: string | null;
  channel: string;
  channels: string[];
  stage: string;
  score: number;
  tags: string[];
  dealValue: number | null;
  dealCurrency: string | null;
  owner: { id: string; name: string } | null;
  status: 'open' | 'pending' | 'snoozed' | 'resolved';
  snoozedUntil: string | null;
  lastActivityAt: string;
  lastMessage: { direction: 'in' | 'out'; channel: string; preview: string | null; status: string; createdAt: string } | null;
  unread: number;
  sla: { dueAt: string; breached: boolean; workingSecondsLeft: number } | null;
  nextFollowUpAt: string | null;
}

export interface Lead {
  id: string;
  contactId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  whatsappId: string | null;
  company: string | null;
  channel: string;
  source: { id: string; name: string; kind: string } | null;
  stage: string;
  score: number;
  owner: { id: string; name: string; email: string } | null;
  products: { id: string; name: string }[];
  segment: string | null;
  tags: string[];
  dealValue: number | null;
  dealCurrency: string | null;
  customFields: Record<string, unknown>;
  scoreReasons: { rule: string; points: number }[];
  routing: string | null;
  conversation: { status: 'open' | 'pending' | 'snoozed' | 'resolved'; snoozedUntil: string | null };
  createdAt: string;
}

export interface Message {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  text: string | null;
  fullText?: string | null;
  subject?: string | null;
  fields?: Record<string, unknown> | null;
  attachments: { id: string; filename: string; contentType: string; size: number; url: string; status: 'stored' | 'pending' | 'failed'; error?: string }[];
  status: string;
  scheduledAt?: string | null;
  error?: string;
  to: string | null;
  automatic: boolean;
  createdAt: string;
}

export interface Activity {
  id: string;
  kind: string;
  actor: { type: string; id: string | null };
  data: Record<string, unknown>;
  createdAt: string;
}

export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
  active: boolean;
}

export interface FollowUp {
  id: string;
  leadId: string;
  ownerId: string | null;
  dueAt: string;
  note: string;
  status: 'open' | 'done';
  outcome?: string | null;
}

export interface Template {
  id: string;
  name: string;
  locale: string;
  channel: string;
  subject?: string | null;
  body: string;
}

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
