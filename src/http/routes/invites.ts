import { z } from 'zod';
import { ChannelError, NotFoundError, ProblemError } from '../../errors.js';
import { newId } from '../../ids.js';
import { hashApiKey, hashPassword, minPasswordLength, randomToken } from '../../security/tokens.js';
import type { AppDeps } from '../deps.js';
import { byId, route, type RouteDef } from '../route.js';
import type { Sessions } from '../session.js';

/** How long an invitation's link works. */
export const inviteLifetimeMs = 7 * 24 * 3600_000;

const inviteView = z.object({
  userId: z.string(),
  email: z.string(),
  expiresAt: z.string(),
  link: z.string().describe('The link the email carries: whoever has it may set the password, once, until expiresAt'),
});

const tokenParams = z.object({ token: z.string().min(10).max(200) });

const inviteBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    email: z.email().transform((email) => email.toLowerCase()),
    role: z.enum(['owner', 'manager', 'rep']),
  })
  .strict();

const mailText = {
  en: (input: { inviter: string; business: string; link: string; days: number }) => ({
    subject: `${input.inviter} invited you to ${input.business} on leadgate`,
    text:
      `${input.inviter} invited you to answer ${input.business}'s leads on leadgate.\n\n` +
      `Set your password here (the link works once, for ${input.days} days):\n${input.link}\n\n` +
      'If you did not expect this, ignore this email.',
  }),
  'pt-BR': (input: { inviter: string; business: string; link: string; days: number }) => ({
    subject: `${input.inviter} convidou você para ${input.business} no leadgate`,
    text:
      `${input.inviter} convidou você para atender os leads de ${input.business} no leadgate.\n\n` +
      `Crie sua senha aqui (o link funciona uma vez, por ${input.days} dias):\n${input.link}\n\n` +
      'Se você não esperava este convite, ignore este e-mail.',
  }),
};

/** Teammates invited by email: a single-use link to set their own password, re-sent on demand. */
export function inviteRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  /** A new link for the user (any earlier one stops working), sent by email. */
  async function invite(workspaceId: string, userId: string, invitedById: string | null) {
    const [user, workspace, inviter] = await Promise.all([
      prisma.user.findFirstOrThrow({ where: { id: userId, workspaceId } }),
      prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } }),
      invitedById ? prisma.user.findUnique({ where: { id: invitedById } }) : Promise.resolve(null),
    ]);
    const token = randomToken('inv_', 32);
    const expiresAt = new Date(Date.now() + inviteLifetimeMs);
    await prisma.$transaction([
      prisma.userInvite.deleteMany({ where: { userId } }),
      prisma.userInvite.create({ data: { id: newId('inv'), workspaceId, userId, tokenHash: hashApiKey(token), invitedById, expiresAt } }),
    ]);
    // In the fragment, the token never reaches a server's access log.
    const link = `${deps.config.publicUrl}/#/invite/${token}`;
    const locale = (user.locale ?? workspace.locale).startsWith('pt') ? 'pt-BR' : 'en';
    const mail = mailText[locale]({ inviter: inviter?.name ?? workspace.name, business: workspace.name, link, days: inviteLifetimeMs / (24 * 3600_000) });
    try {
      await deps.outbound.sendWorkspaceEmail(workspaceId, { to: user.email, ...mail });
    } catch (error) {
      if (error instanceof ChannelError) throw new ProblemError('invite_not_sent', `the invitation could not be emailed: ${error.message}`, undefined, { cause: error });
      throw error;
    }
    return { userId, email: user.email, expiresAt: expiresAt.toISOString(), link };
  }

  return [
    route({
      method: 'post',
      path: '/invites',
      summary: 'Invite a teammate by email: they set their own password through the link it carries',
      description:
        `Adds the user without a password and emails them a link (single use, for ${inviteLifetimeMs / 86_400_000} days) from the ` +
        'workspace\'s email source, else the gateway\'s SMTP. 502 invite-not-sent when it cannot be emailed; the user stays, and ' +
        'POST /api/v1/users/:id/invite sends a new link.',
      tag: 'users',
      roles: ['owner', 'manager'],
      body: inviteBody,
      response: { status: 201, description: 'Invited', schema: inviteView },
      handler: async ({ body, auth }) => {
        if (body.role === 'owner' && auth.role !== 'owner') throw new ProblemError('forbidden', 'only an owner can invite an owner');
        if (await prisma.user.count({ where: { workspaceId: auth.workspaceId, email: body.email } })) throw new ProblemError('conflict', `a user with the email ${body.email} already exists`);
        const userId = newId('usr');
        await prisma.user.create({ data: { id: userId, workspaceId: auth.workspaceId, name: body.name, email: body.email, role: body.role, passwordHash: null } });
        return invite(auth.workspaceId, userId, auth.userId);
      },
    }),
    route({
      method: 'post',
      path: '/users/:id/invite',
      summary: 'Send a user a new invitation link (the earlier one stops working)',
      tag: 'users',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 201, description: 'Invited again', schema: inviteView },
      handler: async ({ params, auth }) => {
        const user = await prisma.user.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!user) throw new NotFoundError('user');
        if (user.role === 'owner' && auth.role !== 'owner') throw new ProblemError('forbidden', 'only an owner can invite an owner');
        if (user.passwordHash) throw new ProblemError('conflict', 'the user has set a password already');
        return invite(auth.workspaceId, user.id, auth.userId);
      },
    }),
  ];
}

/** The invitation's own link: no credentials but the token. */
export function publicInviteRoutes(deps: AppDeps, sessions: Sessions): RouteDef[] {
  const prisma = deps.db.prisma;
  const openInvite = async (token: string) => {
    const row = await prisma.userInvite.findUnique({ where: { tokenHash: hashApiKey(token) } });
    if (!row || row.usedAt || row.expiresAt.getTime() <= Date.now()) throw new ProblemError('invite_invalid', 'this invitation link was used already, has expired or was replaced by a newer one');
    const user = await prisma.user.findFirst({ where: { id: row.userId, active: true } });
    if (!user) throw new ProblemError('invite_invalid', 'this invitation link was used already, has expired or was replaced by a newer one');
    return { row, user };
  };
  return [
    route({
      method: 'get',
      path: '/invites/:token',
      credential: 'none',
      summary: 'Who an invitation link is for',
      tag: 'session',
      params: tokenParams,
      response: { status: 200, description: 'The invitation', schema: z.object({ name: z.string(), email: z.string(), workspace: z.string(), expiresAt: z.string() }) },
      handler: async ({ params }) => {
        const { row, user } = await openInvite(params.token);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: row.workspaceId } });
        return { name: user.name, email: user.email, workspace: workspace.name, expiresAt: row.expiresAt.toISOString() };
      },
    }),
    route({
      method: 'post',
      path: '/invites/:token/accept',
      credential: 'none',
      summary: 'Set the invited user\'s password through the link, once; signs them in',
      tag: 'session',
      params: tokenParams,
      body: z.object({ password: z.string().min(minPasswordLength).max(200) }).strict(),
      response: { status: 201, description: 'The password is set and the session cookie too', schema: z.object({ email: z.string() }) },
      handler: async ({ params, body, req, res }) => {
        const { row, user } = await openInvite(params.token);
        const passwordHash = await hashPassword(body.password);
        // Marked used in the same statement that checks it unused: two clicks on one link set one password.
        const claimed = await prisma.userInvite.updateMany({ where: { id: row.id, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
        if (claimed.count !== 1) throw new ProblemError('invite_invalid', 'this invitation link was used already, has expired or was replaced by a newer one');
        await prisma.user.update({ where: { id: user.id }, data: { passwordHash } });
        const { token } = await sessions.signIn({ email: user.email, password: body.password, ip: req.ip ?? 'unknown', userAgent: req.get('user-agent') });
        sessions.setCookie(res, token);
        return { email: user.email };
      },
    }),
  ];
}
