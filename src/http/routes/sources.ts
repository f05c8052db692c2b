import type { Source } from '@prisma/client';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AdapterContext, SourceKindSpec } from '../../channels/contract.js';
import { readOAuth } from '../../channels/oauth.js';
import { ChannelError, NotFoundError, ProblemError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { AppDeps } from '../deps.js';
import { byId, listSchema, route, type RouteDef } from '../route.js';

const templateName = z.string().regex(/^[\w-]{1,100}$/, 'must be a template name such as "acknowledgement"');

const baseFields = {
  name: z.string().trim().min(1).max(200),
  ownerId: z.string().max(100).nullable().optional(),
  defaultProduct: z.string().max(200).nullable().optional().describe('A product id or exact name'),
  autoReplyTemplate: templateName.nullable().optional().describe('null turns auto-replies off'),
};
const baseKeys = Object.keys(baseFields);

const sourceView = z
  .object({
    id: z.string(),
    kind: z.string(),
    name: z.string(),
    ownerId: z.string().nullable(),
    defaultProduct: z.string().nullable(),
    autoReplyTemplate: z.string().nullable(),
    status: z.object({ state: z.string(), lastMessageAt: z.string().nullable().optional() }).catchall(z.unknown()),
    createdAt: z.string(),
  })
  .catchall(z.unknown());

/** Sources: where leads come from. Each kind's own fields are validated by its adapter. */
export function sourceRoutes(deps: AppDeps, ctx: AdapterContext): RouteDef[] {
  const { db, registry, box, sources, config } = deps;
  const prisma = db.prisma;
  const knownKinds = ['webform', 'twilio', 'email', 'whatsapp', 'whatsapp_cloud', 'instagram', 'meta_leads'];

  function specFor(kind: string) {
    const spec = registry.forSourceKind(kind)?.source;
    if (!spec) {
      const available = registry.sourceKinds().join(', ');
      throw new ProblemError(
        'unsupported_source_kind',
        knownKinds.includes(kind)
          ? `sources of kind "${kind}" are not available in this version; available: ${available}`
          : `unknown source kind "${kind}"; available: ${available}`,
        [{ path: 'kind', message: `must be one of: ${available}` }],
      );
    }
    return spec;
  }

  function splitBody(body: Record<string, unknown>) {
    const base: Record<string, unknown> = {};
    const own: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if (key === 'kind') continue;
      (baseKeys.includes(key) ? base : own)[key] = value;
    }
    return { base, own };
  }

  function parseOwn<T>(schema: z.ZodType<T>, own: Record<string, unknown>): T {
    const result = schema.safeParse(own);
    if (!result.success) {
      throw new ValidationError(result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(body)', message: issue.message })));
    }
    return result.data;
  }

  async function checkReferences(workspaceId: string, base: { ownerId?: string | null | undefined; defaultProduct?: string | null | undefined }) {
    let defaultProductId: string | null | undefined;
    if (base.ownerId) {
      const owner = await prisma.user.findFirst({ where: { id: base.ownerId, workspaceId } });
      if (!owner) throw new ValidationError([{ path: 'ownerId', message: 'no user with this id in the workspace' }]);
    }
    if (base.defaultProduct) {
      const product = await prisma.product.findFirst({
        where: { workspaceId, OR: [{ id: base.defaultProduct }, { name: base.defaultProduct }] },
      });
      if (!product) throw new ValidationError([{ path: 'defaultProduct', message: 'no product with this id or name in the workspace' }]);
      defaultProductId = product.id;
    } else if (base.defaultProduct === null) {
      defaultProductId = null;
    }
    return { defaultProductId };
  }

  async function verify(spec: SourceKindSpec, prepared: { settings: Record<string, unknown>; secrets: Record<string, unknown> }, sourceId?: string) {
    if (!spec.verify) return;
    try {
      // A source connected with OAuth is tried with a token of its grant; one not connected yet is not tried.
      const grant = readOAuth(prepared);
      const accessToken = sourceId && grant?.secrets.refreshToken && !grant.settings.revokedAt ? await deps.oauth.accessToken(sourceId) : undefined;
      await spec.verify(prepared, accessToken ? { accessToken } : {});
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      throw new ProblemError('source_connection_failed', error.message, [{ path: error.code.split('_')[0] ?? 'connection', message: error.message }], {
        cause: error,
      });
    }
  }

  function changed(kind: string, sourceId: string) {
    sources.forget(sourceId);
    registry.forSourceKind(kind)?.sourceChanged?.(sourceId);
  }

  async function view(row: Source) {
    const spec = specFor(row.kind);
    const last = await prisma.inboundEvent.findFirst({
      where: { sourceId: row.id },
      orderBy: { receivedAt: 'desc' },
      select: { receivedAt: true },
    });
    // A source with a long-lived connection (a mailbox, a number) is connecting until the connection
    // says otherwise; the others take requests from the moment they exist.
    const stored = (row.status ?? { state: registry.forSourceKind(row.kind)?.start ? 'connecting' : 'connected' }) as Record<string, unknown>;
    return {
      id: row.id,
      kind: row.kind,
      name: row.name,
      ownerId: row.ownerId,
      defaultProduct: row.defaultProductId,
      autoReplyTemplate: row.autoReplyTemplate,
      status: { ...stored, lastMessageAt: last?.receivedAt.toISOString() ?? null },
      createdAt: row.createdAt.toISOString(),
      ...spec.present(sources.toRecord(row), config.publicUrl),
    };
  }

  async function load(workspaceId: string, id: string): Promise<Source> {
    const row = await prisma.source.findFirst({ where: { id, workspaceId, deletedAt: null } });
    if (!row) throw new NotFoundError('source');
    return row;
  }

  /** A source that links by scanning a code (WhatsApp), with its kind's linking support. */
  async function linkable(workspaceId: string, id: string) {
    const row = await load(workspaceId, id);
    const linking = specFor(row.kind).linking;
    if (!linking) throw new ProblemError('conflict', `a ${row.kind} source is not linked with a code`);
    return { source: sources.toRecord(row), linking };
  }

  /** One body per source kind: the common fields and the kind's own, as its adapter validates them. */
  function kindBodies(): z.ZodType {
    const bodies: z.ZodType[] = registry.sourceKinds().map((kind) =>
      z.intersection(z.object({ kind: z.literal(kind), ...baseFields }), registry.forSourceKind(kind)!.source!.createSchema).describe(`A ${kind} source`),
    );
    const [first, second, ...rest] = bodies;
    return first && second ? z.union([first, second, ...rest]) : (first ?? z.object({}));
  }

  const createBody = z.object({ kind: z.string().min(1).max(50), ...baseFields }).catchall(z.unknown());
  const updateBody = z.object({ ...baseFields, name: baseFields.name.optional() }).catchall(z.unknown());

  return [
    route({
      method: 'post',
      path: '/sources',
      summary: 'Create a source (web form, Twilio number, mailbox, WhatsApp number)',
      tag: 'sources',
      roles: ['owner', 'manager'],
      body: createBody,
      documentedBody: kindBodies(),
      response: { status: 201, description: 'The source, with its kind\'s own fields', schema: sourceView },
      handler: async ({ body, auth }) => {
        const spec = specFor(body.kind);
        const { own } = splitBody(body);
        const input = parseOwn(spec.createSchema, own);
        const { defaultProductId } = await checkReferences(auth.workspaceId, body);
        const { settings, secrets } = spec.prepare(input);
        await verify(spec, { settings, secrets });
        const row = await prisma.source.create({
          data: {
            id: newId('src'),
            workspaceId: auth.workspaceId,
            kind: body.kind,
            name: body.name,
            ownerId: body.ownerId ?? null,
            defaultProductId: defaultProductId ?? null,
            // Unset means the shipped acknowledgement; an explicit null turns auto-replies off.
            autoReplyTemplate: body.autoReplyTemplate === undefined ? 'acknowledgement' : body.autoReplyTemplate,
            settings: settings as object,
            secrets: box.seal(secrets),
          },
        });
        changed(row.kind, row.id);
        return view(row);
      },
    }),
    route({
      method: 'get',
      path: '/sources',
      summary: 'List sources',
      tag: 'sources',
      roles: ['owner', 'manager'],
      response: { status: 200, description: 'All live sources of the workspace', schema: listSchema(sourceView) },
      handler: async ({ auth }) => {
        const rows = await prisma.source.findMany({ where: { workspaceId: auth.workspaceId, deletedAt: null }, orderBy: { createdAt: 'asc' } });
        return { data: await Promise.all(rows.map(view)), nextCursor: null };
      },
    }),
    route({
      method: 'get',
      path: '/sources/:id',
      summary: 'Get a source',
      tag: 'sources',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 200, description: 'The source', schema: sourceView },
      handler: async ({ params, auth }) => view(await load(auth.workspaceId, params.id)),
    }),
    route({
      method: 'patch',
      path: '/sources/:id',
      summary: 'Update a source',
      tag: 'sources',
      roles: ['owner', 'manager'],
      params: byId,
      body: updateBody,
      response: { status: 200, description: 'The updated source', schema: sourceView },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        const spec = specFor(row.kind);
        const { own } = splitBody(body);
        const input = parseOwn(spec.updateSchema, own);
        const { defaultProductId } = await checkReferences(auth.workspaceId, body);
        const previous = sources.toRecord(row);
        const { settings, secrets } = spec.prepare(input, { settings: previous.settings, secrets: previous.secrets });
        if (Object.keys(own).length > 0) await verify(spec, { settings, secrets }, row.id);
        const updated = await prisma.source.update({
          where: { id: row.id },
          data: {
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.ownerId !== undefined ? { ownerId: body.ownerId } : {}),
            ...(defaultProductId !== undefined ? { defaultProductId } : {}),
            ...(body.autoReplyTemplate !== undefined ? { autoReplyTemplate: body.autoReplyTemplate } : {}),
            settings: settings as object,
            secrets: box.seal(secrets),
          },
        });
        changed(row.kind, row.id);
        return view(updated);
      },
    }),
    route({
      method: 'get',
      path: '/sources/:id/qr',
      summary: 'The QR code that links the source (scan it in WhatsApp: Linked devices)',
      tag: 'sources',
      params: byId,
      query: z.object({ format: z.enum(['png', 'text']).default('png').describe('text: the code drawn with characters, for a terminal') }),
      response: { status: 200, description: 'image/png, or text/plain with ?format=text; 409 when there is no code (linked already, or not received yet)' },
      roles: ['owner', 'manager'],
      handler: async ({ params, query, auth, res }) => {
        const { source, linking } = await linkable(auth.workspaceId, params.id);
        const qr = await linking.currentQr(ctx, source);
        if (!qr) throw new ProblemError('conflict', 'there is no QR code to scan now: the source is linked already, or the code has not arrived yet (try again in a few seconds)');
        res.setHeader('Cache-Control', 'no-store');
        if (query.format === 'text') {
          res.status(200).type('text/plain').send(await QRCode.toString(qr, { type: 'utf8' }));
        } else {
          res.status(200).type('image/png').send(await QRCode.toBuffer(qr, { type: 'png', margin: 2, scale: 8 }));
        }
        return undefined;
      },
    }),
    route({
      method: 'post',
      path: '/sources/:id/pairing-code',
      summary: 'A pairing code to type in WhatsApp (Linked devices, link with phone number) instead of scanning',
      tag: 'sources',
      params: byId,
      body: z.object({ phone: z.string().trim().regex(/^\+?[\d\s().-]{8,20}$/, 'must be the phone number of the WhatsApp account, with its country code') }),
      response: { status: 200, description: 'The code, valid for a few minutes', schema: z.object({ code: z.string() }) },
      roles: ['owner', 'manager'],
      handler: async ({ params, body, auth }) => {
        const { source, linking } = await linkable(auth.workspaceId, params.id);
        try {
          return { code: await linking.requestPairingCode(ctx, source, body.phone.replace(/\D/g, '')) };
        } catch (error) {
          if (!(error instanceof ChannelError)) throw error;
          throw new ProblemError('conflict', error.message, undefined, { cause: error });
        }
      },
    }),
    route({
      method: 'post',
      path: '/sources/:id/rotate-secret',
      summary: 'A new secret for a web form; the old one keeps working for a grace period',
      description:
        'Answers the new secret. Posts authenticated with the previous secret (token or signature) are still accepted until ' +
        '`previousSecretValidUntil` (`graceHours` after the rotation, LEADGATE_FORM_SECRET_GRACE_HOURS by default, itself 24 by default), so the sites using it can be updated meanwhile; ' +
        '`graceHours: 0` ends the old secret at once (it leaked). A second rotation ends the grace of the first. 409 for a kind of source without such a secret.',
      tag: 'sources',
      roles: ['owner', 'manager'],
      params: byId,
      body: z.object({ graceHours: z.number().min(0).max(24 * 90).optional() }).strict(),
      response: {
        status: 200,
        description: 'The new secret and until when the previous one works',
        schema: z.object({ secret: z.string(), previousSecretValidUntil: z.string() }),
      },
      handler: async ({ params, body, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        const spec = specFor(row.kind);
        if (!spec.rotateSecret) throw new ProblemError('conflict', `a ${row.kind} source has no secret of its own to rotate`);
        const graceMs = body.graceHours === undefined ? deps.config.formSecretGraceMs : Math.round(body.graceHours * 3600_000);
        const until = new Date(Date.now() + graceMs);
        const { secrets, secret } = spec.rotateSecret(sources.toRecord(row).secrets, until);
        await prisma.source.update({ where: { id: row.id }, data: { secrets: box.seal(secrets) } });
        changed(row.kind, row.id);
        return { secret, previousSecretValidUntil: until.toISOString() };
      },
    }),
    route({
      method: 'delete',
      path: '/sources/:id',
      summary: 'Delete a source: its webhooks stop answering; its leads and history stay',
      tag: 'sources',
      roles: ['owner', 'manager'],
      params: byId,
      response: { status: 204, description: 'Deleted' },
      handler: async ({ params, auth }) => {
        const row = await load(auth.workspaceId, params.id);
        await prisma.source.update({ where: { id: row.id }, data: { deletedAt: new Date() } });
        changed(row.kind, row.id);
        return undefined;
      },
    }),
  ];
}
