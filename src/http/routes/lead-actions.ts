import { Prisma } from '@prisma/client';
import { z } from 'zod';
import { ProblemError } from '../../errors.js';
import { recordActivity } from '../../leads/activities.js';
import { reassignByRules } from '../../leads/assignment.js';
import { conversationStatuses, setConversationStatus } from '../../leads/conversation.js';
import { leadView, presentLead } from '../../leads/view.js';
import { findVisibleLead, visibleLeadsSql } from '../../leads/visibility.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, pageQuery, route, type RouteDef } from '../route.js';

const conversationBody = z
  .object({
    status: z.enum(conversationStatuses),
    until: z.iso.datetime({ offset: true }).optional().describe('With "snoozed": when it comes back; without it, it waits for the contact'),
  })
  .strict()
  .refine((body) => !body.until || body.status === 'snoozed', { message: 'only a snoozed conversation has an until', path: ['until'] })
  .refine((body) => !body.until || new Date(body.until) > new Date(), { message: 'must be in the future', path: ['until'] });

const breachView = z.object({
  leadId: z.string(),
  name: z.string().nullable(),
  ownerId: z.string().nullable(),
  channel: z.string(),
  openedAt: z.string(),
  dueAt: z.string(),
  respondedAt: z.string().nullable(),
  overdueSeconds: z.number().describe('How far past the target: until the answer, or until now when unanswered'),
});

/** What reps and managers do to a lead besides editing it: claim, (re)assign, file the conversation; SLA breaches. */
export function leadActionRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;


  return [
    route({
      method: 'post',
      path: '/leads/:id/claim',
      summary: 'A rep takes an unassigned lead, when the workspace lets reps claim',
      tag: 'leads',
      credential: 'user',
      params: byId,
      response: { status: 200, description: 'The lead, now owned by the caller', schema: leadView },
      handler: async ({ params, auth }) => {
        const lead = await findVisibleLead(prisma, auth, params.id);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { repsCanClaim: true } });
        if (auth.role === 'rep' && !workspace.repsCanClaim) throw new ProblemError('forbidden', 'this workspace does not let reps claim leads');
        const claimed = await prisma.$transaction(async (tx) => {
          const taken = await tx.lead.updateMany({
            where: { id: lead.id, ownerId: null },
            data: { ownerId: auth.userId!, assignmentRuleId: null, assignmentReason: 'claimed', lastActivityAt: new Date() },
          });
          if (taken.count === 0) return false;
          const base = { workspaceId: auth.workspaceId, leadId: lead.id, actor: auth.actor };
          await recordActivity(tx, { ...base, kind: 'lead.claimed', data: { ownerId: auth.userId } });
          await recordActivity(tx, { ...base, kind: 'lead.assigned', data: { before: null, after: auth.userId, ruleId: null, reason: 'claimed' } });
          return true;
        });
        if (!claimed) throw new ProblemError('conflict', 'the lead already has an owner');
        return presentLead(await findVisibleLead(prisma, auth, lead.id));
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/assign',
      summary: 'Run the assignment rules again for a lead (for instance after its product or segment changed)',
      tag: 'leads',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 200, description: 'The lead with its new owner and the rule that chose it', schema: leadView },
      handler: async ({ params, auth }) => {
        const lead = await findVisibleLead(prisma, auth, params.id);
        await prisma.$transaction((tx) => reassignByRules(tx, lead.id, auth.actor));
        return presentLead(await findVisibleLead(prisma, auth, lead.id));
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/conversation',
      summary: 'File the conversation: open, pending, snoozed (until a time or until the contact writes) or resolved',
      tag: 'leads',
      params: byId,
      body: conversationBody,
      response: { status: 200, description: 'The lead', schema: leadView },
      handler: async ({ params, body, auth }) => {
        const lead = await findVisibleLead(prisma, auth, params.id);
        await prisma.$transaction((tx) =>
          setConversationStatus(tx, {
            workspaceId: auth.workspaceId,
            leadId: lead.id,
            status: body.status,
            until: body.until ? new Date(body.until) : null,
            actor: auth.actor,
          }),
        );
        return presentLead(await findVisibleLead(prisma, auth, lead.id));
      },
    }),
    route({
      method: 'get',
      path: '/sla/breaches',
      summary: 'Response windows that missed the first-response target, latest first: answered late, or still waiting past due',
      tag: 'sla',
      query: pageQuery.extend({ ownerId: z.string().max(100).optional(), open: z.enum(['true', 'false']).optional().describe('true: only the unanswered') }),
      response: { status: 200, description: 'Breaches', schema: listSchema(breachView) },
      handler: async ({ query, auth }) => {
        const now = new Date();
        const rows = await prisma.$queryRaw<
          { leadId: string; name: string | null; ownerId: string | null; channel: string; openedAt: Date; dueAt: Date; respondedAt: Date | null }[]
        >`
          SELECT rw."leadId", l.name, l."ownerId", rw.channel, rw."openedAt", rw."dueAt", rw."respondedAt"
          FROM response_windows rw
          JOIN leads l ON l.id = rw."leadId"
          WHERE rw."workspaceId" = ${auth.workspaceId}
            AND ${await visibleLeadsSql(prisma, auth)}
            AND rw."dueAt" < ${now}
            AND (rw."respondedAt" IS NULL ${query.open === 'true' ? Prisma.empty : Prisma.sql`OR rw."respondedAt" > rw."dueAt"`})
            ${query.ownerId ? Prisma.sql`AND l."ownerId" = ${query.ownerId}` : Prisma.empty}
          ORDER BY rw."dueAt" DESC, rw.id DESC
          LIMIT ${query.limit}`;
        return {
          data: rows.map((row) => ({
            leadId: row.leadId,
            name: row.name,
            ownerId: row.ownerId,
            channel: row.channel,
            openedAt: row.openedAt.toISOString(),
            dueAt: row.dueAt.toISOString(),
            respondedAt: row.respondedAt?.toISOString() ?? null,
            overdueSeconds: Math.round(((row.respondedAt ?? now).getTime() - row.dueAt.getTime()) / 1000),
          })),
          nextCursor: null,
        };
      },
    }),
  ];
}
