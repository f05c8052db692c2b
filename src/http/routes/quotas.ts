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
    ownerId: z.string().max(100).nullable().optional().describe('A rep\'s own quota; none: the team\'s (the whole workspace)'),
    wonTarget: z.number().int().min(0).max(10_000_000).nullable().optional().describe('Deals won (leads that first reach Customer) agreed for the period'),
    revenueTarget: z
      .number()
      .min(0)
      .max(999_999_999_999)
      .multipleOf(0.01, 'at most two decimals')
      .nullable()
      .optional()
      .describe('Revenue agreed for the period: the deal values (dealValue) of the leads won in it'),
  })
  .strict();
const quotaView = z.object({
  id: z.string(),
  period: z.string(),
  productId: z.string().nullable(),
  target: z.number(),
  ownerId: z.string().nullable(),
  wonTarget: z.number().nullable(),
  revenueTarget: z.number().nullable(),
  createdAt: z.string(),
});
const present = (row: Quota) => ({
  id: row.id,
  period: row.period,
  productId: row.productId,
  target: row.target,
  ownerId: row.ownerId,
  wonTarget: row.wonTarget,
  revenueTarget: row.revenueTarget === null ? null : Number(row.revenueTarget),
  createdAt: row.createdAt.toISOString(),
});

const progressView = z.object({
  period: z.string(),
  from: z.string().describe('Start of the period in the workspace time zone, as UTC'),
  to: z.string().describe('End of the period (exclusive)'),
  ownerId: z.string().nullable().describe('The rep whose own quota it is; null: the team\'s'),
  target: z.number(),
  actual: z.number().describe('Leads that first reached qualified or a later stage during the period (one lost afterwards still counts)'),
  ratio: z.number(),
  wonTarget: z.number().nullable(),
  won: z.number().describe('Leads that first reached Customer during the period (one lost afterwards still counts)'),
  wonRatio: z.number().nullable().describe('won / wonTarget; null without a target'),
  revenueTarget: z.number().nullable(),
  revenue: z.number().describe('The deal values of the leads won during the period'),
  revenueRatio: z.number().nullable().describe('revenue / revenueTarget; null without a target'),
  followUpRate: z.number().nullable().describe('The name it had first for withinSlaRate (it is not the insights\' follow-up rate)'),
  withinSlaRate: z.number().nullable().describe('Of the leads created in the period with an owner, the share first answered within the SLA'),
  byRep: z.array(
    z.object({
      userId: z.string(),
      name: z.string(),
      qualified: z.number().describe('Credited to the rep who owned the lead when it got there'),
      won: z.number(),
      revenue: z.number(),
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
  async function checkOwner(workspaceId: string, ownerId: string | null | undefined) {
    if (ownerId && !(await prisma.user.findFirst({ where: { id: ownerId, workspaceId } }))) {
      throw new ValidationError([{ path: 'ownerId', message: 'no user with this id in the workspace' }]);
    }
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
        create: 'Set a quota for a month or quarter (qualified leads, and deals won and revenue), for the team or one rep, overall or for one product',
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
      check: async (workspaceId, body) => {
        await checkProduct(workspaceId, body.productId);
        await checkOwner(workspaceId, body.ownerId);
      },
      rows: {
        list: (workspaceId, query) =>
          prisma.quota.findMany({ where: { workspaceId, ...(query.period ? { period: query.period } : {}) }, orderBy: [{ period: 'desc' }, { createdAt: 'asc' }] }),
        find: (workspaceId, id) => prisma.quota.findFirst({ where: { id, workspaceId } }),
        create: (workspaceId, body) =>
          prisma.quota.create({
            data: {
              id: newId('quota'),
              workspaceId,
              period: body.period,
              productId: body.productId ?? null,
              target: body.target,
              ownerId: body.ownerId ?? null,
              wonTarget: body.wonTarget ?? null,
              revenueTarget: body.revenueTarget ?? null,
            },
          }),
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
