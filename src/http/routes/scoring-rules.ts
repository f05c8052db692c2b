import type { Prisma, ScoringRule } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { closedStages } from '../../leads/stages.js';
import { rescoreLead, scoringCondition } from '../../leads/scoring.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

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

  async function load(workspaceId: string, id: string) {
    const row = await prisma.scoringRule.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('scoring rule');
    return row;
  }

  async function checkReferences(workspaceId: string, when: z.infer<typeof scoringCondition> | undefined) {
    if (when?.type === 'product' && !(await prisma.product.findFirst({ where: { workspaceId, id: when.productId } }))) {
      throw new ValidationError([{ path: 'when.productId', message: 'no product with this id in the workspace' }]);
    }
  }

  return [
    route({
      method: 'post',
      path: '/scoring-rules',
      summary: 'Add a scoring rule (scores change as leads change; POST /scoring-rules/rescore applies it to every open lead now)',
      tag: 'scoring',
      body: ruleBody,
      roles: setup,
      response: { status: 201, description: 'The rule', schema: ruleView },
      handler: async ({ body, auth }) => {
        await checkReferences(auth.workspaceId, body.when);
        return present(await prisma.scoringRule.create({ data: { id: newId('scr'), workspaceId: auth.workspaceId, ...body } }));
      },
    }),
    route({
      method: 'get',
      path: '/scoring-rules',
      summary: 'Scoring rules',
      tag: 'scoring',
      response: { status: 200, description: 'Rules', schema: listSchema(ruleView) },
      handler: async ({ auth }) => ({
        data: (await prisma.scoringRule.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })).map(present),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/scoring-rules/:id',
      summary: 'One scoring rule',
      tag: 'scoring',
      params: byId,
      response: { status: 200, description: 'The rule', schema: ruleView },
      handler: async ({ params, auth }) => present(await load(auth.workspaceId, params.id)),
    }),
    route({
      method: 'patch',
      path: '/scoring-rules/:id',
      summary: 'Change a scoring rule',
      tag: 'scoring',
      params: byId,
      body: ruleBody.partial(),
      roles: setup,
      response: { status: 200, description: 'The rule', schema: ruleView },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await checkReferences(auth.workspaceId, body.when);
        return present(await prisma.scoringRule.update({ where: { id: row.id }, data: body as Prisma.ScoringRuleUpdateInput }));
      },
    }),
    route({
      method: 'delete',
      path: '/scoring-rules/:id',
      summary: 'Remove a scoring rule',
      tag: 'scoring',
      params: byId,
      roles: setup,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await prisma.scoringRule.delete({ where: { id: row.id } });
        return undefined;
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
