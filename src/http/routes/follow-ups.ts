import type { FollowUp } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ProblemError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { recordActivity } from '../../leads/activities.js';
import { repScope, visibleLeadsWhere } from '../../leads/visibility.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

const followUpView = z.object({
  id: z.string(),
  leadId: z.string(),
  ownerId: z.string().nullable(),
  dueAt: z.string(),
  note: z.string(),
  status: z.enum(['open', 'done']),
  outcome: z.string().nullable(),
  createdAt: z.string(),
});

function present(row: FollowUp) {
  return {
    id: row.id,
    leadId: row.leadId,
    ownerId: row.ownerId,
    dueAt: row.dueAt.toISOString(),
    note: row.note,
    status: row.status as 'open' | 'done',
    outcome: row.outcome,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Midnight to midnight of the current day in a time zone, as UTC instants. */
export function todayIn(timeZone: string, now = new Date()): { start: Date; end: Date } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(now)
      .map((part) => [part.type, part.value]),
  );
  const localAsUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  const offsetMs = localAsUtc - Math.floor(now.getTime() / 1000) * 1000;
  const start = new Date(Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) - offsetMs);
  return { start, end: new Date(start.getTime() + 24 * 3600_000) };
}

/** Follow-ups: what a rep must do next for a lead, and when. */
export function followUpRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;
  return [
    route({
      method: 'post',
      path: '/leads/:id/follow-ups',
      summary: 'Schedule a follow-up; the owner defaults to the lead\'s owner',
      tag: 'follow-ups',
      params: byId,
      body: z.object({ dueAt: z.iso.datetime({ offset: true }), note: z.string().trim().min(1).max(5_000), ownerId: z.string().max(100).optional() }).strict(),
      response: { status: 201, description: 'The follow-up', schema: followUpView },
      handler: async ({ params, body, auth }) => {
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: params.id }, await visibleLeadsWhere(prisma, auth)] } });
        if (!lead) throw new NotFoundError('lead');
        if (body.ownerId && !(await prisma.user.findFirst({ where: { id: body.ownerId, workspaceId: auth.workspaceId } }))) {
          throw new ValidationError([{ path: 'ownerId', message: 'no user with this id in the workspace' }]);
        }
        const row = await prisma.$transaction(async (tx) => {
          const created = await tx.followUp.create({
            data: { id: newId('fu'), workspaceId: auth.workspaceId, leadId: lead.id, ownerId: body.ownerId ?? lead.ownerId, dueAt: new Date(body.dueAt), note: body.note },
          });
          await recordActivity(tx, { workspaceId: auth.workspaceId, leadId: lead.id, kind: 'follow_up.created', actor: auth.actor, data: { followUpId: created.id, ownerId: created.ownerId, note: created.note, dueAt: body.dueAt } });
          return created;
        });
        return present(row);
      },
    }),
    route({
      method: 'get',
      path: '/follow-ups',
      summary: 'Open follow-ups by due time: all, overdue, or due today in the workspace time zone',
      tag: 'follow-ups',
      query: z.object({ ownerId: z.string().max(100).optional().describe('A user id, or "me"; without it, the whole team'), leadId: z.string().max(100).optional(), due: z.enum(['overdue', 'today']).optional(), status: z.enum(['open', 'done']).default('open') }),
      response: { status: 200, description: 'Follow-ups, soonest first', schema: listSchema(followUpView) },
      handler: async ({ query, auth }) => {
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId } });
        const today = todayIn(workspace.timeZone);
        const scope = await repScope(prisma, auth);
        // A rep who sees only their own leads sees only their own follow-ups.
        const ownerId = scope ? scope.userId : query.ownerId === 'me' ? (auth.userId ?? '-') : query.ownerId;
        const dueAt = query.due === 'overdue' ? { lt: new Date() } : query.due === 'today' ? { gte: today.start, lt: today.end } : undefined;
        const rows = await prisma.followUp.findMany({
          where: {
            workspaceId: auth.workspaceId,
            status: query.status,
            ...(ownerId ? { ownerId } : {}),
            ...(query.leadId ? { leadId: query.leadId } : {}),
            ...(dueAt ? { dueAt } : {}),
            // A follow-up tells of its lead: listed only with a lead the caller may see.
            ...(scope ? { lead: await visibleLeadsWhere(prisma, auth) } : {}),
          },
          orderBy: [{ dueAt: 'asc' }, { id: 'asc' }],
          take: 500,
        });
        return { data: rows.map(present), nextCursor: null };
      },
    }),
    route({
      method: 'post',
      path: '/follow-ups/:id/complete',
      summary: 'Mark a follow-up done, with what came of it',
      tag: 'follow-ups',
      params: byId,
      body: z.object({ outcome: z.string().trim().min(1).max(5_000) }).strict(),
      response: { status: 200, description: 'The follow-up', schema: followUpView },
      handler: async ({ params, body, auth }) => {
        const row = await prisma.followUp.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId, lead: await visibleLeadsWhere(prisma, auth) } });
        if (!row) throw new NotFoundError('follow-up');
        if (row.status === 'done') throw new ProblemError('conflict', 'this follow-up is already done');
        const done = await prisma.$transaction(async (tx) => {
          const updated = await tx.followUp.update({ where: { id: row.id }, data: { status: 'done', outcome: body.outcome, completedAt: new Date() } });
          await recordActivity(tx, { workspaceId: auth.workspaceId, leadId: row.leadId, kind: 'follow_up.completed', actor: auth.actor, data: { followUpId: row.id, outcome: body.outcome } });
          return updated;
        });
        return present(done);
      },
    }),
  ];
}
