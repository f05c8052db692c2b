import type { Router } from 'express';
import { z } from 'zod';
import type {
  AdapterContext,
  ChannelAdapter,
  DueAttachment,
  OutboundConnection,
  OutboundMessage,
  SourceKindSpec,
  SourceRecord,
} from '../../src/channels/contract.js';
import { ChannelError, errorMessage } from '../../src/errors.js';
import { backoffMs } from '../../src/queue/backoff.js';
import { GraphClient, GraphError, type GraphOptions, defaultGraph } from '../meta/graph.js';
import { metaSecretsShape, metaWebhookPath, metaWebhookRoutes, newVerifyToken } from '../meta/webhook.js';
import { type CloudRaw, mediaOf, readCloudWebhook } from './normalize.js';
import { AttachmentDownloads } from '../../src/channels/attachment-downloads.js';

/** Meta's customer-service window: free-form messages only within 24 hours of the person's last one. */
export const serviceWindowMs = 24 * 60 * 60_000;

const digits = (what: string) => z.string().regex(/^\d{5,30}$/, `must be the ${what} (digits only), as Meta's dashboard shows it`);

/** A workspace template and the approved WhatsApp template that stands for it outside the window. */
const templateMapping = z
  .object({
    template: z.string().regex(/^[\w-]{1,100}$/).describe('The workspace template (its name, such as "acknowledgement")'),
    name: z.string().regex(/^[a-z0-9_]{1,512}$/, 'must be the name of an approved WhatsApp template (lowercase, digits and _)'),
    language: z.string().regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, 'must be a WhatsApp template language code such as pt_BR or en_US'),
    variables: z
      .array(z.string().regex(/^[A-Za-z_][\w.]{0,100}$/))
      .max(20)
      .default([])
      .describe('The variable filling each {{n}} of the template body, in order, e.g. ["lead.firstName", "owner.name"]'),
  })
  .strict();

const createSchema = z
  .object({
    appSecret: z.string().min(16).max(200).describe('App settings → Basic → App secret: signs every webhook'),
    accessToken: z.string().min(20).max(1000).describe('A system user\'s permanent token with whatsapp_business_messaging'),
    phoneNumberId: digits('phone number id'),
    businessAccountId: digits('WhatsApp Business Account id').optional(),
    templates: z.array(templateMapping).max(100).optional(),
    automaticPerPersonPerDay: z.number().int().min(1).max(20).optional(),
  })
  .strict();
type CloudInput = z.infer<typeof createSchema>;

const storedSettings = z.object({
  phoneNumberId: z.string(),
  businessAccountId: z.string().nullable().default(null),
  templates: z.array(templateMapping).default([]),
  automaticPerPersonPerDay: z.number().int().default(3),
});
type CloudSettings = z.infer<typeof storedSettings>;
const storedSecrets = z.object({ ...metaSecretsShape, accessToken: z.string() });

const phoneNumberAnswer = z.object({ id: z.string(), display_phone_number: z.string().optional(), verified_name: z.string().optional() }).loose();
const mediaAnswer = z.object({ url: z.string(), mime_type: z.string().optional(), file_size: z.union([z.number(), z.string()]).optional(), id: z.string().optional() }).loose();
const sendAnswer = z.object({ messages: z.array(z.object({ id: z.string() }).loose()).min(1) }).loose();
const uploadAnswer = z.object({ id: z.string() }).loose();

function dropUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function spec(graph: GraphClient): SourceKindSpec<CloudInput> {
  return {
    createSchema,
    updateSchema: createSchema.partial(),
    prepare(input, previous) {
      const { appSecret, accessToken, ...settings } = input;
      const before = previous ? storedSecrets.partial().parse(previous.secrets) : {};
      return {
        settings: storedSettings.parse({ ...(previous?.settings ?? {}), ...dropUndefined(settings) }),
        secrets: {
          appSecret: appSecret ?? before.appSecret,
          accessToken: accessToken ?? before.accessToken,
          verifyToken: before.verifyToken ?? newVerifyToken(),
        },
      };
    },
    /** The token must reach the phone number: a wrong id or an expired token answers 422 before anything is saved. */
    async verify(prepared) {
      const settings = storedSettings.parse(prepared.settings);
      const { accessToken } = storedSecrets.parse(prepared.secrets);
      try {
        await graph.get(`/${settings.phoneNumberId}`, accessToken, phoneNumberAnswer, { fields: 'display_phone_number,verified_name' });
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        if (error.tokenExpired || error.httpStatus === 401) throw new ChannelError('accessToken_rejected', `Meta refused the access token: ${error.message}`, false, { cause: error });
        if (error.metaCode === 100 || error.httpStatus === 404 || error.metaCode === 200) {
          throw new ChannelError('phoneNumberId_not_found', `the access token cannot reach phone number id ${settings.phoneNumberId}: ${error.message}`, false, { cause: error });
        }
        throw new ChannelError('graph_unreachable', `the Graph API could not check the token: ${error.message}`, false, { cause: error });
      }
    },
    present(source, publicUrl) {
      const settings = storedSettings.parse(source.settings);
      return {
        webhookUrl: metaWebhookPath(publicUrl, source.id),
        // Pasted into Meta's dashboard next to the callback URL, so it is shown.
        verifyToken: storedSecrets.parse(source.secrets).verifyToken,
        ...settings,
      };
    },
  };
}

export interface WhatsAppCloudOptions {
  graph?: GraphOptions;
  /** Backoff of media downloads that failed (Graph down, token expired). */
  retry?: { baseMs: number; maxMs: number };
}

/**
 * WhatsApp through Meta's Cloud API: signed webhooks in, Graph API calls out. The same person
 * as on a linked-device number (phone in E.164, WhatsApp id), the same conversation rules.
 */
export class WhatsAppCloudAdapter implements ChannelAdapter {
  readonly kind = 'whatsapp_cloud';
  readonly sends = ['whatsapp'] as const;
  readonly replyWindow = true;
  readonly source: SourceKindSpec;
  private readonly graph: GraphClient;
  private readonly retry: { baseMs: number; maxMs: number };
  private ctx: AdapterContext | undefined;
  /** Sources whose pending media this process is looking at now. */
  private readonly downloads = new AttachmentDownloads(this.kind, 'WhatsApp Cloud media', (ctx, source, file) => this.fetchOne(ctx, source, file));
  /** Sources this process put in error for an expired token: the next success clears it. */
  private readonly inError = new Set<string>();
  private sweep: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: WhatsAppCloudOptions = {}) {
    this.graph = new GraphClient(options.graph ?? defaultGraph);
    this.retry = options.retry ?? { baseMs: 5_000, maxMs: 900_000 };
    this.source = spec(this.graph) as unknown as SourceKindSpec;
  }

  automaticDailyCap(settings: Record<string, unknown>): number {
    return storedSettings.parse(settings).automaticPerPersonPerDay;
  }

  routes(ctx: AdapterContext): Router {
    this.ctx = ctx;
    return metaWebhookRoutes(ctx, {
      kind: this.kind,
      receive: async (source, body) => {
        const { phoneNumberId } = storedSettings.parse(source.settings);
        let files = false;
        // One at a time, in the order Meta sent them: a person's messages keep their order.
        for (const read of readCloudWebhook(body, phoneNumberId)) {
          const result = await ctx.capture({ ...read.event, sourceId: source.id }, read.rejectedBecause ? { rejectedBecause: read.rejectedBecause } : undefined);
          if (result.created && read.event.attachments?.length) files = true;
        }
        if (files) this.downloads.look(ctx, source.id);
      },
    });
  }

  /** Retries media downloads that failed for a while on every source. */
  async start(ctx: AdapterContext): Promise<void> {
    if (this.sweep) throw new Error('the whatsapp_cloud adapter is already started');
    this.ctx = ctx;
    this.sweep = setInterval(() => {
      ctx.listSources(this.kind).then(
        (sources) => sources.forEach((source) => this.downloads.look(ctx, source.id)),
        (error: unknown) => ctx.logger.warn({ err: error }, 'could not list WhatsApp Cloud sources for media downloads'),
      );
    }, mediaSweepMs);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweep);
    this.sweep = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }


  /**
   * Media come as an id: Graph turns it into a short-lived URL, fetched with the same token.
   * @see https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#download-media
   */
  private async fetchOne(ctx: AdapterContext, source: SourceRecord, file: DueAttachment): Promise<void> {
    const raw = file.raw as Partial<CloudRaw> | null;
    const media = raw?.message ? mediaOf(raw.message) : null;
    if (!media || media.filename !== file.filename) {
      await ctx.attachments.failed(file.id, 'the stored message names no file to download');
      return;
    }
    const { accessToken } = storedSecrets.parse(source.secrets);
    try {
      const { url } = await this.graph.get(`/${media.id}`, accessToken, mediaAnswer);
      const download = await this.graph.download(url, accessToken, ctx.maxUploadBytes);
      if ('tooLarge' in download) {
        await ctx.attachments.failed(file.id, `too large (${download.tooLarge} bytes; the limit is ${ctx.maxUploadBytes})`);
        return;
      }
      await ctx.attachments.store(file.id, download.data);
      await this.healthy(source.id);
    } catch (error) {
      if (error instanceof GraphError && error.tokenExpired) await this.tokenExpired(source.id, error);
      const tries = file.attempts + 1;
      const reason = `could not be downloaded: ${errorMessage(error)}`;
      ctx.logger.warn({ err: error, attachmentId: file.id, tries }, 'could not download WhatsApp Cloud media');
      if (tries >= mediaAttempts || (error instanceof GraphError && !error.retryable && !error.tokenExpired)) {
        await ctx.attachments.failed(file.id, `${reason} (gave up after ${tries} ${tries === 1 ? 'try' : 'tries'})`);
        return;
      }
      const delay = backoffMs(tries, this.retry.baseMs, this.retry.maxMs);
      await ctx.attachments.failed(file.id, reason, new Date(Date.now() + delay));
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.downloads.look(ctx, source.id);
      }, delay + 10);
      timer.unref();
      this.timers.add(timer);
    }
  }

  private async tokenExpired(sourceId: string, error: GraphError): Promise<void> {
    this.inError.add(sourceId);
    await this.ctx?.setStatus(sourceId, { state: 'error', detail: 'The access token expired or was revoked: paste a new one', lastError: error.message });
  }

  private async healthy(sourceId: string): Promise<void> {
    if (!this.inError.delete(sourceId)) return;
    await this.ctx?.setStatus(sourceId, { state: 'connected' });
  }

  /**
   * Text, a file, or outside the 24-hour window an approved template: a message that WhatsApp
   * would refuse fails here, before anything is sent, with the reason.
   * @see https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
   */
  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const settings = storedSettings.parse(connection.settings);
    const { accessToken } = storedSecrets.parse(connection.secrets);
    const to = message.to.replace(/@.*$/, '').replace(/^\+/, '');
    const last = message.lastInboundAt ?? null;
    const inWindow = last !== null && Date.now() - last.getTime() < serviceWindowMs;
    let body: Record<string, unknown>;
    if (inWindow) {
      body = await this.freeForm(connection, settings, accessToken, to, message);
    } else {
      const mapping = message.template ? settings.templates.find((candidate) => candidate.template === message.template!.name) : undefined;
      if (!mapping || !message.template) {
        const since = last ? `the person last wrote ${last.toISOString()}, more than 24 hours ago` : 'the person never wrote to this number';
        throw new ChannelError(
          'outside_window',
          message.template
            ? `${since}; outside WhatsApp's 24-hour window only an approved template can be sent, and the template "${message.template.name}" is not mapped to one on this source`
            : `${since}; outside WhatsApp's 24-hour window only an approved template can be sent, not a free-form message`,
          false,
        );
      }
      body = templateBody(to, mapping, await message.template.variables());
    }
    try {
      const sent = await this.graph.post(`/${settings.phoneNumberId}/messages`, accessToken, body, sendAnswer);
      await this.healthy(connection.id);
      return { externalId: sent.messages[0]!.id };
    } catch (error) {
      if (error instanceof GraphError && error.tokenExpired) await this.tokenExpired(connection.id, error);
      throw error;
    }
  }

  private async freeForm(connection: OutboundConnection, settings: CloudSettings, accessToken: string, to: string, message: OutboundMessage): Promise<Record<string, unknown>> {
    const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to };
    const files = message.attachments ?? [];
    if (files.length === 0) return { ...base, type: 'text', text: { body: message.text, preview_url: false } };
    if (files.length > 1) throw new ChannelError('too_many_files', 'a WhatsApp Cloud API message carries one file; send the others in messages of their own', false);
    const file = files[0]!;
    const type = file.contentType.startsWith('image/') ? 'image' : file.contentType.startsWith('video/') ? 'video' : file.contentType.startsWith('audio/') ? 'audio' : 'document';
    const id = await this.upload(connection, settings, accessToken, file);
    const caption = message.text.trim();
    return {
      ...base,
      type,
      [type]: { id, ...(caption && type !== 'audio' ? { caption } : {}), ...(type === 'document' ? { filename: file.filename } : {}) },
    };
  }

  /** @see https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media */
  private async upload(connection: OutboundConnection, settings: CloudSettings, accessToken: string, file: { filename: string; contentType: string; data: Buffer }): Promise<string> {
    const form = new FormData();
    form.set('messaging_product', 'whatsapp');
    form.set('type', file.contentType);
    form.set('file', new Blob([new Uint8Array(file.data)], { type: file.contentType }), file.filename);
    try {
      return (await this.graph.postForm(`/${settings.phoneNumberId}/media`, accessToken, form, uploadAnswer)).id;
    } catch (error) {
      if (error instanceof GraphError && error.tokenExpired) await this.tokenExpired(connection.id, error);
      throw error;
    }
  }
}

/**
 * An approved template with the body's {{n}} filled from the lead's variables, in the mapping's order.
 * @see https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
 */
function templateBody(to: string, mapping: z.infer<typeof templateMapping>, variables: Record<string, unknown>): Record<string, unknown> {
  const value = (path: string): string => {
    let current: unknown = variables;
    for (const part of path.split('.')) current = current && typeof current === 'object' ? (current as Record<string, unknown>)[part] : undefined;
    return current === null || current === undefined ? '' : String(current);
  };
  const missing = mapping.variables.filter((path) => value(path).trim() === '');
  if (missing.length > 0) {
    throw new ChannelError('template_variable_missing', `the WhatsApp template "${mapping.name}" needs ${missing.join(', ')}, which this lead does not have`, false);
  }
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: mapping.name,
      language: { code: mapping.language },
      ...(mapping.variables.length > 0 ? { components: [{ type: 'body', parameters: mapping.variables.map((path) => ({ type: 'text', text: value(path) })) }] } : {}),
    },
  };
}

const mediaSweepMs = 60_000;
const mediaAttempts = 6;
