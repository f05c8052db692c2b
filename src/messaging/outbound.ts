import type { Message, Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import type { ChannelAdapter, ChannelKind, OutboundConnection } from '../channels/contract.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { ChannelError, ConnectionElsewhereError, ProblemError, errorMessage } from '../errors.js';
import { newId } from '../ids.js';
import { type Actor, recordActivity, systemActor } from '../leads/activities.js';
import { noteHumanResponse } from '../leads/conversation.js';
import type { JobQueue } from '../queue/contract.js';
import type { SecretBox } from '../security/secrets.js';
import { RateLimiter } from '../rate-limit.js';
import { inQuietHours } from './quiet-hours.js';
import { unsubscribeUrl } from './unsubscribe.js';
import { claimUploads, mediaUrl } from './uploads.js';


/** Steady sending rates per connection and channel, in messages a minute. */
export const sendRatePerMinute: Partial<Record<ChannelKind, number>> = { whatsapp: 20, sms: 60, email: 120 };

export interface QueueMessageInput {
  workspaceId: string;
  leadId: string;
  channel: ChannelKind;
  to: string;
  sourceId: string | null;
  text: string;
  html?: string;
  subject?: string;
  templateName?: string;
  idempotencyKey?: string;
  automatic: boolean;
  author: Actor;
  thread?: EmailThread;
  /** Uploads (POST /api/v1/uploads) of `uploadedBy` that go with the message. */
  attachments?: { ids: string[]; uploadedBy: string };
  /** Send at this time instead of now: the message waits as `scheduled` until then. */
  sendAt?: Date;
}

/** The server's answer for a message whose status does not allow what was asked. */
export class MessageStateError extends ProblemError {
  constructor(action: string, status: string) {
    super('conflict', `${action}: the message is ${status}`);
  }
}

/** Where an email reply belongs, so the customer's mail client shows one conversation. */
export interface EmailThread {
  inReplyTo: string;
  references: string[];
  subject: string | null;
}

export interface ReplyRoute {
  channel: ChannelKind;
  to: string;
  sourceId: string | null;
  thread?: EmailThread;
}

/**
 * The one outbound path for every channel: a Message row (queued → sending → sent, or failed)
 * and a job. Transient failures retry with exponential backoff; the last error stays on the row.
 */
export class Outbound {
  constructor(
    private readonly deps: {
      prisma: Db;
      queue: JobQueue;
      registry: ChannelRegistry;
      box: SecretBox;
      config: Pick<Config, 'smtp' | 'retry' | 'publicUrl' | 'publicUrlConfigured' | 'sendLeaseMs' | 'sendOwnerWaitMs' | 'sendRatePerMinute'>;
      logger: Logger;
    },
  ) {}

  /** Inside the caller's transaction; call `wake` with the id once it has committed. */
  async queueMessage(tx: Prisma.TransactionClient, input: QueueMessageInput): Promise<string> {
    const id = newId('msg');
    const scheduled = input.sendAt !== undefined;
    await tx.message.create({
      data: {
        id,
        workspaceId: input.workspaceId,
        leadId: input.leadId,
        sourceId: input.sourceId,
        direction: 'out',
        channel: input.channel,
        status: scheduled ? 'scheduled' : 'queued',
        ...(scheduled ? { scheduledAt: input.sendAt, nextAttemptAt: input.sendAt } : {}),
        text: input.text,
        fullText: input.text,
        html: input.html ?? null,
        subject: input.subject ?? null,
        toAddress: input.to,
        templateName: input.templateName ?? null,
        idempotencyKey: input.idempotencyKey ?? id,
        inReplyTo: input.thread?.inReplyTo ?? null,
        references: input.thread?.references ?? [],
        automatic: input.automatic,
        authorId: input.author.type === 'user' ? input.author.id : null,
      },
    });
    if (input.attachments) await claimUploads(tx, { workspaceId: input.workspaceId, uploadedBy: input.attachments.uploadedBy, ids: input.attachments.ids, messageId: id });
    await recordActivity(tx, {
      workspaceId: input.workspaceId,
      leadId: input.leadId,
      kind: scheduled ? 'message.scheduled' : 'message.queued',
      actor: input.author,
      data: {
        messageId: id,
        channel: input.channel,
        to: input.to,
        automatic: input.automatic,
        template: input.templateName ?? null,
        ...(scheduled ? { sendAt: input.sendAt!.toISOString() } : {}),
      },
    });
    // A scheduled message answers the lead when it goes out, not when it is written.
    if (!scheduled && !input.automatic && (input.author.type === 'user' || input.author.type === 'api_key')) {
      await noteHumanResponse(tx, { workspaceId: input.workspaceId, leadId: input.leadId, actor: input.author });
    }
    return id;
  }

  /** Call once the message's transaction committed; a scheduled one wakes at its time. */
  wake(messageId: string, sendAt?: Date): void {
    const delayMs = sendAt ? Math.max(0, sendAt.getTime() - Date.now()) : 0;
    this.deps.queue.add('outbound', messageId, delayMs > 0 ? { delayMs } : {}).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, messageId }, 'could not queue a message; the sweeper will pick it up');
    });
  }

  /**
   * Where a reply to this lead goes: the requested channel, else the channel of the lead's last
   * inbound message when it can carry a reply, else email. Only routes with a sender count.
   */
  async planReply(tx: Prisma.TransactionClient, leadId: string, requested?: ChannelKind): Promise<ReplyRoute> {
    const lead = await tx.lead.findUniqueOrThrow({
      where: { id: leadId },
      include: { contact: { include: { identities: true } }, source: true },
    });
    const lastInbound = await tx.message.findFirst({
      where: { leadId, direction: 'in' },
      orderBy: { createdAt: 'desc' },
      include: { source: true },
    });
    const reachableByEmail = lead.contact.identities.some((row) => row.kind === 'email' && !row.undeliverable);
    const thread = reachableByEmail ? await this.emailThread(tx, leadId) : undefined;
    return this.replyRoute({
      ...(requested ? { requested } : {}),
      leadChannel: lead.channel as ChannelKind,
      lastInboundChannel: (lastInbound?.channel as ChannelKind | undefined) ?? null,
      source: lastInbound?.source ?? lead.source,
      identities: lead.contact.identities,
      ...(thread ? { emailThread: thread } : {}),
    });
  }

  /**
   * The route of planReply, from what it read: the requested channel, else the channel of the
   * last inbound message, else the lead's, else email; the first one the contact has an address
   * for and something here can send on. Throws `no_reply_channel` when there is none.
   */
  replyRoute(input: {
    requested?: ChannelKind;
    lastInboundChannel: ChannelKind | null;
    leadChannel: ChannelKind;
    /** The source of the last inbound message, else the lead's. */
    source: { id: string; kind: string; deletedAt: Date | null } | null;
    identities: { kind: string; value: string; undeliverable: boolean }[];
    emailThread?: EmailThread;
  }): ReplyRoute {
    const { requested, source } = input;
    const preference: (ChannelKind | null)[] = requested ? [requested] : [input.lastInboundChannel, input.leadChannel, 'email'];
    const identity = (kind: string) => input.identities.find((row) => row.kind === kind && !row.undeliverable)?.value;
    for (const channel of preference) {
      if (!channel) continue;
      const to = channel === 'email' ? identity('email') : channel === 'whatsapp' ? identity('whatsapp') : channel === 'sms' ? identity('phone') : undefined;
      if (!to) continue;
      const thread = channel === 'email' ? input.emailThread : undefined;
      const sourceSends = source && !source.deletedAt && this.deps.registry.forSourceKind(source.kind)?.sends.includes(channel);
      if (sourceSends) return { channel, to, sourceId: source.id, ...(thread ? { thread } : {}) };
      if (channel === 'email' && this.deps.config.smtp && this.deps.registry.senderFor('email')) {
        return { channel, to, sourceId: null, ...(thread ? { thread } : {}) };
      }
    }
    throw new ProblemError(
      'no_reply_channel',
      requested
        ? `the contact cannot be reached on ${requested} from this workspace`
        : 'the contact has no address that this workspace can send to (an email address needs SMTP_URL or an email source)',
    );
  }

  /** The route's cap on automatic messages to one person a day, from its source's adapter; undefined when none. */
  async automaticDailyCap(tx: Prisma.TransactionClient, route: ReplyRoute): Promise<number | undefined> {
    if (!route.sourceId) return undefined;
    const source = await tx.source.findUnique({ where: { id: route.sourceId }, select: { kind: true, settings: true } });
    if (!source) return undefined;
    return this.deps.registry.forSourceKind(source.kind)?.automaticDailyCap?.(source.settings as Record<string, unknown>);
  }

  /**
   * RFC 3834: other responders must not answer an automatic message (no mail loops). Nurture
   * email also carries a one-click unsubscribe (RFC 8058).
   */
  private async automaticHeaders(message: Message): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'Auto-Submitted': 'auto-replied' };
    if (message.channel === 'email' && message.idempotencyKey?.startsWith('sequence:')) {
      const lead = await this.deps.prisma.lead.findUniqueOrThrow({ where: { id: message.leadId }, select: { contactId: true } });
      headers['List-Unsubscribe'] = `<${unsubscribeUrl(this.deps.config.publicUrl, this.deps.box, lead.contactId, 'email')}>`;
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
      headers['Auto-Submitted'] = 'auto-generated';
    }
    return headers;
  }

  /** The customer's latest email, which a reply answers (else our own latest one). */
  private async emailThread(tx: Prisma.TransactionClient, leadId: string): Promise<EmailThread | undefined> {
    const where = { leadId, channel: 'email', externalId: { not: null } };
    const last =
      (await tx.message.findFirst({ where: { ...where, direction: 'in' }, orderBy: { createdAt: 'desc' } })) ??
      (await tx.message.findFirst({ where, orderBy: { createdAt: 'desc' } }));
    return last ? emailThreadOf(last) : undefined;
  }

  /**
   * Sends per connection stay under a steady rate: a burst from one WhatsApp number gets it banned,
   * and SMTP relays and Twilio throttle too. Per process; jitter keeps a backlog from moving in lockstep.
   */
  private readonly limiter = new RateLimiter();

  private async waitForTurn(message: { id: string; channel: string; sourceId: string | null; attempts: number }): Promise<boolean> {
    const perMinute = this.deps.config.sendRatePerMinute ?? sendRatePerMinute[message.channel as ChannelKind] ?? 60;
    const waitSeconds = this.limiter.take(`${message.sourceId ?? 'system'}:${message.channel}`, perMinute);
    if (waitSeconds === 0) return false;
    const delayMs = waitSeconds * 1000 + Math.round(Math.random() * (60_000 / perMinute));
    await this.deps.prisma.message.updateMany({ where: { id: message.id, status: 'queued' }, data: { nextAttemptAt: new Date(Date.now() + delayMs) } });
    await this.deps.queue.add('outbound', message.id, { delayMs, attempt: message.attempts });
    return true;
  }

  /**
   * Messages to one person leave in the order they were written. A job can reach a worker before
   * the job of an earlier message (several workers, or a send handed back to the process that
   * holds a WhatsApp number): it waits while an earlier message of the conversation on the same
   * channel is still on its first try. One that is retrying after a failure, or older than the
   * owner wait, holds nothing up.
   */
  private async earlierGoesFirst(message: Message): Promise<boolean> {
    const earlier = await this.deps.prisma.message.findFirst({
      where: {
        leadId: message.leadId,
        channel: message.channel,
        direction: 'out',
        id: { not: message.id },
        status: { in: ['queued', 'sending'] },
        attempts: { lte: 1 },
        createdAt: { lte: message.createdAt, gt: new Date(Date.now() - this.deps.config.sendOwnerWaitMs) },
        OR: [{ createdAt: { lt: message.createdAt } }, { id: { lt: message.id } }],
      },
      select: { id: true, status: true, attempts: true },
    });
    // attempts is 1 while the first try runs ('sending'); a queued one with 1 failed and waits to retry.
    if (!earlier || (earlier.status === 'queued' && earlier.attempts > 0)) return false;
    const delayMs = 500 + Math.round(Math.random() * 500);
    await this.deps.prisma.message.updateMany({ where: { id: message.id, status: 'queued' }, data: { nextAttemptAt: new Date(Date.now() + delayMs) } });
    await this.deps.queue.add('outbound', message.id, { delayMs, attempt: message.attempts, key: `after-${earlier.id}-${Date.now()}` });
    return true;
  }

  /** Runs one send attempt for a message; safe to call twice for one message. */
  async dispatch(messageId: string): Promise<void> {
    const { prisma, config } = this.deps;
    let queued = await prisma.message.findUnique({ where: { id: messageId } });
    if (queued?.status === 'scheduled') {
      if (!(await this.release(queued))) return;
      queued = await prisma.message.findUnique({ where: { id: messageId } });
    }
    if (!queued || queued.status !== 'queued' || (await this.earlierGoesFirst(queued)) || (await this.waitForTurn(queued))) return;
    const claimed = await prisma.$queryRaw<{ id: string }[]>`
      UPDATE messages SET status = 'sending', attempts = attempts + 1,
        "lockedUntil" = now() + ${`${config.sendLeaseMs} milliseconds`}::interval, "updatedAt" = now()
      WHERE id = ${messageId} AND status = 'queued' AND ("nextAttemptAt" IS NULL OR "nextAttemptAt" <= now())
      RETURNING id`;
    if (claimed.length === 0) return;
    // The claim changed only these; the rest of the row is as read above.
    const message = { ...queued, status: 'sending', attempts: queued.attempts + 1 };

    try {
      const { adapter, connection } = await this.resolveSender(message);
      const files = await prisma.attachment.findMany({ where: { messageId: message.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
      const result = await adapter.send!(connection, {
        ...(files.length > 0
          ? {
              attachments: files.map((file) => ({
                filename: file.filename,
                contentType: file.contentType,
                data: Buffer.from(file.data),
                ...(config.publicUrlConfigured ? { url: mediaUrl(config.publicUrl, this.deps.box, file.id) } : {}),
              })),
            }
          : {}),
        id: message.id,
        to: message.toAddress ?? '',
        text: message.text ?? '',
        ...(message.html ? { html: message.html } : {}),
        ...(message.subject ? { subject: message.subject } : {}),
        ...(message.inReplyTo ? { inReplyTo: message.inReplyTo, references: message.references } : {}),
        ...(message.automatic ? { headers: await this.automaticHeaders(message) } : {}),
      });
      await prisma.$transaction(async (tx) => {
        await tx.message.update({
          where: { id: message.id },
          data: { status: 'sent', externalId: result.externalId, sentAt: new Date(), lockedUntil: null, error: null, errorCode: null },
        });
        await recordActivity(tx, {
          workspaceId: message.workspaceId,
          leadId: message.leadId,
          kind: 'message.sent',
          actor: systemActor,
          data: { messageId: message.id, channel: message.channel, externalId: result.externalId },
        });
      });
    } catch (error) {
      if (error instanceof ConnectionElsewhereError) {
        const waitedMs = Date.now() - message.createdAt.getTime();
        if (waitedMs < config.sendOwnerWaitMs) {
          await this.waitForOwner(message, error);
          return;
        }
        const waited = waitedMs < 120_000 ? `${Math.round(waitedMs / 1000)} s` : `${Math.round(waitedMs / 60_000)} min`;
        await this.fail(message, error.code, `the connection was not open in any process for ${waited}; the message was not sent`);
        return;
      }
      const channelError =
        error instanceof ChannelError ? error : new ChannelError('send_failed', errorMessage(error), true, { cause: error });
      const attempts = message.attempts;
      if (channelError.retryable && attempts < config.retry.maxAttempts) {
        const delayMs = backoffMs(attempts, config.retry.baseMs, config.retry.maxMs);
        await prisma.message.update({
          where: { id: message.id },
          data: {
            status: 'queued',
            lockedUntil: null,
            nextAttemptAt: new Date(Date.now() + delayMs),
            error: channelError.message,
            errorCode: channelError.code,
          },
        });
        this.deps.logger.warn({ messageId, attempts, delayMs, err: channelError }, 'send failed; retrying');
        await this.deps.queue.add('outbound', message.id, { delayMs, attempt: attempts });
        return;
      }
      await this.fail(message, channelError.code, channelError.message);
    }
  }

  /**
   * A scheduled message whose time came joins the queue; false when it does not (yet). What a
   * send is subject to is checked now, not when it was written: a contact who opted out of the
   * channel since is not written to, and quiet hours push it to their end.
   */
  private async release(message: Message): Promise<boolean> {
    const { prisma, queue } = this.deps;
    const now = new Date();
    if (message.nextAttemptAt && message.nextAttemptAt > now) {
      // Woken early (a delay longer than the embedded queue's timers hold): sleep again.
      await queue.add('outbound', message.id, { delayMs: message.nextAttemptAt.getTime() - now.getTime() });
      return false;
    }
    const lead = await prisma.lead.findUniqueOrThrow({ where: { id: message.leadId }, select: { contactId: true, workspace: { select: { quietHours: true, timeZone: true } } } });
    const optedOut = await prisma.contactOptOut.findUnique({ where: { contactId_channel: { contactId: lead.contactId, channel: message.channel } } });
    if (optedOut) {
      await this.fail(message, 'opted_out', `the contact opted out of ${message.channel} before the scheduled time`, 'scheduled');
      return false;
    }
    const resumeAt = inQuietHours(lead.workspace.quietHours, lead.workspace.timeZone, now);
    if (resumeAt) {
      const moved = await prisma.message.updateMany({ where: { id: message.id, status: 'scheduled' }, data: { nextAttemptAt: resumeAt } });
      // A job id of its own: the job running now still holds the scheduled one's id in Bull.
      if (moved.count > 0) await queue.add('outbound', message.id, { delayMs: resumeAt.getTime() - now.getTime(), key: `quiet-${resumeAt.getTime()}` });
      return false;
    }
    return prisma.$transaction(async (tx) => {
      const released = await tx.message.updateMany({ where: { id: message.id, status: 'scheduled' }, data: { status: 'queued', nextAttemptAt: null } });
      if (released.count === 0) return false;
      if (!message.automatic) {
        // Written by a user, or else by an integration (its key is not kept on the message).
        const actor: Actor = message.authorId ? { type: 'user', id: message.authorId } : { type: 'api_key', id: null };
        await noteHumanResponse(tx, { workspaceId: message.workspaceId, leadId: message.leadId, actor });
      }
      return true;
    });
  }

  /** A scheduled message that will not be sent; MessageStateError once it is anything else. */
  async cancel(message: Message, actor: Actor): Promise<void> {
    await this.deps.prisma.$transaction(async (tx) => {
      const canceled = await tx.message.updateMany({ where: { id: message.id, status: 'scheduled' }, data: { status: 'canceled', nextAttemptAt: null } });
      if (canceled.count === 0) {
        const now = await tx.message.findUniqueOrThrow({ where: { id: message.id }, select: { status: true } });
        throw new MessageStateError('only a scheduled message can be canceled', now.status);
      }
      await recordActivity(tx, { workspaceId: message.workspaceId, leadId: message.leadId, kind: 'message.canceled', actor, data: { messageId: message.id, channel: message.channel } });
    });
  }

  /**
   * The same failed message goes back in the queue with a fresh set of attempts (its id, text
   * and files unchanged); MessageStateError unless it failed.
   */
  async retry(message: Message, actor: Actor): Promise<void> {
    await this.deps.prisma.$transaction(async (tx) => {
      const requeued = await tx.message.updateMany({
        where: { id: message.id, direction: 'out', status: 'failed' },
        data: { status: 'queued', attempts: 0, nextAttemptAt: null, lockedUntil: null, error: null, errorCode: null },
      });
      if (requeued.count === 0) {
        const now = await tx.message.findUniqueOrThrow({ where: { id: message.id }, select: { status: true, direction: true } });
        throw new MessageStateError('only a failed outbound message can be retried', now.direction === 'in' ? 'inbound' : now.status);
      }
      await recordActivity(tx, {
        workspaceId: message.workspaceId,
        leadId: message.leadId,
        kind: 'message.retried',
        actor,
        data: { messageId: message.id, channel: message.channel, previousError: message.errorCode },
      });
    });
    this.wake(message.id);
  }

  /**
   * The connection is open in another process (or, for now, in none): back to the queue without
   * counting the attempt, so a worker of the owning process can take it. Why it waits stays visible.
   */
  private async waitForOwner(message: Message, error: ConnectionElsewhereError): Promise<void> {
    const delayMs = Math.round(error.retryInMs * (0.5 + Math.random()));
    await this.deps.prisma.message.update({
      where: { id: message.id },
      data: {
        status: 'queued',
        attempts: { decrement: 1 },
        lockedUntil: null,
        nextAttemptAt: new Date(Date.now() + delayMs),
        error: error.message,
        errorCode: error.code,
      },
    });
    await this.deps.queue.add('outbound', message.id, { delayMs, attempt: message.attempts - 1, key: `owner-${Date.now()}` });
  }

  /**
   * Messages a dead worker left in `sending` are marked failed, not sent again: the provider
   * may already have them, and a message is never sent twice.
   */
  async failInterruptedSends(): Promise<number> {
    const stuck = await this.deps.prisma.message.findMany({
      where: { direction: 'out', status: 'sending', lockedUntil: { lt: new Date() } },
      take: 200,
    });
    for (const message of stuck) {
      await this.fail(message, 'send_interrupted', 'the worker stopped during the send; it may or may not have been delivered, so it was not sent again');
    }
    return stuck.length;
  }

  private async fail(message: Message, code: string, error: string, from?: string): Promise<void> {
    await this.deps.prisma.$transaction(async (tx) => {
      const failed = await tx.message.updateMany({
        where: { id: message.id, ...(from ? { status: from } : {}) },
        data: { status: 'failed', lockedUntil: null, nextAttemptAt: null, error, errorCode: code },
      });
      if (failed.count === 0) return;
      await recordActivity(tx, {
        workspaceId: message.workspaceId,
        leadId: message.leadId,
        kind: 'message.failed',
        actor: systemActor,
        data: { messageId: message.id, channel: message.channel, code, error },
      });
    });
    this.deps.logger.warn({ messageId: message.id, code, error }, 'message failed');
  }

  private async resolveSender(message: Message): Promise<{ adapter: ChannelAdapter; connection: OutboundConnection }> {
    const channel = message.channel as ChannelKind;
    if (message.sourceId) {
      const source = await this.deps.prisma.source.findUnique({ where: { id: message.sourceId } });
      const adapter = source && !source.deletedAt ? this.deps.registry.forSourceKind(source.kind) : undefined;
      if (!source || !adapter?.send || !adapter.sends.includes(channel)) {
        throw new ChannelError('no_connection', `the source that should send this ${channel} message is gone`, false);
      }
      return {
        adapter,
        connection: {
          id: source.id,
          publicUrl: this.deps.config.publicUrl,
          settings: source.settings as Record<string, unknown>,
          secrets: this.deps.box.open<Record<string, unknown>>(source.secrets),
        },
      };
    }
    const adapter = this.deps.registry.senderFor(channel);
    if (channel === 'email' && this.deps.config.smtp && adapter?.send) {
      return {
        adapter,
        connection: { id: 'system:smtp', publicUrl: this.deps.config.publicUrl, settings: { from: this.deps.config.smtp.from }, secrets: { smtpUrl: this.deps.config.smtp.url } },
      };
    }
    throw new ChannelError('no_connection', `nothing is configured to send ${channel} messages`, false);
  }
}

/**
 * "Re: <their subject>": mail clients (Gmail among them) keep a reply in the customer's thread
 * only when the subject matches too. Without a thread, the fallback.
 */
export function replySubject(threadSubject: string | null | undefined, fallback: string): string {
  const subject = threadSubject?.trim();
  if (!subject) return fallback;
  return /^(re|res|aw|sv):/i.test(subject) ? subject : `Re: ${subject}`;
}

/** The thread a reply to this email joins: it answers it, and carries its references on. */
export function emailThreadOf(message: { externalId: string | null; references: string[]; subject: string | null }): EmailThread | undefined {
  if (!message.externalId) return undefined;
  return { inReplyTo: message.externalId, references: [...message.references, message.externalId].slice(-20), subject: message.subject };
}

/** Exponential backoff with full jitter in its upper half, so retries of a burst spread out. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
