import type { ApiKey, User } from '@prisma/client';
import type { RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { ProblemError } from '../errors.js';
import { hashApiKey } from '../security/tokens.js';
import type { Auth, Role } from './route.js';

const cacheTtlMs = 5_000;

/** A workspace key acts as the owner; a personal key as its user, while the user is active. */
function keyAuth(key: ApiKey & { user: User | null }): Auth | null {
  if (!key.user) return { workspaceId: key.workspaceId, actor: { type: 'api_key', id: key.id }, role: 'owner', userId: null };
  if (!key.user.active) return null;
  return { workspaceId: key.workspaceId, actor: { type: 'user', id: key.user.id }, role: key.user.role as Role, userId: key.user.id };
}

/** `Authorization: Bearer <api key>`: the key acts for its workspace, or for its user. */
export function apiKeyAuth(prisma: Db): RequestHandler {
  const cache = new Map<string, { auth: Auth | null; at: number }>();
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="leadgate"' };
    if (!match) throw new ProblemError('unauthorized', 'send an API key as "Authorization: Bearer <key>"', undefined, { headers: challenge });
    const hash = hashApiKey(match[1]!);
    let entry = cache.get(hash);
    if (!entry || Date.now() - entry.at > cacheTtlMs) {
      const key = await prisma.apiKey.findUnique({ where: { hash }, include: { user: true } });
      entry = { auth: key && !key.revokedAt ? keyAuth(key) : null, at: Date.now() };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, entry);
    }
    if (!entry.auth) throw new ProblemError('unauthorized', 'the API key is not valid', undefined, { headers: challenge });
    res.locals.auth = entry.auth;
    next();
  };
}
