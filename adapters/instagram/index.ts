import type { Router } from 'express';
import { z } from 'zod';
import type {
  AdapterContext,
  ChannelAdapter,
  DueAttachment,
  InboundEvent,
  LaterAttachment,
  OutboundConnection,
  OutboundMessage,
  SourceKindSpec,
  SourceRecord,
} from '../../src/channels/contract.js';
import { ChannelError, errorMessage } from '../../src/errors.js';
import { backoffMs } from '../../src/queue/backoff.js';
import { GraphClient, GraphError, type GraphOptions, defaultGraph } from '../meta/graph.js';
import { metaSecretsShape, metaWebhookPath, metaWebhookRoutes, newVerifyToken } from '../meta/webhook.js';
import { AttachmentDownloads } from '../../src/channels/attachment-downloads.js';

/** Meta's messaging window: a business answers an Instagram message within 24 hours of the person's last one. */
export const messagingWindowMs = 24 * 60 * 60_000;

const digits = (what: string) => z.string().regex(/^\d{5,30}$/, `must be the ${what} (digits only)`);

const createSchema = z
  .object({
    appSecret: z.string().min(16).max(200).describe('App settings → Basic → App secret: signs every webhook'),
    accessToken: z.string().min(20).max(1000).describe('The access token of the Facebook page linked to the Instagram account (instagram_manage_messages)'),
    pageId: digits('Facebook page id linked to the Instagram account'),
    instagramAccountId: digits('Instagram professional account id'),
  })
  .strict();
type InstagramInput = z.infer<typeof createSchema>;

const storedSettings = z.object({ pageId: z.string(), instagramAccountId: z.string() });
const storedSecrets = z.object({ ...metaSecretsShape, accessToken: z.string() });

/**
 * One `messaging` item of an `instagram` webhook.
 * @see https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook
 */
const attachment = z.object({ type: z.string(), payload: z.object({ url: z.string().optional(), title: z.string().optional() }).loose().optional() }).loose();
const referral = z
  .object({
    ref: z.string().optional(),
    ad_id: z.string().optional(),
    source: z.string().optional(),
    type: z.string().optional(),
    ads_context_data: z.object({ ad_title: z.string().optional(), photo_url: z.string().optional(), video_url: z.string().optional(), post_id: z.string().optional() }).loose().optional(),
  })
  .loose();
const messaging = z
  .object({
    sender: z.object({ id: z.string() }),
    recipient: z.object({ id: z.string() }),
    timestamp: z.number().optional(),
    message: z
      .object({
        mid: z.string(),
        text: z.string().optional(),
        is_echo: z.boolean().optional(),
        is_deleted: z.boolean().optional(),
        is_unsupported: z.boolean().optional(),
        attachments: z.array(attachment).optional(),
        reply_to: z.object({ mid: z.string().optional(), story: z.object({ url: z.string().optional(), id: z.string().optional() }).loose().optional() }).loose().optional(),
        quick_reply: z.object({ payload: z.string() }).loose().optional(),
        referral: referral.optional(),
      })
      .loose()
      .optional(),
    referral: referral.optional(),
  })
  .loose();
type Messaging = z.infer<typeof messaging>;
const entry = z.object({ id: z.string().optional(), messaging: z.array(z.unknown()).default([]) }).loose();

const profileAnswer = z.object({ name: z.string().optional(), username: z.string().optional() }).loose();
const accountAnswer = z.object({ id: z.string(), username: z.string().optional() }).loose();
const sendAnswer = z.object({ message_id: z.string() }).loose();

const contentTypes: Record<string, { contentType: string; extension: string }> = {
  image: { contentType: 'image/jpeg', extension: 'jpg' },
  video: { contentType: 'video/mp4', extension: 'mp4' },
  audio: { contentType: 'audio/mp4', extension: 'm4a' },
  file: { contentType: 'application/octet-stream', extension: 'bin' },
};

/** What a stored message keeps: the messaging item itself (its files are downloaded from it later). */
interface InstagramRaw {
  messaging: Messaging;
}

/** The files of a message that can be downloaded, named by their position so a stored message says which is which. */
function filesOf(item: Messaging): { url: string; filename: string; contentType: string }[] {
  const mid = item.message?.mid.replace(/[^\w-]/g, '').slice(-24) ?? 'file';
  return (item.message?.attachments ?? []).flatMap((file, index) => {
    const kind = contentTypes[file.type];
    const url = file.payload?.url;
    if (!kind || !url || !/^https:\/\//.test(url)) return [];
    return [{ url, filename: `${mid}-${index + 1}.${kind.extension}`, contentType: kind.contentType }];
  });
}

/** Keeps an ad's names as the other Meta channels do, so insights split leads by ad alike. */
function adAttribution(ref: z.infer<typeof referral> | undefined): Record<string, string> {
  if (!ref) return {};
  const values: Record<string, string | undefined> = {
    ad_id: ref.ad_id,
    ad_source_type: ref.source?.toLowerCase(),
    ad_title: ref.ads_context_data?.ad_title,
    ad_media_url: ref.ads_context_data?.photo_url ?? ref.ads_context_data?.video_url,
    ad_post_id: ref.ads_context_data?.post_id,
    ad_ref: ref.ref,
  };
  return Object.fromEntries(Object.entries(values).filter((pair): pair is [string, string] => Boolean(pair[1]?.trim())).map(([k, v]) => [k, v.trim().slice(0, 500)]));
}

/**
 * A person's message to the business's Instagram account as an event: text, files, a story reply
 * or mention kept with its link, an ad's referral as attribution. Null for what is not a person's
 * message (our own echoes, deletions, read receipts).
 */
export function readInstagramMessage(item: Messaging, accountId: string): Omit<InboundEvent, 'sourceId'> | null {
  const message = item.message;
  if (!message || message.is_echo || message.is_deleted || item.recipient.id !== accountId) return null;
  const fields: Record<string, string> = {};
  const lines: string[] = [];
  if (message.text?.trim()) lines.push(message.text.trim());
  const story = message.reply_to?.story;
  if (story?.url) {
    fields.storyUrl = story.url;
    lines.push(`Replied to your story: ${story.url}`);
  }
  for (const file of message.attachments ?? []) {
    const url = file.payload?.url;
    if (file.type === 'story_mention') {
      if (url) fields.storyMentionUrl = url;
      lines.push(`Mentioned you in their story${url ? `: ${url}` : ''}`);
    } else if (!contentTypes[file.type]) {
      // Shares, reels, posts: not files to store, links to keep.
      if (url) fields[`${file.type}Url`] = url;
      lines.push(`[${file.type}]${url ? ` ${url}` : ''}`);
    }
  }
  if (message.is_unsupported) lines.push('[a message Instagram does not pass on]');
  if (message.quick_reply) fields.replyId = message.quick_reply.payload;
  const files = filesOf(item);
  const attachments: LaterAttachment[] = files.map((file) => ({ filename: file.filename, contentType: file.contentType, later: { status: 'pending' } }));
  const attribution = adAttribution(message.referral ?? item.referral);
  return {
    channel: 'instagram',
    externalId: message.mid,
    from: { instagramId: item.sender.id },
    receivedAt: item.timestamp ? new Date(item.timestamp) : new Date(),
    ...(lines.length > 0 ? { text: lines.join('\n') } : {}),
    ...(message.reply_to?.mid ? { threadRefs: [message.reply_to.mid] } : {}),
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    ...(Object.keys(attribution).length > 0 ? { attribution } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    raw: { messaging: item } satisfies InstagramRaw,
  };
}

function spec(graph: GraphClient): SourceKindSpec<InstagramInput> {
  return {
    createSchema,
    updateSchema: createSchema.partial(),
    prepare(input, previous) {
      const { appSecret, accessToken, ...settings } = input;
      const before = previous ? storedSecrets.partial().parse(previous.secrets) : {};
      return {
        settings: storedSettings.parse({ ...(previous?.settings ?? {}), ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) }),
        secrets: { appSecret: appSecret ?? before.appSecret, accessToken: accessToken ?? before.accessToken, verifyToken: before.verifyToken ?? newVerifyToken() },
      };
    },
    async verify(prepared) {
      const { instagramAccountId } = storedSettings.parse(prepared.settings);
      const { accessToken } = storedSecrets.parse(prepared.secrets);
      try {
        await graph.get(`/${instagramAccountId}`, accessToken, accountAnswer, { fields: 'id,username' });
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        if (error.tokenExpired || error.httpStatus === 401) throw new ChannelError('accessToken_rejected', `Meta refused the access token: ${error.message}`, false, { cause: error });
        if (error.metaCode === 100 || error.httpStatus === 404 || error.metaCode === 200) {
          throw new ChannelError('instagramAccountId_not_found', `the access token cannot reach Instagram account ${instagramAccountId}: ${error.message}`, false, { cause: error });
        }
        throw new ChannelError('graph_unreachable', `the Graph API could not check the token: ${error.message}`, false, { cause: error });
      }
    },
    present(source, publicUrl) {
      return { webhookUrl: metaWebhookPath(publicUrl, source.id), verifyToken: storedSecrets.parse(source.secrets).verifyToken, ...storedSettings.parse(source.settings) };
    },
  };
}

export interface InstagramOptions {
  graph?: GraphOptions;
  retry?: { baseMs: number; maxMs: number };
}

/** Instagram Direct messages of a professional account, through Meta's messaging webhooks and the Graph API. */
export class InstagramAdapter implements ChannelAdapter {
  readonly kind = 'instagram';
  readonly sends = ['instagram'] as const;
  readonly replyWindow = true;
  readonly source: SourceKindSpec;
  private readonly graph: GraphClient;
  private readonly retry: { baseMs: number; maxMs: number };
  private readonly downloads = new AttachmentDownloads(this.kind, 'Instagram files', (ctx, source, file) => this.fetchOne(ctx, source, file));
  private readonly timers = new Set<NodeJS.Timeout>();
  private ctx: AdapterContext | undefined;

  constructor(options: InstagramOptions = {}) {
    this.graph = new GraphClient(options.graph ?? defaultGraph);
    this.retry = options.retry ?? { baseMs: 5_000, maxMs: 900_000 };
    this.source = spec(this.graph) as unknown as SourceKindSpec;
  }

  routes(ctx: AdapterContext): Router {
    this.ctx = ctx;
    return metaWebhookRoutes(ctx, {
      kind: this.kind,
      receive: async (source, body) => {
        const { instagramAccountId } = storedSettings.parse(source.settings);
        const { accessToken } = storedSecrets.parse(source.secrets);
        let files = false;
        for (const rawEntry of body.entry) {
          const parsed = entry.safeParse(rawEntry);
          if (!parsed.success) continue;
          for (const rawItem of parsed.data.messaging) {
            const item = messaging.safeParse(rawItem);
            if (!item.success) continue;
            const event = readInstagramMessage(item.data, instagramAccountId);
            if (!event) continue;
            const profile = await this.profile(ctx, source.id, item.data.sender.id, accessToken);
            const result = await ctx.capture({
              ...event,
              sourceId: source.id,
              from: { ...event.from, ...(profile?.name ? { name: profile.name } : profile?.username ? { name: profile.username } : {}) },
              ...(profile?.username ? { fields: { ...event.fields, instagramUsername: profile.username } } : {}),
            });
            if (result.created && event.attachments?.length) files = true;
          }
        }
        if (files) this.downloads.look(ctx, source.id);
      },
    });
  }

  /**
   * The person's name and username, asked of Graph once per person and kept: a person Graph will
   * not describe (privacy settings, Graph slow) is captured all the same, by id.
   * @see https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile
   */
  private async profile(ctx: AdapterContext, sourceId: string, igsid: string, accessToken: string): Promise<{ name?: string; username?: string } | null> {
    const key = `profile:${igsid}`;
    const known = await ctx.state.get<{ name?: string; username?: string }>(sourceId, key);
    if (known) return known;
    try {
      const answer = await this.graph.get(`/${igsid}`, accessToken, profileAnswer, { fields: 'name,username' });
      const profile = { ...(answer.name ? { name: answer.name } : {}), ...(answer.username ? { username: answer.username } : {}) };
      await ctx.state.set(sourceId, key, profile);
      return profile;
    } catch (error) {
      ctx.logger.warn({ err: error, sourceId }, 'could not fetch an Instagram profile; the message is kept without the name');
      return null;
    }
  }

  async start(ctx: AdapterContext): Promise<void> {
    this.ctx = ctx;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }


  /** Instagram's file links are public CDN addresses: fetched without the token, which must not leave for them. */
  private async fetchOne(ctx: AdapterContext, source: SourceRecord, file: DueAttachment): Promise<void> {
    const raw = file.raw as Partial<InstagramRaw> | null;
    const found = raw?.messaging ? filesOf(raw.messaging).find((candidate) => candidate.filename === file.filename) : undefined;
    if (!found) {
      await ctx.attachments.failed(file.id, 'the stored message names no file to download');
      return;
    }
    try {
      const download = await this.graph.download(found.url, null, ctx.maxUploadBytes);
      if ('tooLarge' in download) {
        await ctx.attachments.failed(file.id, `too large (${download.tooLarge} bytes; the limit is ${ctx.maxUploadBytes})`);
        return;
      }
      await ctx.attachments.store(file.id, download.data);
    } catch (error) {
      const tries = file.attempts + 1;
      const reason = `could not be downloaded: ${errorMessage(error)}`;
      if (tries >= 6 || (error instanceof GraphError && !error.retryable)) {
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

  /**
   * A reply through the page linked to the account, within Meta's 24-hour window; outside it the
   * send fails before anything goes out.
   * @see https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
   */
  async send(connection: OutboundConnection, message: OutboundMessage): Promise<{ externalId: string }> {
    const { pageId } = storedSettings.parse(connection.settings);
    const { accessToken } = storedSecrets.parse(connection.secrets);
    const last = message.lastInboundAt ?? null;
    if (last === null || Date.now() - last.getTime() >= messagingWindowMs) {
      const since = last ? `the person last wrote ${last.toISOString()}, more than 24 hours ago` : 'the person never wrote to this account';
      throw new ChannelError('outside_window', `${since}; Instagram lets a business answer only within 24 hours of the person's last message`, false);
    }
    const files = message.attachments ?? [];
    const messages: Record<string, unknown>[] = [];
    for (const file of files) {
      if (!file.url) throw new ChannelError('attachments_need_public_url', 'Instagram fetches files by URL: files can be sent only when the gateway has a public URL (PUBLIC_URL)', false);
      const type = file.contentType.startsWith('image/') ? 'image' : file.contentType.startsWith('video/') ? 'video' : file.contentType.startsWith('audio/') ? 'audio' : 'file';
      messages.push({ attachment: { type, payload: { url: file.url } } });
    }
    if (message.text.trim()) messages.unshift({ text: message.text });
    if (messages.length !== 1) throw new ChannelError('too_many_parts', 'an Instagram message is either text or one file; send the others in messages of their own', false);
    const sent = await this.graph.post(`/${pageId}/messages`, accessToken, { recipient: { id: message.to }, message: messages[0] }, sendAnswer);
    return { externalId: sent.message_id };
  }
}
