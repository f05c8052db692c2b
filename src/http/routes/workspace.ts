import type { InboundEvent, Prisma, Product, User, Workspace } from '@prisma/client';
import { z } from 'zod';
import { normalizePhone } from '../../contacts/identities.js';
import { ProblemError, NotFoundError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { uploaderKey } from '../../messaging/uploads.js';
import { hashPassword, minPasswordLength } from '../../security/tokens.js';
import type { AppDeps } from '../deps.js';
import { afterCursor, type Auth, byId, decodeCursor, listSchema, page, pageQuery, route, type RouteDef } from '../route.js';

const hhmm = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must be HH:MM (24:00 ends a day)');
const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const workingHours = z
  .object(Object.fromEntries(days.map((day) => [day, z.array(z.tuple([hhmm, hhmm])).max(4)])) as Record<(typeof days)[number], z.ZodArray<z.ZodTuple<[typeof hhmm, typeof hhmm]>>>)
  .partial()
  .describe('Per weekday, a list of [start, end] times in the workspace time zone')
  .transform((hours) => hours as Prisma.InputJsonObject);

const timeZone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch (error) {
    return !(error instanceof RangeError);
  }
}, 'must be an IANA time zone such as America/Sao_Paulo');

const workspaceView = z.object({
  id: z.string(),
  name: z.string(),
  country: z.string(),
  locale: z.string(),
  timeZone: z.string(),
  workingHours: z.record(z.string(), z.unknown()),
  quietHours: z.object({ start: hhmm, end: hhmm }).nullable(),
  firstResponseSlaMinutes: z.number(),
  visibility: z.enum(['all', 'own']),
  repsCanClaim: z.boolean().describe('Whether reps may claim unassigned leads (and see them when visibility is "own")'),
  signature: z.string().nullable().describe('Added under every email reply typed in the inbox or sent with text through the API'),
  logoUrl: z.string().nullable().describe('The business\'s logo, for the inbox page'),
  profileConfirmed: z.boolean().describe('Whether an owner confirmed the business profile (name, time zone, hours); the inbox asks until then'),
});

const workspacePatch = z
  .object({
    name: z.string().trim().min(1).max(200),
    country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 code such as BR'),
    locale: z.enum(['pt-BR', 'pt-PT', 'en']),
    timeZone,
    workingHours,
    quietHours: z.object({ start: hhmm, end: hhmm }).nullable(),
    firstResponseSlaMinutes: z.number().int().min(1).max(10_080),
    visibility: z.enum(['all', 'own']),
    repsCanClaim: z.boolean(),
    signature: z.string().trim().max(2000).nullable(),
    logoUploadId: z.string().min(1).max(100).nullable().describe('An image that POST /api/v1/uploads answered (PNG, JPEG, GIF or WebP); null removes the logo'),
    profileConfirmed: z.literal(true).describe('The owner confirmed the business profile'),
  })
  .partial()
  .strict();

/** Image types a logo may have: what a browser shows in an <img> and cannot run. */
const logoTypes = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

const roles = ['owner', 'manager', 'rep'] as const;
const userFields = z
  .object({
    name: z.string().trim().min(1).max(200),
    email: z.email().transform((email) => email.toLowerCase()),
    role: z.enum(roles),
    phone: z.string().max(40).nullable().optional(),
    active: z.boolean(),
    workingHours: workingHours.nullable().optional(),
    password: z.string().min(minPasswordLength).max(200).optional().describe('Write-only; setting it ends the user\'s sessions'),
  })
  .strict();
const userBody = userFields.extend({ active: z.boolean().default(true) });
// Built from the fields without defaults: a default would fill in what a change leaves out
// (an edit of the name would make a deactivated user active again).
const userPatch = userFields.partial();
const userView = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string(),
  role: z.enum(roles),
  phone: z.string().nullable(),
  active: z.boolean(),
  workingHours: z.record(z.string(), z.unknown()).nullable(),
  invitePending: z.boolean().describe('Invited, and no password set yet'),
  createdAt: z.string(),
});

const productBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    keywords: z.array(z.string().trim().min(1).max(100)).max(100).default([]),
    ownerId: z.string().max(100).nullable().optional(),
  })
  .strict();
const productView = z.object({ id: z.string(), name: z.string(), keywords: z.array(z.string()), ownerId: z.string().nullable(), createdAt: z.string() });

const eventView = z.object({
  id: z.string(),
  sourceId: z.string(),
  channel: z.string(),
  externalId: z.string(),
  status: z.enum(['pending', 'processed', 'rejected', 'failed']),
  reason: z.string().nullable(),
  lastError: z.string().nullable(),
  attempts: z.number(),
  leadId: z.string().nullable(),
  payload: z.unknown(),
  receivedAt: z.string(),
});

function presentWorkspace(row: Workspace) {
  return {
    id: row.id,
    name: row.name,
    country: row.country,
    locale: row.locale,
    timeZone: row.timeZone,
    workingHours: row.workingHours as Record<string, unknown>,
    quietHours: row.quietHours as { start: string; end: string } | null,
    firstResponseSlaMinutes: row.firstResponseSlaMinutes,
    visibility: row.visibility as 'all' | 'own',
    repsCanClaim: row.repsCanClaim,
    signature: row.signature,
    logoUrl: row.logoType ? `/api/v1/workspace/logo?v=${row.updatedAt.getTime()}` : null,
    profileConfirmed: row.profileConfirmedAt !== null,
  };
}

function presentUser(row: User) {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    role: row.role as (typeof roles)[number],
    phone: row.phone,
    active: row.active,
    workingHours: row.workingHours as Record<string, unknown> | null,
    invitePending: row.passwordHash === null,
    createdAt: row.createdAt.toISOString(),
  };
}

function presentProduct(row: Product) {
  return { id: row.id, name: row.name, keywords: row.keywords, ownerId: row.ownerId, createdAt: row.createdAt.toISOString() };
}

/** The workspace, its users and products, the pipeline stages and the inbound event log. */
export function workspaceRoutes(deps: AppDeps): RouteDef[] {
  const prisma = deps.db.prisma;

  async function workspaceOf(id: string) {
    return prisma.workspace.findUniqueOrThrow({ where: { id } });
  }

  async function userPhone(workspaceId: string, phone: string | null | undefined) {
    if (!phone) return phone ?? null;
    const workspace = await workspaceOf(workspaceId);
    const normalized = normalizePhone(phone, workspace.country);
    if (!normalized) throw new ValidationError([{ path: 'phone', message: 'is not a valid phone number' }]);
    return normalized;
  }

  async function checkOwner(workspaceId: string, ownerId: string | null | undefined) {
    if (!ownerId) return;
    if (!(await prisma.user.findFirst({ where: { id: ownerId, workspaceId } }))) {
      throw new ValidationError([{ path: 'ownerId', message: 'no user with this id in the workspace' }]);
    }
  }

  /** A manager runs the team but cannot create, promote, change or remove an owner. */
  function onlyOwnersMakeOwners(auth: Auth, role: string | undefined) {
    if (role === 'owner' && auth.role !== 'owner') throw new ProblemError('forbidden', 'only an owner can create, change or remove an owner');
  }

  async function uniqueOrConflict<T>(what: string, run: () => Promise<T>, exists: () => Promise<boolean>): Promise<T> {
    if (await exists()) throw new ProblemError('conflict', `${what} already exists`);
    return run();
  }

  return [
    route({
      method: 'get',
      path: '/workspace',
      summary: 'The workspace settings',
      tag: 'workspace',
      response: { status: 200, description: 'The workspace', schema: workspaceView },
      handler: async ({ auth }) => presentWorkspace(await workspaceOf(auth.workspaceId)),
    }),
    route({
      method: 'patch',
      path: '/workspace',
      summary: 'Change the workspace settings',
      tag: 'workspace',
      roles: ['owner', 'manager'],
      body: workspacePatch,
      response: { status: 200, description: 'The workspace', schema: workspaceView },
      handler: async ({ body, auth }) => {
        const { quietHours, logoUploadId, profileConfirmed, ...rest } = body;
        let logo: { logo: Uint8Array<ArrayBuffer> | null; logoType: string | null } | undefined;
        if (logoUploadId === null) logo = { logo: null, logoType: null };
        else if (logoUploadId) {
          const upload = await prisma.attachment.findFirst({ where: { id: logoUploadId, workspaceId: auth.workspaceId, messageId: null, eventId: null, uploadedBy: uploaderKey(auth.actor) } });
          if (!upload) throw new ValidationError([{ path: 'logoUploadId', message: 'no upload of yours with this id' }]);
          if (!logoTypes.includes(upload.contentType)) throw new ValidationError([{ path: 'logoUploadId', message: 'a logo is a PNG, JPEG, GIF or WebP image' }]);
          logo = { logo: upload.data, logoType: upload.contentType };
        }
        const row = await prisma.$transaction(async (tx) => {
          const updated = await tx.workspace.update({
            where: { id: auth.workspaceId },
            data: {
              ...rest,
              ...(quietHours !== undefined ? { quietHours: quietHours ?? undefined } : {}),
              ...(logo ?? {}),
              ...(profileConfirmed ? { profileConfirmedAt: new Date() } : {}),
            },
          });
          // The image now lives with the workspace; the upload it came from is not a message's file.
          if (logoUploadId) await tx.attachment.delete({ where: { id: logoUploadId } });
          return updated;
        });
        if (quietHours === null) await prisma.$executeRaw`UPDATE workspaces SET "quietHours" = NULL WHERE id = ${auth.workspaceId}`;
        return presentWorkspace(quietHours === null ? await workspaceOf(auth.workspaceId) : row);
      },
    }),
    route({
      method: 'get',
      path: '/workspace/logo',
      summary: 'The business\'s logo image',
      tag: 'workspace',
      response: { status: 200, description: 'The image, with its own content type' },
      handler: async ({ auth, res }) => {
        const row = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId }, select: { logo: true, logoType: true } });
        if (!row.logo || !row.logoType) throw new NotFoundError('logo');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Cache-Control', 'private, max-age=86400');
        res.status(200).type(row.logoType).send(Buffer.from(row.logo));
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/users',
      summary: 'Add a user (owner, manager or rep)',
      tag: 'users',
      roles: ['owner', 'manager'],
      body: userBody,
      response: { status: 201, description: 'The user', schema: userView },
      handler: async ({ body, auth }) => {
        onlyOwnersMakeOwners(auth, body.role);
        const { password, ...fields } = body;
        const phone = await userPhone(auth.workspaceId, fields.phone);
        const row = await uniqueOrConflict(
          `a user with email ${fields.email}`,
          async () =>
            prisma.user.create({
              data: {
                id: newId('usr'),
                workspaceId: auth.workspaceId,
                ...fields,
                phone,
                workingHours: fields.workingHours ?? undefined,
                passwordHash: password ? await hashPassword(password) : null,
              },
            }),
          async () => (await prisma.user.count({ where: { workspaceId: auth.workspaceId, email: fields.email } })) > 0,
        );
        return presentUser(row);
      },
    }),
    route({
      method: 'get',
      path: '/users',
      summary: 'List users',
      tag: 'users',
      query: pageQuery,
      response: { status: 200, description: 'A page of users', schema: listSchema(userView) },
      handler: async ({ query, auth }) => {
        const cursor = decodeCursor(query.cursor);
        const rows = await prisma.user.findMany({
          where: { workspaceId: auth.workspaceId, ...(cursor ? { id: { gt: cursor.id } } : {}) },
          orderBy: { id: 'asc' },
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return { data: result.data.map(presentUser), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'get',
      path: '/users/:id',
      summary: 'Get a user',
      tag: 'users',
      params: byId,
      response: { status: 200, description: 'The user', schema: userView },
      handler: async ({ params, auth }) => {
        const row = await prisma.user.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('user');
        return presentUser(row);
      },
    }),
    route({
      method: 'patch',
      path: '/users/:id',
      summary: 'Change a user',
      tag: 'users',
      roles: ['owner', 'manager'],
      params: byId,
      body: userPatch,
      response: { status: 200, description: 'The user', schema: userView },
      handler: async ({ params, body, auth }) => {
        const row = await prisma.user.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('user');
        onlyOwnersMakeOwners(auth, row.role === 'owner' ? 'owner' : body.role);
        const { password, workingHours: hours, phone, ...fields } = body;
        if (fields.email && fields.email !== row.email && (await prisma.user.count({ where: { workspaceId: auth.workspaceId, email: fields.email } })) > 0) {
          throw new ProblemError('conflict', `a user with email ${fields.email} already exists`);
        }
        const passwordHash = password ? await hashPassword(password) : undefined;
        const updated = await prisma.$transaction(async (tx) => {
          const user = await tx.user.update({
            where: { id: row.id },
            data: {
              ...fields,
              ...(phone !== undefined ? { phone: await userPhone(auth.workspaceId, phone) } : {}),
              ...(hours ? { workingHours: hours } : {}),
              ...(passwordHash ? { passwordHash } : {}),
            },
          });
          // A password set for someone (a reset, a suspected leak) signs them out everywhere.
          if (passwordHash) await tx.session.deleteMany({ where: { userId: row.id } });
          return user;
        });
        return presentUser(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/users/:id',
      summary: 'Remove a user; their leads become unassigned',
      tag: 'users',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await prisma.user.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('user');
        onlyOwnersMakeOwners(auth, row.role);
        if (row.role === 'owner' && (await prisma.user.count({ where: { workspaceId: auth.workspaceId, role: 'owner', active: true } })) <= 1) {
          throw new ProblemError('conflict', 'the last owner of a workspace cannot be removed');
        }
        await prisma.user.delete({ where: { id: row.id } });
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/products',
      summary: 'Add a product or service to the catalogue',
      tag: 'products',
      roles: ['owner', 'manager'],
      body: productBody,
      response: { status: 201, description: 'The product', schema: productView },
      handler: async ({ body, auth }) => {
        await checkOwner(auth.workspaceId, body.ownerId);
        const row = await uniqueOrConflict(
          `a product named ${body.name}`,
          () => prisma.product.create({ data: { id: newId('prd'), workspaceId: auth.workspaceId, ...body, ownerId: body.ownerId ?? null } }),
          async () => (await prisma.product.count({ where: { workspaceId: auth.workspaceId, name: body.name } })) > 0,
        );
        return presentProduct(row);
      },
    }),
    route({
      method: 'get',
      path: '/products',
      summary: 'List products',
      tag: 'products',
      response: { status: 200, description: 'All products', schema: listSchema(productView) },
      handler: async ({ auth }) => ({
        data: (await prisma.product.findMany({ where: { workspaceId: auth.workspaceId }, orderBy: { name: 'asc' } })).map(presentProduct),
        nextCursor: null,
      }),
    }),
    route({
      method: 'get',
      path: '/products/:id',
      summary: 'Get a product',
      tag: 'products',
      params: byId,
      response: { status: 200, description: 'The product', schema: productView },
      handler: async ({ params, auth }) => {
        const row = await prisma.product.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('product');
        return presentProduct(row);
      },
    }),
    route({
      method: 'patch',
      path: '/products/:id',
      summary: 'Change a product',
      tag: 'products',
      roles: ['owner', 'manager'],
      params: byId,
      body: productBody.partial(),
      response: { status: 200, description: 'The product', schema: productView },
      handler: async ({ params, body, auth }) => {
        const row = await prisma.product.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('product');
        await checkOwner(auth.workspaceId, body.ownerId);
        if (body.name && body.name !== row.name && (await prisma.product.count({ where: { workspaceId: auth.workspaceId, name: body.name } })) > 0) {
          throw new ProblemError('conflict', `a product named ${body.name} already exists`);
        }
        return presentProduct(await prisma.product.update({ where: { id: row.id }, data: body }));
      },
    }),
    route({
      method: 'delete',
      path: '/products/:id',
      summary: 'Remove a product from the catalogue',
      tag: 'products',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 204, description: 'Removed' },
      handler: async ({ params, auth }) => {
        const row = await prisma.product.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('product');
        await prisma.product.delete({ where: { id: row.id } });
        return undefined;
      },
    }),
    route({
      method: 'get',
      path: '/inbound-events',
      summary: 'Inbound events as received, newest first: rejected (spam, rate limit) and failed ones stay here',
      tag: 'capture',
      roles: ['owner', 'manager'],
      query: pageQuery.extend({ status: z.enum(['pending', 'processed', 'rejected', 'failed']).optional(), sourceId: z.string().max(100).optional() }),
      response: { status: 200, description: 'A page of inbound events', schema: listSchema(eventView) },
      handler: async ({ query, auth }) => {
        const rows = await prisma.inboundEvent.findMany({
          where: {
            workspaceId: auth.workspaceId,
            ...(query.status ? { status: query.status } : {}),
            ...(query.sourceId ? { sourceId: query.sourceId } : {}),
            ...afterCursor(decodeCursor(query.cursor), 'desc'),
          },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return { data: result.data.map(presentEvent), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'post',
      path: '/inbound-events/:id/release',
      summary: 'Process a rejected event after all (a submission refused by the rate limit, a false spam catch): it becomes a lead as if accepted',
      tag: 'capture',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 202, description: 'The event, pending again; its lead follows shortly', schema: eventView },
      handler: async ({ params, auth }) => {
        const row = await prisma.inboundEvent.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        if (!row) throw new NotFoundError('inbound event');
        const who = auth.actor.type === 'user' ? `user ${auth.actor.id}` : `API key ${auth.actor.id}`;
        // Only from rejected: two releases at once, or one of an event already processed, change nothing.
        const reason = `released by ${who}; rejected before as: ${row.reason ?? 'rejected'}`.slice(0, 1000);
        const released = await prisma.inboundEvent.updateMany({ where: { id: row.id, status: 'rejected' }, data: { status: 'pending', reason } });
        if (released.count === 0) throw new ProblemError('conflict', `only a rejected event can be released; this one is ${row.status}`);
        // The sweeper also finds pending events: a lost wake-up only delays it.
        await deps.queue.add('inbound', row.id).catch((error: unknown) => deps.logger.warn({ err: error, eventId: row.id }, 'could not queue a released event'));
        // As released: a worker may already be turning it into a lead.
        return presentEvent({ ...row, status: 'pending', reason });
      },
    }),
  ];
}

function presentEvent(row: InboundEvent): z.infer<typeof eventView> {
  return {
    id: row.id,
    sourceId: row.sourceId,
    channel: row.channel,
    externalId: row.externalId,
    status: row.status as z.infer<typeof eventView>['status'],
    reason: row.reason,
    lastError: row.lastError,
    attempts: row.attempts,
    leadId: row.leadId,
    payload: row.payload,
    receivedAt: row.receivedAt.toISOString(),
  };
}
