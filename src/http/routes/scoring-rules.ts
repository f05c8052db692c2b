import type { Prisma, ScoringRule } from '@prisma/client';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { closedStages } from '../../leads/stages.js';
import { rescoreLead, scoringCondition } from '../../leads/scoring.js';
import type { AppDeps } from '../deps.js';
import { crudRoutes } from '../crud.js';
import { route, type RouteDef } from '../route.js';

const ruleBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    points: z.number().int().min(-1000).max(1000).describe('Added to the score while the condition holds; negative for decay'),
    when: scoringCondition,
    active: z.boolean().default(true),
  })
  .strict();

const ruleView = z.object({
  id: z.string(),
  name: z.string(),
  points: z.number(),
  when: z.record(z.string(), z.unknown()),
  active: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

function present(row: ScoringRule) {
  return {
    id: row.id,
    name: row.name,
    points: row.points,
    when: row.when as Record<string, unknown>,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const setup = ['owner', 'manager'] as const;

/** Scoring rules: points for what a lead is and does. */
export function scoringRuleRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function checkReferences(workspaceId: string, when: z.infer<typeof scoringCondition> | undefined) {
    if (when?.type === 'product' && !(await prisma.product.findFirst({ where: { workspaceId, id: when.productId } }))) {
      throw new ValidationError([{ path: 'when.productId', message: 'no product with this id in the workspace' }]);
    }
  }

  return [
    ...crudRoutes({
      path: '/scoring-rules',
      tag: 'scoring',
      noun: 'scoring rule',
      summaries: {
        create: 'Add a scoring rule (scores change as leads change; POST /scoring-rules/rescore applies it to every open lead now)',
        list: 'Scoring rules',
        get: 'One scoring rule',
        change: 'Change a scoring rule',
        remove: 'Remove a scoring rule',
      },
      described: { one: 'The rule', many: 'Rules' },
      writers: setup,
      body: ruleBody,
      patch: ruleBody.partial(),
      view: ruleView,
      present,
      check: (workspaceId, body) => checkReferences(workspaceId, body.when),
      rows: {
        list: (workspaceId) => prisma.scoringRule.findMany({ where: { workspaceId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
        find: (workspaceId, id) => prisma.scoringRule.findFirst({ where: { id, workspaceId } }),
        create: (workspaceId, body) => prisma.scoringRule.create({ data: { id: newId('scr'), workspaceId, ...body } }),
        update: (id, patch) => prisma.scoringRule.update({ where: { id }, data: patch as Prisma.ScoringRuleUpdateInput }),
        remove: async (id) => {
          await prisma.scoringRule.delete({ where: { id } });
        },
      },
    }),
    route({
      method: 'post',
      path: '/scoring-rules/rescore',
      summary: 'Score every open lead again with the current rules (routing rules apply to the changes)',
      tag: 'scoring',
      roles: setup,
      response: { status: 200, description: 'How many leads were scored and how many changed', schema: z.object({ rescored: z.number(), changed: z.number() }) },
      handler: async ({ auth }) => {
        let rescored = 0;
        let changed = 0;
        let after: string | undefined;
        for (;;) {
          const leads = await prisma.lead.findMany({
            where: { workspaceId: auth.workspaceId, stage: { notIn: [...closedStages] }, ...(after ? { id: { gt: after } } : {}) },
            select: { id: true },
            orderBy: { id: 'asc' },
            take: 100,
          });
          for (const { id } of leads) {
            const result = await prisma.$transaction((tx) => rescoreLead(tx, id, { actor: auth.actor }), { timeout: 30_000, maxWait: 30_000 });
            rescored++;
            if (result.from !== result.to) changed++;
          }
          if (leads.length < 100) break;
          after = leads[leads.length - 1]!.id;
        }
        return { rescored, changed };
      },
    }),
  ];
}
