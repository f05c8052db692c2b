import type { ApiKey } from '@prisma/client';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { hashApiKey, randomToken } from '../../security/tokens.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

const keyView = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().describe('The first characters of the key, to recognise it'),
  userId: z.string().nullable().describe('A personal key acts as this user, with their role; null: acts as the workspace owner'),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  createdAt: z.string(),
});
const present = (row: ApiKey) => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  userId: row.userId,
  lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  revokedAt: row.revokedAt?.toISOString() ?? null,
  createdAt: row.createdAt.toISOString(),
});

/** API keys: for the workspace (integrations) or personal (a user's scripts, with the user's role). */
export function apiKeyRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;
  return [
    route({
      method: 'post',
      path: '/api-keys',
      summary: 'Create an API key; the key itself is in this answer only',
      tag: 'api keys',
      roles: ['owner'],
      body: z.object({ name: z.string().trim().min(1).max(200), userId: z.string().max(100).nullable().optional() }).strict(),
      response: { status: 201, description: 'The key, with its secret once', schema: keyView.extend({ key: z.string() }) },
      handler: async ({ body, auth }) => {
        if (body.userId && !(await prisma.user.findFirst({ where: { id: body.userId, workspaceId: auth.workspaceId } }))) {
          throw new ValidationError([{ path: 'userId', message: 'no user with this id in the workspace' }]);
        }
        const key = randomToken('lg_');
        const row = await prisma.apiKey.create({
          data: { id: newId('key'), workspaceId: auth.workspaceId, userId: body.userId ?? null, name: body.name, prefix: key.slice(0, 7), hash: hashApiKey(key) },
        });
        return { ...present(row), key };
      },
    }),
    route({
      method: 'get',
      path: '/api-keys',
      summary: 'List API keys (never their secrets)',
      tag: 'api keys',
      roles: ['owner'],
      response: { status: 200, description: 'Keys', schema: listSchema(keyView) },
      handler: async ({ auth }) => ({
        data: (await prisma.apiKey.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { createdAt: 'asc' } })).map(present),
        nextCursor: null,
      }),
    }),
    route({
      method: 'delete',
      path: '/api-keys/:id',
      summary: 'Revoke an API key',
      tag: 'api keys',
      roles: ['owner'],
      params: byId,
      response: { status: 204, description: 'Revoked' },
      handler: async ({ params, auth }) => {
        const row = await prisma.apiKey.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('API key');
        await prisma.apiKey.update({ where: { id: row.id }, data: { revokedAt: row.revokedAt ?? new Date() } });
        return undefined;
      },
    }),
  ];
}
