import type { Activity, Attachment, Message, Prisma } from '@prisma/client';
import { z } from 'zod';
import { type ChannelKind, channelKinds } from '../../channels/contract.js';
import { NotFoundError, ProblemError, ValidationError } from '../../errors.js';
import { recordActivity } from '../../leads/activities.js';
import { changeStage } from '../../leads/pipeline.js';
import { segmentName, validateCustomFields } from '../../leads/qualifiers.js';
import { rescoreLead } from '../../leads/scoring.js';
import { stages } from '../../leads/stages.js';
import { leadInclude, leadView, presentLead } from '../../leads/view.js';
import { findVisibleLead, visibleLeadsWhere } from '../../leads/visibility.js';
import { replySubject } from '../../messaging/outbound.js';
import { parseTemplateId } from '../../messaging/templates.js';
import { maxAttachmentsPerMessage, uploaderKey } from '../../messaging/uploads.js';
import { renderForLead } from '../../messaging/render.js';
import type { AppDeps } from '../deps.js';
import { afterCursor, byId, decodeCursor, listSchema, page, pageQuery, route, type RouteDef } from '../route.js';



const isoDate = z.iso.datetime({ offset: true }).or(z.iso.date());

const leadListQuery = pageQuery.extend({
  stage: z.enum(stages).optional(),
  ownerId: z.string().max(100).optional().describe('A user id, "me", or "none" for the unassigned queue'),
  product: z.string().max(200).optional().describe('A product id or name'),
  segment: z.string().max(200).optional(),
  channel: z.enum(channelKinds).optional(),
  q: z.string().trim().min(1).max(200).optional().describe('Any part of the name, email or phone'),
  createdFrom: isoDate.optional(),
  createdTo: isoDate.optional(),
});

const leadPatch = z
  .object({
    stage: z.enum(stages),
    ownerId: z.string().max(100).nullable(),
    name: z.string().trim().min(1).max(200).nullable(),
    company: z.string().trim().max(200).nullable(),
    products: z.array(z.string().max(100)).max(50).describe('Product ids'),
    segment: z.string().trim().max(200).nullable(),
    tags: z.array(z.string().trim().min(1).max(100)).max(100),
    dealValue: z.number().nonnegative().max(1e12).nullable(),
    dealCurrency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as BRL').nullable(),
    customFields: z.record(z.string().min(1).max(200), z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()])),
    companySize: z.enum(['1', '2-10', '11-50', '51-200', '201-1000', '1000+']).nullable(),
    birthday: z.iso.date().nullable(),
    socialProfiles: z.record(z.enum(['linkedin', 'instagram', 'facebook', 'x', 'tiktok', 'youtube', 'website']), z.url().max(500)),
    lossReason: z.string().trim().min(1).max(500).describe('Required with stage "unqualified"'),
  })
  .partial()
  .strict();

const activityView = z.object({
  id: z.string(),
  kind: z.string(),
  actor: z.object({ type: z.string(), id: z.string().nullable() }),
  data: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

export const messageView = z.object({
  id: z.string(),
  leadId: z.string(),
  direction: z.enum(['in', 'out']),
  channel: z.string(),
  text: z.string().nullable(),
  fullText: z.string().nullable().optional(),
  subject: z.string().nullable().optional(),
  fields: z.record(z.string(), z.unknown()).nullable().optional(),
  attachments: z.array(
    z.object({
      id: z.string(),
      filename: z.string(),
      contentType: z.string(),
      size: z.number(),
      url: z.string(),
      // pending: the channel is still fetching the file; failed: it could not, `error` says why.
      status: z.enum(['stored', 'pending', 'failed']),
      error: z.string().optional(),
    }),
  ),
  status: z.enum(['received', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'canceled']),
  scheduledAt: z.string().nullable().describe('When a scheduled message goes (or went) out'),
  error: z.string().optional(),
  errorCode: z.string().optional(),
  attempts: z.number(),
  to: z.string().nullable(),
  automatic: z.boolean(),
  createdAt: z.string(),
  sentAt: z.string().nullable(),
});

const sendBody = z
  .object({
    text: z.string().trim().min(1).max(20_000).optional(),
    subject: z.string().trim().max(500).optional(),
    templateId: z
      .string()
      .regex(/^([\w-]+\.)?[\w-]+(\.(email|whatsapp|sms))?$/)
      .max(120)
      .optional()
      .describe('A template id (pt-BR.meeting_request.email) or name (meeting_request): the lead\'s channel and the workspace locale pick the rest'),
    variables: z.record(z.string(), z.unknown()).optional(),
    channel: z.enum(channelKinds).optional(),
    attachmentIds: z
      .array(z.string().min(1).max(100))
      .min(1)
      .max(maxAttachmentsPerMessage)
      .optional()
      .describe('Files to send with the message: ids that POST /api/v1/uploads answered'),
    sendAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Send at this time instead of now (up to a year ahead): the message waits as "scheduled" and can be canceled until then'),
  })
  .strict()
  .refine((body) => !(body.text && body.templateId), { message: 'send either text or templateId', path: ['text'] })
  .refine((body) => Boolean(body.text || body.templateId || body.attachmentIds), { message: 'send text, templateId or attachmentIds', path: ['text'] });

/** An email typed by a person ends with the business's signature, after the conventional "-- " line. */
export function withSignature(text: string, signature: string | null): string {
  if (!signature?.trim() || !text) return text;
  return `${text}\n\n-- \n${signature.trim()}`;
}

/** A sendAt a little in the past (a clock behind, a slow request) means now. */
const sendAtSlackMs = 60_000;

function presentActivity(row: Activity) {
  const data = row.data as Record<string, unknown>;
  const actorId = row.actorType === 'api_key' ? ((data.apiKeyId as string | undefined) ?? null) : row.actorId;
  return { id: row.id, kind: row.kind, actor: { type: row.actorType, id: actorId }, data, createdAt: row.createdAt.toISOString() };
}

export function presentMessage(row: Message & { attachments: Attachment[] }) {
  return {
    id: row.id,
    leadId: row.leadId,
    direction: row.direction as 'in' | 'out',
    channel: row.channel,
    text: row.text,
    fullText: row.fullText,
    subject: row.subject,
    fields: row.fields as Record<string, unknown> | null,
    attachments: row.attachments.map((a) => ({
      id: a.id,
      filename: a.filename,
      contentType: a.contentType,
      size: a.size,
      url: `/api/v1/attachments/${a.id}`,
      status: a.status as 'stored' | 'pending' | 'failed',
      ...(a.error ? { error: a.error } : {}),
    })),
    status: row.status as z.infer<typeof messageView>['status'],
    scheduledAt: row.scheduledAt?.toISOString() ?? null,
    ...(row.error ? { error: row.error } : {}),
    ...(row.errorCode ? { errorCode: row.errorCode } : {}),
    attempts: row.attempts,
    to: row.toAddress,
    automatic: row.automatic,
    createdAt: row.createdAt.toISOString(),
    sentAt: row.sentAt?.toISOString() ?? null,
  };
}

/** Leads, their timeline, notes and conversation; messages. */
export function leadRoutes(deps: AppDeps): RouteDef[] {
  const { db, outbound, templates } = deps;
  const prisma = db.prisma;


  return [
    route({
      method: 'get',
      path: '/leads',
      summary: 'List leads, newest first',
      tag: 'leads',
      query: leadListQuery,
      response: { status: 200, description: 'A page of leads', schema: listSchema(leadView) },
      handler: async ({ query, auth }) => {
        const cursor = decodeCursor(query.cursor);
        const and: Prisma.LeadWhereInput[] = [await visibleLeadsWhere(prisma, auth)];
        if (query.stage) and.push({ stage: query.stage });
        if (query.ownerId) and.push({ ownerId: query.ownerId === 'none' ? null : query.ownerId === 'me' ? (auth.userId ?? '-') : query.ownerId });
        if (query.segment) and.push({ segment: { equals: query.segment, mode: 'insensitive' } });
        if (query.channel) and.push({ channel: query.channel });
        if (query.product) {
          and.push({ products: { some: { product: { OR: [{ id: query.product }, { name: { equals: query.product, mode: 'insensitive' } }] } } } });
        }
        if (query.createdFrom) and.push({ createdAt: { gte: new Date(query.createdFrom) } });
        if (query.createdTo) and.push({ createdAt: { lt: new Date(query.createdTo) } });
        if (query.q) {
          const digits = query.q.replace(/\D/g, '');
          const values = [query.q.toLowerCase(), ...(digits.length >= 3 ? [digits] : [])];
          and.push({
            OR: [
              { name: { contains: query.q, mode: 'insensitive' } },
              { company: { contains: query.q, mode: 'insensitive' } },
              ...values.map((value) => ({ contact: { identities: { some: { value: { contains: value, mode: 'insensitive' as const } } } } })),
            ],
          });
        }
        and.push(afterCursor(cursor, 'desc'));
        const rows = await prisma.lead.findMany({
          where: { AND: and },
          include: leadInclude,
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return { data: result.data.map(presentLead), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'get',
      path: '/leads/:id',
      summary: 'Get a lead with its qualifiers, owner, score and why',
      tag: 'leads',
      params: byId,
      response: { status: 200, description: 'The lead', schema: leadView },
      handler: async ({ params, auth }) => presentLead(await findVisibleLead(prisma, auth, params.id)),
    }),
    route({
      method: 'patch',
      path: '/leads/:id',
      summary: 'Change a lead: stage, owner, qualifiers, tags, custom fields',
      tag: 'leads',
      params: byId,
      body: leadPatch,
      response: { status: 200, description: 'The updated lead', schema: leadView },
      handler: async ({ params, body, auth }) => {
        const before = await findVisibleLead(prisma, auth, params.id);
        const { stage, ownerId, products, customFields, lossReason, ...plain } = body;
        if (body.ownerId) {
          const owner = await prisma.user.findFirst({ where: { id: body.ownerId, workspaceId: auth.workspaceId } });
          if (!owner) throw new ValidationError([{ path: 'ownerId', message: 'no user with this id in the workspace' }]);
        }
        if (body.products) {
          const found = await prisma.product.count({ where: { workspaceId: auth.workspaceId, id: { in: body.products } } });
          if (found !== new Set(body.products).size) throw new ValidationError([{ path: 'products', message: 'every product must be a product id of the workspace' }]);
        }
        if (ownerId !== undefined && ownerId !== before.ownerId && auth.role === 'rep') {
          throw new ProblemError('forbidden', 'only owners and managers reassign leads; a rep may claim an unassigned lead');
        }
        if (plain.segment) plain.segment = await segmentName(prisma, auth.workspaceId, plain.segment);
        if (body.customFields) await validateCustomFields(prisma, auth.workspaceId, body.customFields);
        await prisma.$transaction(async (tx) => {
          const changes: Record<string, { before: unknown; after: unknown }> = {};
          for (const [key, value] of Object.entries(plain)) {
            const previous = (before as unknown as Record<string, unknown>)[key];
            const comparable = previous !== null && typeof previous === 'object' && 'toNumber' in (previous as object) ? Number(previous) : previous;
            if (JSON.stringify(comparable) !== JSON.stringify(value)) changes[key] = { before: comparable ?? null, after: value };
          }
          const mergedFields = customFields
            ? Object.fromEntries(
                Object.entries({ ...(before.customFields as Record<string, unknown>), ...customFields }).filter(([, value]) => value !== null),
              )
            : undefined;
          if (mergedFields) changes.customFields = { before: before.customFields, after: mergedFields };
          await tx.lead.update({
            where: { id: before.id },
            data: {
              ...(plain as Prisma.LeadUncheckedUpdateInput),
              ...(ownerId !== undefined ? { ownerId, assignmentRuleId: null, assignmentReason: 'changed by hand' } : {}),
              ...(mergedFields ? { customFields: mergedFields as Prisma.InputJsonValue } : {}),
              lastActivityAt: new Date(),
            },
          });
          if (products) {
            const previous = before.products.map((p) => p.productId).sort();
            await tx.leadProduct.deleteMany({ where: { leadId: before.id } });
            await tx.leadProduct.createMany({ data: [...new Set(products)].map((productId) => ({ leadId: before.id, productId, workspaceId: auth.workspaceId })) });
            changes.products = { before: previous, after: [...new Set(products)].sort() };
          }
          const base = { workspaceId: auth.workspaceId, leadId: before.id, actor: auth.actor };
          if (stage) await changeStage(tx, { ...base, to: stage, reason: lossReason ?? null });
          if (ownerId !== undefined && ownerId !== before.ownerId) {
            await recordActivity(tx, { ...base, kind: 'lead.assigned', data: { before: before.ownerId, after: ownerId, ruleId: null, reason: 'changed by hand' } });
          }
          if (Object.keys(changes).length > 0) await recordActivity(tx, { ...base, kind: 'lead.updated', data: { changes } });
          await rescoreLead(tx, before.id, { actor: auth.actor });
        });
        return presentLead(await findVisibleLead(prisma, auth, params.id));
      },
    }),
    route({
      method: 'get',
      path: '/leads/:id/activities',
      summary: 'The lead\'s timeline, newest first',
      tag: 'leads',
      params: byId,
      query: pageQuery,
      response: { status: 200, description: 'A page of activities', schema: listSchema(activityView) },
      handler: async ({ params, query, auth }) => {
        await findVisibleLead(prisma, auth, params.id);
        const rows = await prisma.activity.findMany({
          where: { leadId: params.id, workspaceId: auth.workspaceId, ...afterCursor(decodeCursor(query.cursor), 'desc') },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return { data: result.data.map(presentActivity), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/notes',
      summary: 'Add a private note to the lead\'s timeline',
      tag: 'leads',
      params: byId,
      body: z.object({ text: z.string().trim().min(1).max(20_000) }).strict(),
      response: { status: 201, description: 'The note, as a timeline entry', schema: activityView },
      handler: async ({ params, body, auth }) => {
        await findVisibleLead(prisma, auth, params.id);
        const id = await prisma.$transaction(async (tx) => {
          const activityId = await recordActivity(tx, { workspaceId: auth.workspaceId, leadId: params.id, kind: 'note.added', actor: auth.actor, data: { text: body.text } });
          await tx.lead.update({ where: { id: params.id }, data: { lastActivityAt: new Date() } });
          return activityId;
        });
        return presentActivity(await prisma.activity.findUniqueOrThrow({ where: { id } }));
      },
    }),
    route({
      method: 'post',
      path: '/leads/:id/messages',
      summary: 'Send a message to the lead over its own channel (or another the contact has), now or at sendAt, with files',
      description:
        'Files are uploaded first (POST /api/v1/uploads) and named by id in attachmentIds. Email carries them as attachments; WhatsApp as ' +
        'image, video, audio or document messages (the text is the caption of the first that has one); SMS as MMS media, which Twilio ' +
        'fetches by URL, so only when PUBLIC_URL is set (422 attachments-not-supported otherwise). With sendAt the message is stored ' +
        '"scheduled" and sent at that time (DELETE /api/v1/messages/:id cancels it until then); opt-outs and quiet hours apply when it goes out.',
      tag: 'messages',
      params: byId,
      body: sendBody,
      response: {
        status: 202,
        description: 'Queued, or scheduled when sendAt is later',
        schema: z.object({ messageId: z.string(), status: z.enum(['queued', 'scheduled']), channel: z.string(), scheduledAt: z.string().optional() }),
      },
      handler: async ({ params, body, auth }) => {
        const lead = await findVisibleLead(prisma, auth, params.id);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId } });
        const sendAt = body.sendAt ? new Date(body.sendAt) : undefined;
        if (sendAt && sendAt.getTime() < Date.now() - sendAtSlackMs) throw new ValidationError([{ path: 'sendAt', message: 'must be in the future' }]);
        if (sendAt && sendAt.getTime() > Date.now() + 366 * 24 * 3600_000) throw new ValidationError([{ path: 'sendAt', message: 'must be within a year' }]);
        const scheduled = sendAt && sendAt.getTime() > Date.now() ? sendAt : undefined;
        const template = body.templateId ? (parseTemplateId(body.templateId) ?? { name: body.templateId, locale: workspace.locale, channel: undefined }) : undefined;
        const { messageId, channel } = await prisma.$transaction(async (tx) => {
          const plan = await outbound.planReply(tx, lead.id, body.channel ?? template?.channel);
          if (body.attachmentIds && plan.channel === 'sms' && !deps.config.publicUrlConfigured) {
            throw new ProblemError(
              'attachments_not_supported',
              'an SMS can carry files (MMS) only when Twilio can fetch them from the gateway: set PUBLIC_URL to the address the internet reaches it at',
            );
          }
          const content = template
            ? await renderForLead(tx, templates, lead, { name: template.name, locale: template.locale, channel: plan.channel }, body.variables ?? {})
            : {
                text: withSignature(body.text ?? '', plan.channel === 'email' ? workspace.signature : null),
                subject: body.subject ?? (plan.channel === 'email' ? replySubject(plan.thread?.subject, workspace.name) : undefined),
              };
          const id = await outbound.queueMessage(tx, {
            workspaceId: auth.workspaceId,
            leadId: lead.id,
            ...plan,
            text: content.text,
            ...('html' in content && content.html ? { html: content.html } : {}),
            ...(content.subject ? { subject: content.subject } : {}),
            ...(template ? { templateName: template.name } : {}),
            ...(body.attachmentIds ? { attachments: { ids: body.attachmentIds, uploadedBy: uploaderKey(auth.actor) } } : {}),
            ...(scheduled ? { sendAt: scheduled } : {}),
            automatic: false,
            author: auth.actor,
          });
          await tx.lead.update({ where: { id: lead.id }, data: { lastActivityAt: new Date() } });
          return { messageId: id, channel: plan.channel };
        });
        outbound.wake(messageId, scheduled);
        return { messageId, status: scheduled ? 'scheduled' : 'queued', channel, ...(scheduled ? { scheduledAt: scheduled.toISOString() } : {}) };
      },
    }),
    route({
      method: 'get',
      path: '/leads/:id/reply-options',
      summary: 'Where a reply to the lead would go on each channel the contact can be answered on, and an email reply\'s subject',
      description:
        'One entry per channel this workspace can send to the contact on, the one a reply without `channel` takes first. `to` is the ' +
        'address or number the message goes to; `subject` (email only) is what the reply is sent with unless it names another: the ' +
        'thread it answers, else the workspace\'s name.',
      tag: 'messages',
      params: byId,
      response: {
        status: 200,
        description: 'The reply routes',
        schema: z.object({ data: z.array(z.object({ channel: z.enum(channelKinds), to: z.string(), subject: z.string().optional() })) }),
      },
      handler: async ({ params, auth }) => {
        const lead = await findVisibleLead(prisma, auth, params.id);
        const workspace = await prisma.workspace.findUniqueOrThrow({ where: { id: auth.workspaceId } });
        const plan = (channel?: ChannelKind) =>
          outbound.planReply(prisma, lead.id, channel).then(
            (route) => route,
            (error: unknown) => {
              if (error instanceof ProblemError && error.code === 'no_reply_channel') return null;
              throw error;
            },
          );
        const first = await plan();
        const routes = [first, ...(await Promise.all((['email', 'whatsapp', 'sms'] as const).filter((channel) => channel !== first?.channel).map((channel) => plan(channel))))];
        return {
          data: routes
            .filter((route) => route !== null)
            .map((route) => ({
              channel: route.channel,
              to: route.to,
              ...(route.channel === 'email' ? { subject: replySubject(route.thread?.subject, workspace.name) } : {}),
            })),
        };
      },
    }),
    route({
      method: 'get',
      path: '/leads/:id/messages',
      summary: 'The conversation across channels, oldest first',
      tag: 'messages',
      params: byId,
      query: pageQuery,
      response: { status: 200, description: 'A page of messages', schema: listSchema(messageView) },
      handler: async ({ params, query, auth }) => {
        await findVisibleLead(prisma, auth, params.id);
        const rows = await prisma.message.findMany({
          where: { leadId: params.id, workspaceId: auth.workspaceId, ...afterCursor(decodeCursor(query.cursor), 'asc') },
          include: { attachments: true },
          orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
          take: query.limit + 1,
        });
        const result = page(rows, query.limit, (row) => row.createdAt);
        return { data: result.data.map(presentMessage), nextCursor: result.nextCursor };
      },
    }),
    route({
      method: 'get',
      path: '/messages/:id',
      summary: 'One message, with its delivery status and last error',
      tag: 'messages',
      params: byId,
      response: { status: 200, description: 'The message', schema: messageView },
      handler: async ({ params, auth }) => {
        const row = await prisma.message.findFirst({ where: { id: params.id, lead: await visibleLeadsWhere(prisma, auth) }, include: { attachments: true } });
        if (!row) throw new NotFoundError('message');
        return presentMessage(row);
      },
    }),
    route({
      method: 'get',
      path: '/attachments/:id',
      summary: 'Download an attachment',
      tag: 'messages',
      params: byId,
      response: { status: 200, description: 'The file, with its own content type' },
      handler: async ({ params, auth, res }) => {
        const row = await prisma.attachment.findFirst({ where: { id: params.id, workspaceId: auth.workspaceId } });
        // A file not yet sent with a message is its uploader's alone.
        const visible = row?.messageId
          ? await prisma.message.count({ where: { id: row.messageId, lead: await visibleLeadsWhere(prisma, auth) } })
          : row && !row.eventId && row.uploadedBy === uploaderKey(auth.actor);
        if (!row || !visible) throw new NotFoundError('attachment');
        if (row.status !== 'stored') {
          throw new ProblemError('conflict', row.status === 'pending' ? 'the file is still being fetched from the channel' : `the file could not be fetched: ${row.error ?? 'no reason given'}`);
        }
        res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(row.filename)}`);
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.status(200).type(row.contentType).send(Buffer.from(row.data));
        return undefined;
      },
    }),
  ];
}
