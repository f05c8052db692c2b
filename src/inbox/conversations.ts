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
export async function conversationWhere(prisma: Db, auth: Auth, filter: ConversationFilter, now: Date): Promise<Prisma.LeadWhereInput> {
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
  if (filter.slaBreached) {
    const late = await prisma.responseWindow.findMany({
      where: { workspaceId: auth.workspaceId, respondedAt: null, dueAt: { lt: now } },
      select: { leadId: true },
      distinct: ['leadId'],
    });
    and.push({ id: { in: late.map((row) => row.leadId) } });
  }
  if (filter.q) and.push(searchWhere(filter.q));
  return { AND: and };
}

/** Names, companies, phone numbers, addresses and message text. */
function searchWhere(q: string): Prisma.LeadWhereInput {
  const text = { contains: q, mode: 'insensitive' as const };
  const digits = q.replace(/\D/g, '');
  const identity = digits.length >= 4 && /^[\d\s()+.-]+$/.test(q) ? { contains: digits } : text;
  return {
    OR: [
      { name: text },
      { company: text },
      { contact: { name: text } },
      { contact: { identities: { some: { value: identity } } } },
      { messages: { some: { OR: [{ text }, { subject: text }] } } },
    ],
  };
}

/** The rows after the cursor in (lastActivityAt desc, id desc) order. */
export function afterActivityCursor(cursor: Cursor | undefined): Prisma.LeadWhereInput {
  if (!cursor) return {};
  const at = new Date(cursor.at);
  return { OR: [{ lastActivityAt: { lt: at } }, { lastActivityAt: at, id: { lt: cursor.id } }] };
}

interface LastMessage {
  leadId: string;
  direction: string;
  channel: string;
  text: string | null;
  subject: string | null;
  status: string;
  createdAt: Date;
}

/** Everything a list row shows beyond the lead itself, for one page of leads, in a few queries. */
export async function rowDetails(prisma: Db, leadIds: string[], userId: string | null) {
  if (leadIds.length === 0) return { last: new Map<string, LastMessage>(), channels: new Map<string, string[]>(), unread: new Map<string, number>(), sla: new Map<string, Date>(), followUps: new Map<string, Date>() };
  const ids = Prisma.join(leadIds);
  const [lastRows, channelRows, unreadRows, windows, followUps] = await Promise.all([
    prisma.$queryRaw<LastMessage[]>`
      SELECT DISTINCT ON ("leadId") "leadId", direction, channel, text, subject, status, "createdAt"
      FROM messages WHERE "leadId" IN (${ids}) ORDER BY "leadId", "createdAt" DESC`,
    prisma.$queryRaw<{ leadId: string; channel: string }[]>`
      SELECT DISTINCT "leadId", channel FROM messages WHERE "leadId" IN (${ids})`,
    userId
      ? prisma.$queryRaw<{ leadId: string; unread: number }[]>`
          SELECT m."leadId", count(*)::int AS unread
          FROM messages m LEFT JOIN conversation_reads r ON r."leadId" = m."leadId" AND r."userId" = ${userId}
          WHERE m."leadId" IN (${ids}) AND m.direction = 'in' AND (r."readAt" IS NULL OR m."createdAt" > r."readAt")
          GROUP BY m."leadId"`
      : Promise.resolve([]),
    prisma.responseWindow.findMany({ where: { leadId: { in: leadIds }, respondedAt: null }, select: { leadId: true, dueAt: true }, orderBy: { dueAt: 'asc' } }),
    prisma.followUp.findMany({ where: { leadId: { in: leadIds }, status: 'open' }, select: { leadId: true, dueAt: true }, orderBy: { dueAt: 'asc' } }),
  ]);
  const channels = new Map<string, string[]>();
  for (const row of channelRows) channels.set(row.leadId, [...(channels.get(row.leadId) ?? []), row.channel]);
  const firstPerLead = <T extends { leadId: string; dueAt: Date }>(rows: T[]) => {
    const map = new Map<string, Date>();
    for (const row of rows) if (!map.has(row.leadId)) map.set(row.leadId, row.dueAt);
    return map;
  };
  return {
    last: new Map(lastRows.map((row) => [row.leadId, row])),
    channels,
    unread: new Map(unreadRows.map((row) => [row.leadId, Number(row.unread)])),
    sla: firstPerLead(windows),
    followUps: firstPerLead(followUps),
  };
}

/** A one-line preview of a message: its text, or its subject, cut short. */
export function preview(message: { text: string | null; subject: string | null } | undefined): string | null {
  const text = (message?.text ?? message?.subject ?? '').replace(/\s+/g, ' ').trim();
  if (!text) return null;
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}
