import type { AssignmentRule } from '@prisma/client';
import { z } from 'zod';
import { channelKinds } from '../../channels/contract.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

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

  async function load(workspaceId: string, id: string) {
    const row = await prisma.assignmentRule.findFirst({ where: { id, workspaceId } });
    if (!row) throw new NotFoundError('assignment rule');
    return row;
  }

  return [
    route({
      method: 'post',
      path: '/assignment-rules',
      summary: 'Add an assignment rule',
      tag: 'assignment',
      roles: ['owner', 'manager'],
      body: ruleBody,
      response: { status: 201, description: 'The rule', schema: ruleView },
      handler: async ({ body, auth }) => {
        await checkReferences(auth.workspaceId, body);
        return present(await prisma.assignmentRule.create({ data: { id: newId('rule'), workspaceId: auth.workspaceId, ...body } }));
      },
    }),
    route({
      method: 'get',
      path: '/assignment-rules',
      summary: 'Assignment rules, in the order they are tried',
      tag: 'assignment',
      response: { status: 200, description: 'Rules', schema: listSchema(ruleView) },
      handler: async ({ auth }) => ({
        data: (await prisma.assignmentRule.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] })).map(present),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/assignment-rules/:id',
      summary: 'One assignment rule',
      tag: 'assignment',
      params: byId,
      response: { status: 200, description: 'The rule', schema: ruleView },
      handler: async ({ params, auth }) => present(await load(auth.workspaceId, params.id)),
    }),
    route({
      method: 'patch',
      path: '/assignment-rules/:id',
      summary: 'Change an assignment rule',
      tag: 'assignment',
      roles: ['owner', 'manager'],
      params: byId,
      body: ruleBody.partial(),
      response: { status: 200, description: 'The rule', schema: ruleView },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await checkReferences(auth.workspaceId, body);
        return present(await prisma.assignmentRule.update({ where: { id: row.id }, data: body }));
      },
    }),
    route({
      method: 'delete',
      path: '/assignment-rules/:id',
      summary: 'Remove an assignment rule',
      tag: 'assignment',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await prisma.assignmentRule.delete({ where: { id: row.id } });
        return undefined;
      },
    }),
  ];
}
