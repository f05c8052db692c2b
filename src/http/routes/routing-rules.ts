import type { Prisma, RoutingRule } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { changeStage } from '../../leads/pipeline.js';
import { routingCondition, routings, setRouting } from '../../leads/routing.js';
import { leadInclude, leadView, presentLead } from '../../leads/view.js';
import { visibleLeadsWhere } from '../../leads/visibility.js';
import type { AppDeps } from '../deps.js';
import { crudRoutes } from '../crud.js';
import { byId, route, type RouteDef } from '../route.js';

const ruleBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    priority: z.number().int().min(0).max(1_000_000).describe('Lower is tried first'),
    to: z.enum(routings),
    when: routingCondition.default({}).describe('minScore fires when the score crosses it, stages when the lead enters one; neither: on new leads only'),
    active: z.boolean().default(true),
  })
  .strict();

const ruleView = z.object({
  id: z.string(),
  name: z.string(),
  priority: z.number(),
  to: z.enum(routings),
  when: routingCondition,
  active: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

function present(row: RoutingRule) {
  return {
    id: row.id,
    name: row.name,
    priority: row.priority,
    to: row.to as (typeof routings)[number],
    when: row.when as z.infer<typeof routingCondition>,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const setup = ['owner', 'manager'] as const;

/** Routing rules between marketing (nurture) and sales, and sending a lead back to nurture. */
export function routingRuleRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function checkReferences(workspaceId: string, when: z.infer<typeof routingCondition> | undefined) {
    if (!when?.productIds) return;
    const found = await prisma.product.count({ where: { workspaceId, id: { in: when.productIds } } });
    if (found !== new Set(when.productIds).size) throw new ValidationError([{ path: 'when.productIds', message: 'every entry must be a product id of the workspace' }]);
  }

  return [
    ...crudRoutes({
      path: '/routing-rules',
      tag: 'routing',
      noun: 'routing rule',
      summaries: {
        create: 'Add a routing rule',
        list: 'Routing rules, in the order they are tried',
        get: 'One routing rule',
        change: 'Change a routing rule',
        remove: 'Remove a routing rule',
      },
      described: { one: 'The rule', many: 'Rules' },
      writers: setup,
      body: ruleBody,
      patch: ruleBody.partial().extend({ when: routingCondition.optional() }),
      view: ruleView,
      present,
      check: (workspaceId, body) => checkReferences(workspaceId, body.when),
      rows: {
        list: (workspaceId) => prisma.routingRule.findMany({ where: { workspaceId }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] }),
        find: (workspaceId, id) => prisma.routingRule.findFirst({ where: { id, workspaceId } }),
        create: (workspaceId, body) => prisma.routingRule.create({ data: { id: newId('rtr'), workspaceId, ...body } }),
        update: (id, patch) => prisma.routingRule.update({ where: { id }, data: patch as Prisma.RoutingRuleUpdateInput }),
        remove: async (id) => {
          await prisma.routingRule.delete({ where: { id } });
        },
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/recycle',
      summary: 'Send a lead back from sales to nurture, saying why',
      tag: 'routing',
      params: byId,
      body: z.object({ reason: z.string().trim().min(1, 'say why the lead goes back to nurture').max(2000) }).strict(),
      response: { status: 200, description: 'The lead, in nurture', schema: leadView },
      handler: async ({ params, body, auth }) => {
        const visible = await visibleLeadsWhere(prisma, auth);
        const lead = await prisma.lead.findFirst({ where: { AND: [{ id: params.id }, visible] }, select: { id: true } });
        if (!lead) throw new NotFoundError('lead');
        await prisma.$transaction(async (tx) => {
          await setRouting(tx, lead.id, 'nurture', { actor: auth.actor, reason: body.reason });
          await changeStage(tx, { workspaceId: auth.workspaceId, leadId: lead.id, to: 'nurture', reason: body.reason, actor: auth.actor });
        });
        return presentLead(await prisma.lead.findFirstOrThrow({ where: { id: lead.id }, include: leadInclude }));
      },
    }),
  ];
}
