import type { Prisma } from '@prisma/client';
import { z } from 'zod';
import { channelKinds } from '../../channels/contract.js';
import { NotFoundError } from '../../errors.js';
import { conversationStatuses } from '../../leads/conversation.js';
import { stages } from '../../leads/stages.js';
import { workingSecondsBetween } from '../../leads/working-time.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import { afterActivityCursor, conversationViews, conversationWhere, preview, rowDetails } from '../../inbox/conversations.js';
import type { AppDeps } from '../deps.js';
import { type Auth, byId, decodeCursor, listSchema, page, pageQuery, route, type RouteDef } from '../route.js';

const flag = z.enum(['true', 'false']).transform((value) => value === 'true');

const listQuery = pageQuery.extend({
  view: z.enum(conversationViews).default('all').describe('mine: owned by the caller; unassigned: no owner; all: every conversation the caller may see'),
  status: z.enum(conversationStatuses).optional(),
  channel: z.enum(channelKinds).optional(),
  stage: z.enum(stages).optional(),
  product: z.string().max(200).optional().describe('A product id or name'),
  segment: z.string().max(200).optional(),
  tag: z.string().max(100).optional(),
  ownerId: z.string().max(100).optional(),
  scoreMin: z.coerce.number().int().optional(),
  scoreMax: z.coerce.number().int().optional(),
  followUpDue: flag.optional().describe('Only leads with an open follow-up due now or earlier'),
  slaBreached: flag.optional().describe('Only leads waiting for a first response past its due time'),
  q: z.string().trim().min(1).max(200).optional().describe('Names, companies, phone numbers, addresses and message text'),
});

const conversationView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  company: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  channel: z.string().describe('The channel the lead arrived on'),
  channels: z.array(z.string()).describe('Every channel of the conversation'),
  stage: z.string(),
  score: z.number(),
  tags: z.array(z.string()),
  dealValue: z.number().nullable(),
  dealCurrency: z.string().nullable(),
  owner: z.object({ id: z.string(), name: z.string() }).nullable(),
  status: z.enum(conversationStatuses),
  snoozedUntil: z.string().nullable(),
  lastActivityAt: z.string(),
  lastMessage: z
    .object({ direction: z.enum(['in', 'out']), channel: z.string(), preview: z.string().nullable(), status: z.string(), createdAt: z.string() })
    .nullable(),
  unread: z.number().describe('Messages from the contact since the caller last read the conversation (0 for API keys)'),
  sla: z
    .object({
      dueAt: z.string(),
      breached: z.boolean(),
      workingSecondsLeft: z.number().describe('Working time left until dueAt (negative: how late), in the workspace working hours'),
    })
    .nullable()
    .describe('The open first-response window, if any'),
  nextFollowUpAt: z.string().nullable(),
});

export type ConversationView = z.infer<typeof conversationView>;

const rowSelect = {
  id: true,
  name: true,
  company: true,
  channel: true,
  stage: true,
  score: true,
  tags: true,
  dealValue: true,
  dealCurrency: true,
  ownerId: true,
  conversationStatus: true,
  snoozedUntil: true,
  lastActivityAt: true,
} satisfies Prisma.LeadSelect;

type Row = Prisma.LeadGetPayload<{ select: typeof rowSelect }>;

/** The inbox's conversation list: one row per lead, newest activity first; read markers. */
export function conversationRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function present(rows: Row[], auth: Auth): Promise<ConversationView[]> {
    const now = new Date();
    const [details, workspace] = await Promise.all([
      rowDetails(prisma, rows.map((row) => row.id), auth.userId),
      prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { workingHours: true, timeZone: true } }),
    ]);
    const workingSecondsLeft = (dueAt: Date) =>
      dueAt >= now
        ? workingSecondsBetween(now, dueAt, workspace.workingHours, workspace.timeZone)
        : -workingSecondsBetween(dueAt, now, workspace.workingHours, workspace.timeZone);
    return rows.map((row) => {
      const extra = details.get(row.id);
      const last = extra?.last;
      const dueAt = extra?.slaDueAt ? new Date(extra.slaDueAt) : null;
      const followUpAt = extra?.followUpAt ? new Date(extra.followUpAt) : null;
      return {
        id: row.id,
        name: row.name ?? extra?.contactName ?? null,
        company: row.company ?? extra?.contactCompany ?? null,
        email: extra?.email ?? null,
        phone: extra?.phone ?? null,
        channel: row.channel,
        channels: [...new Set([row.channel, ...(extra?.channels ?? [])])],
        stage: row.stage,
        score: row.score,
        tags: row.tags,
        dealValue: row.dealValue === null ? null : Number(row.dealValue),
        dealCurrency: row.dealCurrency,
        owner: row.ownerId ? { id: row.ownerId, name: extra?.ownerName ?? '' } : null,
        status: row.conversationStatus as ConversationView['status'],
        snoozedUntil: row.snoozedUntil?.toISOString() ?? null,
        lastActivityAt: row.lastActivityAt.toISOString(),
        lastMessage: last
          ? { direction: last.direction as 'in' | 'out', channel: last.channel, preview: preview(last), status: last.status, createdAt: new Date(last.createdAt).toISOString() }
          : null,
        unread: extra?.unread ?? 0,
        sla: dueAt ? { dueAt: dueAt.toISOString(), breached: dueAt < now, workingSecondsLeft: workingSecondsLeft(dueAt) } : null,
        nextFollowUpAt: followUpAt?.toISOString() ?? null,
      };
    });
  }

  async function findVisible(auth: Auth, id: string) {
    const row = await prisma.lead.findFirst({ where: { AND: [{ id }, await visibleLeadsWhere(prisma, auth)] }, select: rowSelect });
    if (!row) throw new NotFoundError('conversation');
    return row;
  }

  return [
    route({
      method: 'get',
      path: '/conversations',
      summary: 'The inbox: one row per lead conversation, newest activity first',
      tag: 'inbox',
      query: listQuery,
      response: { status: 200, description: 'A page of conversations', schema: listSchema(conversationView) },
      handler: async ({ query, auth }) => {
        const { limit, cursor: rawCursor, ...filter } = query;
        const where = await conversationWhere(prisma, auth, filter, new Date());
        const rows = await prisma.lead.findMany({
          where: { AND: [where, afterActivityCursor(decodeCursor(rawCursor))] },
          orderBy: [{ lastActivityAt: 'desc' }, { id: 'desc' }],
          take: limit + 1,
          select: rowSelect,
        });
        const result = page(rows, limit, (row) => row.lastActivityAt);
        return { data: await present(result.data, auth), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'get',
      path: '/conversations/:id',
      summary: 'One conversation row, as the list shows it',
      tag: 'inbox',
      params: byId,
      response: { status: 200, description: 'The conversation', schema: conversationView },
      handler: async ({ params, auth }) => (await present([await findVisible(auth, params.id)], auth))[0],
    }),
    route({
      method: 'post',
      path: '/conversations/:id/read',
      summary: 'Mark the conversation read up to now for the signed-in user',
      tag: 'inbox',
      params: byId,
      response: { status: 204, description: 'Marked read' },
      handler: async ({ params, auth }) => {
        const row = await findVisible(auth, params.id);
        if (!auth.userId) return undefined;
        const readAt = new Date();
        await prisma.conversationRead.upsert({
          where: { userId_leadId: { userId: auth.userId, leadId: row.id } },
          create: { userId: auth.userId, leadId: row.id, workspaceId: auth.workspaceId, readAt },
          update: { readAt },
        });
        return undefined;
      },
    }),
  ];
}
