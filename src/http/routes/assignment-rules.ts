import type { AssignmentRule } from '@prisma/client';
import { z } from 'zod';
import { channelKinds } from '../../channels/contract.js';
import { ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { AppDeps } from '../deps.js';
import { crudRoutes } from '../crud.js';
import type { RouteDef } from '../route.js';

const ruleBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    priority: z.number().int().min(0).max(1_000_000).describe('Lower runs first'),
    match: z
      .object({
        productId: z.string().max(100).optional(),
        segmentId: z.string().max(100).optional(),
        sourceId: z.string().max(100).optional(),
        channel: z.enum(channelKinds).optional(),
      })
      .strict()
      .default({}),
    strategy: z.enum(['round_robin', 'least_open', 'fixed']),
    userIds: z.array(z.string().max(100)).min(1).max(200),
    active: z.boolean().default(true),
  })
  .strict();

const ruleView = z.object({
  id: z.string(),
  name: z.string(),
  priority: z.number(),
  match: z.record(z.string(), z.string()),
  strategy: z.enum(['round_robin', 'least_open', 'fixed']),
  userIds: z.array(z.string()),
  active: z.boolean(),
  createdAt: z.string(),
});

function present(row: AssignmentRule) {
  return {
    id: row.id,
    name: row.name,
    priority: row.priority,
    match: row.match as Record<string, string>,
    strategy: row.strategy as z.infer<typeof ruleView>['strategy'],
    userIds: row.userIds,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Assignment rules: which reps get which new leads, in priority order. */
export function assignmentRuleRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function checkReferences(workspaceId: string, body: Partial<z.infer<typeof ruleBody>>) {
    const errors: { path: string; message: string }[] = [];
    if (body.userIds) {
      const found = await prisma.user.count({ where: { workspaceId, id: { in: body.userIds } } });
      if (found !== new Set(body.userIds).size) errors.push({ path: 'userIds', message: 'every entry must be a user id of the workspace' });
    }
    if (body.match?.productId && !(await prisma.product.findFirst({ where: { workspaceId, id: body.match.productId } }))) {
      errors.push({ path: 'match.productId', message: 'no product with this id in the workspace' });
    }
    if (body.match?.segmentId && !(await prisma.segment.findFirst({ where: { workspaceId, id: body.match.segmentId } }))) {
      errors.push({ path: 'match.segmentId', message: 'no segment with this id in the workspace' });
    }
    if (body.match?.sourceId && !(await prisma.source.findFirst({ where: { workspaceId, id: body.match.sourceId, deletedAt: null } }))) {
      errors.push({ path: 'match.sourceId', message: 'no source with this id in the workspace' });
    }
    if (errors.length > 0) throw new ValidationError(errors);
  }

  return crudRoutes({
    path: '/assignment-rules',
    tag: 'assignment',
    noun: 'assignment rule',
    summaries: {
      create: 'Add an assignment rule',
      list: 'Assignment rules, in the order they are tried',
      get: 'One assignment rule',
      change: 'Change an assignment rule',
      remove: 'Remove an assignment rule',
    },
    described: { one: 'The rule', many: 'Rules' },
    writers: ['owner', 'manager'],
    body: ruleBody,
    patch: ruleBody.partial(),
    view: ruleView,
    present,
    check: checkReferences,
    rows: {
      list: (workspaceId) => prisma.assignmentRule.findMany({ where: { workspaceId }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] }),
      find: (workspaceId, id) => prisma.assignmentRule.findFirst({ where: { id, workspaceId } }),
      create: (workspaceId, body) => prisma.assignmentRule.create({ data: { id: newId('rule'), workspaceId, ...body } }),
      update: (id, patch) => prisma.assignmentRule.update({ where: { id }, data: patch }),
      remove: async (id) => {
        await prisma.assignmentRule.delete({ where: { id } });
      },
    },
  });
}
