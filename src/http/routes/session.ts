import type { Session, Workspace } from '@prisma/client';
import { z } from 'zod';
import type { AppDeps } from '../deps.js';
import { route, type RouteDef } from '../route.js';
import { minPasswordLength } from '../../security/tokens.js';
import { presentUser, type Sessions } from '../session.js';

const userView = z.object({ id: z.string(), workspaceId: z.string(), name: z.string(), email: z.string(), role: z.enum(['owner', 'manager', 'rep']), locale: z.string().nullable() });

const sessionView = z.object({
  user: userView,
  workspace: z.object({
    id: z.string(),
    name: z.string(),
    locale: z.string(),
    timeZone: z.string(),
    visibility: z.string(),
    repsCanClaim: z.boolean(),
    logoUrl: z.string().nullable(),
    profileConfirmed: z.boolean().describe('Whether an owner confirmed the business profile; until then the inbox asks owners for it'),
  }),
  csrfToken: z.string().describe('Send it back in X-CSRF-Token on every state change made with the session cookie'),
});

export const inboxLocales = ['en', 'pt-BR'] as const;

/** Sign-in is the one API call that needs no credentials. */
export function signInRoutes(deps: AppDeps, sessions: Sessions): RouteDef[] {
  const prisma = deps.db.prisma;
  return [
    route({
      method: 'post',
      path: '/session',
      summary: 'Sign in with email and password: sets the httpOnly session cookie',
      tag: 'session',
      credential: 'none',
      body: z.object({ email: z.string().trim().min(3).max(320), password: z.string().min(1).max(1000) }).strict(),
      response: { status: 201, description: 'Signed in; the session cookie is set', schema: sessionView },
      handler: async ({ body, req, res }) => {
        const { token, session, user } = await sessions.signIn({ email: body.email, password: body.password, ip: req.ip ?? 'unknown', userAgent: req.get('user-agent') });
        sessions.setCookie(res, token);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: user.workspaceId } });
        return { user, workspace: presentWorkspace(workspace), csrfToken: session.csrfToken };
      },
    }),
  ];
}

/** The signed-in user's own session: who they are, signing out, their language. */
export function sessionRoutes(deps: AppDeps, sessions: Sessions): RouteDef[] {
  const prisma = deps.db.prisma;
  // The guard let only the browser's session through (credential: 'session').
  const signedIn = (res: { locals: Record<string, unknown> }): Session => res.locals.session as Session;
  return [
    route({
      method: 'get',
      path: '/session',
      summary: 'The signed-in user, their workspace and the CSRF token',
      credential: 'session',
      tag: 'session',
      response: { status: 200, description: 'The session', schema: sessionView },
      handler: async ({ res }) => {
        const session = signedIn(res);
        const [user, workspace] = await Promise.all([
          prisma.user.findUniqueOrThrow({ where: { id: session.userId } }),
          prisma.workspace.findUniqueOrThrow({ where: { id: session.workspaceId } }),
        ]);
        return { user: presentUser(user), workspace: presentWorkspace(workspace), csrfToken: session.csrfToken };
      },
    }),
    route({
      method: 'delete',
      path: '/session',
      summary: 'Sign out of this browser',
      credential: 'session',
      tag: 'session',
      response: { status: 204, description: 'Signed out' },
      handler: async ({ res }) => {
        await sessions.signOut(signedIn(res).id);
        sessions.clearCookie(res);
        return undefined;
      },
    }),
    route({
      method: 'delete',
      path: '/sessions',
      summary: 'Sign out everywhere: ends every session of the signed-in user',
      credential: 'session',
      tag: 'session',
      response: { status: 200, description: 'How many sessions ended', schema: z.object({ ended: z.number() }) },
      handler: async ({ res }) => {
        const ended = await sessions.signOutEverywhere(signedIn(res).userId);
        sessions.clearCookie(res);
        return { ended };
      },
    }),
    route({
      method: 'patch',
      path: '/me',
      summary: 'The signed-in user\'s own preferences: the inbox language',
      credential: 'session',
      tag: 'session',
      body: z.object({ locale: z.enum(inboxLocales).nullable() }).strict(),
      response: { status: 200, description: 'The user', schema: userView },
      handler: async ({ body, res }) => {
        const session = signedIn(res);
        const user = await prisma.user.update({ where: { id: session.userId }, data: { locale: body.locale } });
        return presentUser(user);
      },
    }),
    route({
      method: 'post',
      path: '/me/password',
      summary: 'Change the signed-in user\'s own password; their other sessions end',
      credential: 'user',
      description:
        'The current password is checked and a wrong one counts toward the sign-in lockout (429 while locked). ' +
        'With a personal API key it changes the key\'s user\'s password, and every session of theirs ends.',
      tag: 'session',
      body: z
        .object({ currentPassword: z.string().min(1).max(1000), newPassword: z.string().min(minPasswordLength).max(200) })
        .strict(),
      response: { status: 204, description: 'Changed' },
      handler: async ({ body, auth, res }) => {
        const session = res.locals.session as Session | undefined;
        await sessions.changePassword({ userId: auth.userId!, keepSessionId: session?.id ?? null, currentPassword: body.currentPassword, newPassword: body.newPassword });
        return undefined;
      },
    }),
  ];
}

function presentWorkspace(workspace: Workspace) {
  return {
    id: workspace.id,
    name: workspace.name,
    locale: workspace.locale,
    timeZone: workspace.timeZone,
    visibility: workspace.visibility,
    repsCanClaim: workspace.repsCanClaim,
    logoUrl: workspace.logoType ? `/api/v1/workspace/logo?v=${workspace.updatedAt.getTime()}` : null,
    profileConfirmed: workspace.profileConfirmedAt !== null,
  };
}
