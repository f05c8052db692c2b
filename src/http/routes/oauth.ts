import type { Request, Response } from 'express';
import { z } from 'zod';
import { OAuthCallbackError, oauthCallbackPath, oauthProviders } from '../../channels/oauth.js';
import { ChannelError, NotFoundError, ProblemError } from '../../errors.js';
import type { AppDeps } from '../deps.js';
import { byId, route, type RouteDef } from '../route.js';
import { readCookie, secureSessionCookie, sessionCookie, type Sessions } from '../session.js';

/**
 * Connecting a source to a provider with OAuth 2.0 (a Gmail or Microsoft 365 mailbox): the
 * redirect URL to register with the provider, and the start of an authorization.
 */
export function oauthRoutes(deps: AppDeps): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/oauth',
      summary: 'The redirect URL to register with Google or Microsoft for mailboxes that sign in with OAuth',
      tag: 'sources',
      roles: ['owner', 'manager'],
      response: {
        status: 200,
        description: 'PUBLIC_URL + /oauth/callback, and the providers a mailbox can sign in with',
        schema: z.object({ redirectUrl: z.string(), providers: z.array(z.enum(oauthProviders)) }),
      },
      handler: async () => ({ redirectUrl: deps.oauth.redirectUrl, providers: [...oauthProviders] }),
    }),
    route({
      method: 'post',
      path: '/sources/:id/oauth/authorize',
      summary: 'Start connecting a mailbox that signs in with OAuth: the provider\'s consent page to open in the browser',
      description:
        'Only from a signed-in session (the inbox page): the provider sends the browser back to PUBLIC_URL/oauth/callback, which is accepted once, ' +
        'in the same session, within 15 minutes (state and PKCE). The refresh token is stored encrypted with the source and never returned.',
      tag: 'sources',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 200, description: 'Where to send the browser', schema: z.object({ authorizationUrl: z.string(), redirectUrl: z.string() }) },
      handler: async ({ params, auth, res }) => {
        const session = res.locals.session as { id: string; userId: string } | undefined;
        if (!session) {
          throw new ProblemError('forbidden', 'connecting a mailbox takes a signed-in user: use Connect in the inbox\'s Setup → Sources, not an API key');
        }
        const row = await deps.db.prisma.source.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId, deletedAt: null } });
        if (!row) throw new NotFoundError('source');
        const url = await deps.oauth.begin(row.id, session);
        return { authorizationUrl: url.href, redirectUrl: deps.oauth.redirectUrl };
      },
    }),
  ];
}

/**
 * Where the provider sends the browser back. The session cookie must be the one that started
 * the authorization; a refusal at the provider (or a mailbox that then refuses the token) goes
 * back to the source's page, whose status says why.
 */
export function oauthCallback(deps: AppDeps, sessions: Sessions) {
  return async (req: Request, res: Response): Promise<void> => {
    const token = readCookie(req, secureSessionCookie) ?? readCookie(req, sessionCookie);
    const found = token ? await sessions.find(token) : null;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(req.query)) if (typeof value === 'string') query.set(key, value);
    let sourceId: string;
    try {
      const granted = await deps.oauth.exchange(query, found ? { id: found.session.id } : null);
      sourceId = granted.sourceId;
      await tryMailbox(deps, sourceId, granted.accessToken);
      await deps.oauth.store(sourceId, granted);
      deps.sources.forget(sourceId);
      const row = await deps.db.prisma.source.findUniqueOrThrow({ where: { id: sourceId } });
      deps.registry.forSourceKind(row.kind)?.sourceChanged?.(sourceId);
    } catch (error) {
      if (!(error instanceof OAuthCallbackError)) throw error;
      deps.logger.warn({ sourceId: error.sourceId, err: error }, 'OAuth authorization failed');
      await deps.oauth.failed(error.sourceId, error.message);
      sourceId = error.sourceId;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, `${deps.config.publicUrl}/#/setup/sources/${encodeURIComponent(sourceId)}`);
  };
}

/** The new token must sign in to the mailbox too (the wrong account may have consented). */
async function tryMailbox(deps: AppDeps, sourceId: string, accessToken: string): Promise<void> {
  const row = await deps.db.prisma.source.findUniqueOrThrow({ where: { id: sourceId } });
  const spec = deps.registry.forSourceKind(row.kind)?.source;
  if (!spec?.verify) return;
  const record = deps.sources.toRecord(row);
  try {
    await spec.verify({ settings: record.settings, secrets: record.secrets }, { accessToken });
  } catch (error) {
    if (!(error instanceof ChannelError)) throw error;
    throw new OAuthCallbackError(sourceId, `authorized, but the mailbox refused the sign-in: ${error.message}`, { cause: error });
  }
}

export const oauthCallbackOpenApi = {
  [oauthCallbackPath]: {
    get: {
      summary: 'Where Google or Microsoft sends the browser back after consent (register PUBLIC_URL/oauth/callback with the provider)',
      tags: ['sources'],
      description:
        'Needs the session cookie of the user who started the authorization; state is single-use and expires after 15 minutes. ' +
        'Success and refusals alike answer 303 to the source in Setup, whose status says what happened.',
      parameters: [
        { name: 'state', in: 'query', required: true, schema: { type: 'string' } },
        { name: 'code', in: 'query', required: false, schema: { type: 'string' } },
        { name: 'error', in: 'query', required: false, schema: { type: 'string' } },
      ],
      responses: {
        '303': { description: 'Back to the source in Setup' },
        '403': { description: 'Another session started this authorization', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
        '422': { description: 'Unknown, used or expired state', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    },
  },
};
