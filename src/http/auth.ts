import type { RequestHandler } from 'express';
import type { Db } from '../db/client.js';
import { ProblemError } from '../errors.js';
import { hashApiKey } from '../security/tokens.js';
import type { Auth } from './route.js';

const cacheTtlMs = 30_000;

/** `Authorization: Bearer <api key>`: the key acts for its workspace. */
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
      const key = await prisma.apiKey.findUnique({ where: { hash } });
      entry = { auth: key && !key.revokedAt ? { workspaceId: key.workspaceId, actor: { type: 'api_key', id: key.id }, role: 'owner', userId: null } : null, at: Date.now() };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, entry);
    }
    if (!entry.auth) throw new ProblemError('unauthorized', 'the API key is not valid', undefined, { headers: challenge });
    res.locals.auth = entry.auth;
    next();
  };
}
