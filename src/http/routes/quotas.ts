import type { Quota } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { periodPattern, quotaProgress } from '../../leads/quotas.js';
import { visibleLeadsSql } from '../../leads/visibility.js';
import type { AppDeps } from '../deps.js';
import { crudRoutes } from '../crud.js';
import { byId, route, type RouteDef } from '../route.js';

const quotaBody = z
  .object({
    period: z.string().regex(periodPattern, 'must be a month (2026-11) or a quarter (2026-Q4)'),
    productId: z.string().max(100).nullable().optional(),
    target: z.number().int().min(0).max(10_000_000).describe('Qualified leads agreed for the period'),
  })
  .strict();
const quotaView = z.object({ id: z.string(), period: z.string(), productId: z.string().nullable(), target: z.number(), createdAt: z.string() });
const present = (row: Quota) => ({ id: row.id, period: row.period, productId: row.productId, target: row.target, createdAt: row.createdAt.toISOString() });

const progressView = z.object({
  period: z.string(),
  from: z.string().describe('Start of the period in the workspace time zone, as UTC'),
  to: z.string().describe('End of the period (exclusive)'),
  target: z.number(),
  actual: z.number().describe('Leads that first reached qualified or a later stage during the period'),
  ratio: z.number(),
  followUpRate: z.number().nullable().describe('The name it had first for withinSlaRate (it is not the insights\' follow-up rate)'),
  withinSlaRate: z.number().nullable().describe('Of the leads created in the period with an owner, the share first answered within the SLA'),
  byRep: z.array(
    z.object({
      userId: z.string(),
      name: z.string(),
      qualified: z.number(),
      assigned: z.number(),
      answeredWithinSla: z.number(),
      followUpRate: z.number().nullable().describe('The name it had first for withinSlaRate'),
      withinSlaRate: z.number().nullable().describe('answeredWithinSla / assigned'),
    }),
  ),
});

/** Quotas: qualified leads agreed between marketing and sales per month or quarter, and progress. */
export function quotaRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function load(workspaceId: string, id: string) {
    const row = await prisma.quota.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('quota');
    return row;
  }
  async function checkProduct(workspaceId: string, productId: string | null | undefined) {
    if (productId && !(await prisma.product.findFirst({ where: { id: productId, workspaceId } }))) {
      throw new ValidationError([{ path: 'productId', message: 'no product with this id in the workspace' }]);
    }
  }

  return [
    ...crudRoutes({
      path: '/quotas',
      tag: 'quotas',
      noun: 'quota',
      summaries: {
        create: 'Set a quota of qualified leads for a month or quarter, overall or for one product',
        list: 'List quotas, latest period first',
        get: 'Get a quota',
        change: 'Change a quota',
        remove: 'Remove a quota',
      },
      described: { one: 'The quota', many: 'Quotas' },
      writers: ['owner', 'manager'],
      body: quotaBody,
      patch: quotaBody.partial(),
      listQuery: z.object({ period: z.string().regex(periodPattern).optional() }),
      view: quotaView,
      present,
      check: (workspaceId, body) => checkProduct(workspaceId, body.productId),
      rows: {
        list: (workspaceId, query) =>
          prisma.quota.findMany({ where: { workspaceId, ...(query.period ? { period: query.period } : {}) }, orderBy: [{ period: 'desc' }, { createdAt: 'asc' }] }),
        find: (workspaceId, id) => prisma.quota.findFirst({ where: { id, workspaceId } }),
        create: (workspaceId, body) => prisma.quota.create({ data: { id: newId('quota'), workspaceId, period: body.period, productId: body.productId ?? null, target: body.target } }),
        update: (id, patch) => prisma.quota.update({ where: { id }, data: patch }),
        remove: async (id) => {
          await prisma.quota.delete({ where: { id } });
        },
      },
    }),
    route({
      method: 'get',
      path: '/quotas/:id/progress',
      summary: 'Actual against target for the period, in the workspace time zone, with the follow-up rate per rep',
      tag: 'quotas',
      params: byId,
      response: { status: 200, description: 'Progress', schema: progressView },
      handler: async ({ params, auth }) => {
        const quota = await load(auth.workspaceId, params.id);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { timeZone: true } });
        // A rep who sees only their own leads gets figures made of them, as every insight does.
        return quotaProgress(prisma, quota, workspace.timeZone, await visibleLeadsSql(prisma, auth));
      },
    }),
  ];
}
