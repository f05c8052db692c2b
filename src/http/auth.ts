import type { ApiKey, User } from '@prisma/client';
import type { RequestHandler, Response } from 'express';
import type { Db } from '../db/client.js';
import { ProblemError } from '../errors.js';
import { hashApiKey } from '../security/tokens.js';
import type { Auth, Role } from './route.js';

/** A workspace key acts as the owner; a personal key as its user, while the user is active. */
function keyAuth(key: ApiKey & { user: User | null }): Auth | null {
  if (!key.user) return { workspaceId: key.workspaceId, actor: { type: 'api_key', id: key.id }, role: 'owner', userId: null };
  if (!key.user.active) return null;
  return { workspaceId: key.workspaceId, actor: { type: 'user', id: key.user.id }, role: key.user.role as Role, userId: key.user.id };
}

/**
 * What a request was authenticated with, for a response that outlives its request (the live
 * stream checks it again while it runs). Every other request is checked when it arrives.
 */
export type Credential = { kind: 'session'; id: string } | { kind: 'api_key'; id: string };

export function credentialOf(res: Response): Credential {
  const credential = res.locals.credential as Credential | undefined;
  if (!credential) throw new Error('credentialOf: the request was not authenticated');
  return credential;
}

/**
 * `Authorization: Bearer <api key>`: the key acts for its workspace, or for its user. Looked up on
 * every request (one indexed read), so a revoked key or a deactivated user stops at once, in
 * every process, with no cache to expire.
 */
export function apiKeyAuth(prisma: Db): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="leadgate"' };
    if (!match) throw new ProblemError('unauthorized', 'send an API key as "Authorization: Bearer <key>"', undefined, { headers: challenge });
    const hash = hashApiKey(match[1]!);
    const key = await prisma.apiKey.findUnique({ where: { hash }, include: { user: true } });
    const auth = key && !key.revokedAt ? keyAuth(key) : null;
    if (!key || !auth) throw new ProblemError('unauthorized', 'the API key is not valid', undefined, { headers: challenge });
    res.locals.auth = auth;
    res.locals.credential = { kind: 'api_key', id: key.id } satisfies Credential;
    next();
  };
}
