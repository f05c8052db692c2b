import { Prisma } from '@prisma/client';
import type { Db } from '../db/client.js';
import type { Auth } from '../http/route.js';
import type { Cursor } from '../http/route.js';
import { conversationStatuses } from '../leads/conversation.js';
import { visibleLeadsWhere } from '../leads/visibility.js';

export const conversationViews = ['mine', 'unassigned', 'all'] as const;

export interface ConversationFilter {
  view: (typeof conversationViews)[number];
  status?: (typeof conversationStatuses)[number] | undefined;
  channel?: string | undefined;
  stage?: string | undefined;
  product?: string | undefined;
  segment?: string | undefined;
  tag?: string | undefined;
  scoreMin?: number | undefined;
  scoreMax?: number | undefined;
  followUpDue?: boolean | undefined;
  slaBreached?: boolean | undefined;
  q?: string | undefined;
  ownerId?: string | undefined;
}

/** The leads a filter selects, within what the caller may see. */
export async function conversationWhere(
  prisma: Db,
  auth: Auth,
  filter: ConversationFilter,
  now: Date,
  searchCandidateLimit = defaultSearchCandidateLimit,
): Promise<Prisma.LeadWhereInput> {
  const and: Prisma.LeadWhereInput[] = [await visibleLeadsWhere(prisma, auth)];
  if (filter.view === 'mine') and.push({ ownerId: auth.userId ?? '(none)' });
  if (filter.view === 'unassigned') and.push({ ownerId: null });
  if (filter.ownerId) and.push({ ownerId: filter.ownerId });
  if (filter.status) and.push({ conversationStatus: filter.status });
  if (filter.channel) and.push({ OR: [{ channel: filter.channel }, { messages: { some: { channel: filter.channel } } }] });
  if (filter.stage) and.push({ stage: filter.stage });
  if (filter.segment) and.push({ segment: filter.segment });
  if (filter.tag) and.push({ tags: { has: filter.tag } });
  if (filter.product) and.push({ products: { some: { OR: [{ productId: filter.product }, { product: { name: filter.product } }] } } });
  if (filter.scoreMin !== undefined) and.push({ score: { gte: filter.scoreMin } });
  if (filter.scoreMax !== undefined) and.push({ score: { lte: filter.scoreMax } });
  if (filter.followUpDue) and.push({ followUps: { some: { status: 'open', dueAt: { lte: now } } } });
  if (filter.slaBreached) and.push({ responseWindows: { some: { respondedAt: null, dueAt: { lt: now } } } });
  if (filter.q) and.push(await searchWhere(prisma, auth.workspaceId, filter.q, searchCandidateLimit));
  return { AND: and };
}

/**
 * Beyond this many matching leads, listing their ids costs more than testing each lead in turn:
 * a search that broad falls back to the per-lead test, which is correct at any size.
 */
export const defaultSearchCandidateLimit = 5000;

/** `LIKE` takes `%`, `_` and `\` as wildcards and escape; a search means them literally. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

function likePattern(text: string): string {
  return `%${escapeLike(text)}%`;
}

/**
 * Names, companies, phone numbers, addresses and message text. Each part is its own lookup in a
 * trigram index, so the leads a search finds are known before the list is walked; Prisma would
 * otherwise test every lead of the workspace against every part, one lead at a time.
 */
async function searchWhere(prisma: Db, workspaceId: string, q: string, searchCandidateLimit: number): Promise<Prisma.LeadWhereInput> {
  const digits = q.replace(/\D/g, '');
  const isNumber = digits.length >= 4 && /^[\d\s()+.-]+$/.test(q);
  const text = likePattern(q);
  const identity = isNumber ? likePattern(digits) : text;
  const identityTest = isNumber ? Prisma.sql`ci.value LIKE ${identity}` : Prisma.sql`ci.value ILIKE ${identity}`;
  const candidates = await prisma.$queryRaw<{ id: string }[]>`
    SELECT id FROM leads WHERE "workspaceId" = ${workspaceId} AND name ILIKE ${text}
    UNION SELECT id FROM leads WHERE "workspaceId" = ${workspaceId} AND company ILIKE ${text}
    UNION SELECT l.id FROM contacts c JOIN leads l ON l."contactId" = c.id WHERE c."workspaceId" = ${workspaceId} AND c.name ILIKE ${text}
    UNION SELECT l.id FROM contact_identities ci JOIN leads l ON l."contactId" = ci."contactId" WHERE ci."workspaceId" = ${workspaceId} AND ${identityTest}
    UNION SELECT m."leadId" FROM messages m WHERE m."workspaceId" = ${workspaceId} AND (m.text ILIKE ${text} OR m.subject ILIKE ${text})
    LIMIT ${searchCandidateLimit + 1}`;
  if (candidates.length <= searchCandidateLimit) return { id: { in: candidates.map((row) => row.id) } };
  // Prisma puts `contains` into a LIKE pattern as it is.
  const contains = { contains: escapeLike(q), mode: 'insensitive' as const };
  return {
    OR: [
      { name: contains },
      { company: contains },
      { contact: { name: contains } },
      { contact: { identities: { some: { value: isNumber ? { contains: digits } : contains } } } },
      { messages: { some: { OR: [{ text: contains }, { subject: contains }] } } },
    ],
  };
}

/** The rows after the cursor in (lastActivityAt desc, id desc) order. */
export function afterActivityCursor(cursor: Cursor | undefined): Prisma.LeadWhereInput {
  if (!cursor) return {};
  const at = new Date(cursor.at);
  // The first condition alone is an index range; the OR then only settles ties at the boundary.
  return { lastActivityAt: { lte: at }, OR: [{ lastActivityAt: { lt: at } }, { id: { lt: cursor.id } }] };
}

export interface RowDetails {
  leadId: string;
  ownerName: string | null;
  contactName: string | null;
  contactCompany: string | null;
  email: string | null;
  phone: string | null;
  last: { direction: string; channel: string; text: string | null; subject: string | null; status: string; createdAt: string } | null;
  channels: string[] | null;
  unread: number;
  slaDueAt: Date | null;
  followUpAt: Date | null;
}

/**
 * Everything a list row shows beyond the lead's own columns, for one page of leads, in one query:
 * the owner's name, the contact's name and points, last message, channels, unread count for this user, the open
 * first-response window and the next open follow-up. Each part is an indexed lookup per lead.
 */
export async function rowDetails(prisma: Db, leadIds: string[], userId: string | null): Promise<Map<string, RowDetails>> {
  if (leadIds.length === 0) return new Map();
  const rows = await prisma.$queryRaw<RowDetails[]>`
    SELECT l.id AS "leadId",
      (SELECT u.name FROM users u WHERE u.id = l."ownerId") AS "ownerName",
      c.name AS "contactName", c.company AS "contactCompany",
      (SELECT ci.value FROM contact_identities ci WHERE ci."contactId" = l."contactId" AND ci.kind = 'email' ORDER BY ci."createdAt" LIMIT 1) AS email,
      (SELECT ci.value FROM contact_identities ci WHERE ci."contactId" = l."contactId" AND ci.kind IN ('phone', 'whatsapp') ORDER BY ci.kind, ci."createdAt" LIMIT 1) AS phone,
      (SELECT json_build_object('direction', m.direction, 'channel', m.channel, 'text', left(m.text, 400), 'subject', m.subject, 'status', m.status, 'createdAt', m."createdAt")
         FROM messages m WHERE m."leadId" = l.id ORDER BY m."createdAt" DESC LIMIT 1) AS last,
      (SELECT array_agg(DISTINCT m.channel) FROM messages m WHERE m."leadId" = l.id) AS channels,
      (SELECT count(*)::int FROM messages m WHERE m."leadId" = l.id AND m.direction = 'in'
         AND m."createdAt" > COALESCE((SELECT r."readAt" FROM conversation_reads r WHERE r."userId" = ${userId ?? ''} AND r."leadId" = l.id), '-infinity'::timestamptz)) AS unread,
      (SELECT min(w."dueAt") FROM response_windows w WHERE w."leadId" = l.id AND w."respondedAt" IS NULL) AS "slaDueAt",
      (SELECT min(f."dueAt") FROM follow_ups f WHERE f."leadId" = l.id AND f.status = 'open') AS "followUpAt"
    FROM leads l JOIN contacts c ON c.id = l."contactId" WHERE l.id IN (${Prisma.join(leadIds)})`;
  return new Map(rows.map((row) => [row.leadId, { ...row, unread: userId ? Number(row.unread) : 0 }]));
}

/** A one-line preview of a message: its text, or its subject, cut short. */
export function preview(message: { text: string | null; subject: string | null } | undefined): string | null {
  const text = (message?.text ?? message?.subject ?? '').replace(/\s+/g, ' ').trim();
  if (!text) return null;
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}
