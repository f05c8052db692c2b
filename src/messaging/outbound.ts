import { type Attachment, type Message, Prisma, type Source } from '@prisma/client';
import type { Logger } from 'pino';
import type { ChannelAdapter, ChannelKind, OutboundConnection } from '../channels/contract.js';
import type { ChannelRegistry } from '../channels/registry.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { ChannelError, ConnectionElsewhereError, ProblemError, errorMessage } from '../errors.js';
import { newId } from '../ids.js';
import { type Actor, recordActivity, systemActor } from '../leads/activities.js';
import { noteHumanResponse } from '../leads/conversation.js';
import { backoffMs } from '../queue/backoff.js';
import type { Metrics } from '../metrics.js';
import type { JobQueue } from '../queue/contract.js';
import type { SecretBox } from '../security/secrets.js';
import { inQuietHours } from './quiet-hours.js';
import { unsubscribeUrl } from './unsubscribe.js';
import type { SendPace } from './send-pace.js';
import { claimUploads, mediaUrl } from './uploads.js';
import { templateVariables } from './variables.js';
import { webhookDeliveriesFor } from './webhooks.js';


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
  /** The sequence enrolment and step (0-based) the message is sent for. */
  sequenceStep?: { enrollmentId: string; step: number };
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
 * The one outbound path for every channel: a Message row (queued → sending → sent, or failed).
 * Jobs only wake dispatcher rounds, which claim due messages in batches and send each batch at
 * once. Transient failures retry with exponential backoff; the last error stays on the row.
 */
export class Outbound {
  constructor(
    private readonly deps: {
      prisma: Db;
      queue: JobQueue;
      /** Sends per connection: shared by every process with Redis, else per process. */
      pace: SendPace;
      registry: ChannelRegistry;
      box: SecretBox;
      config: Pick<Config, 'smtp' | 'retry' | 'publicUrl' | 'publicUrlConfigured' | 'sendLeaseMs' | 'sendBatchSize' | 'sendOwnerWaitMs' | 'sendRatePerMinute'>;
      logger: Logger;
      metrics: Metrics;
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
        sequenceEnrollmentId: input.sequenceStep?.enrollmentId ?? null,
        sequenceStep: input.sequenceStep?.step ?? null,
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

  /**
   * Call once the message's transaction committed; a scheduled one wakes at its time. Wake-ups
   * are not per message: a dispatcher round claims whatever is due, so every wake-up of one turn
   * of the event loop shares one job.
   */
  wake(messageId: string, sendAt?: Date): void {
    if (sendAt && sendAt.getTime() > Date.now()) this.wakeAt(sendAt.getTime(), messageId);
    else this.wakeSoon(messageId);
  }

  private wakeQueued = false;

  /**
   * The job is added after the current turn of the event loop, so it starts after every message
   * it stands for was committed; a fresh id each time, since Bull ignores an add whose id is
   * still queued or running.
   */
  private wakeSoon(messageId?: string): void {
    if (this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      this.addRound(newId('wake'), 0, messageId);
    });
  }

  /**
   * A round at `at` (a retry, the pace's next turn, a scheduled time), never before it. Times are
   * rounded up to a quarter second so that messages due together share one job; a job of a slot
   * is delayed until that slot, so it is never running while a later add for it is ignored.
   */
  private wakeAt(at: number, messageId?: string): void {
    const slot = Math.ceil(at / 250) * 250;
    const delayMs = slot - Date.now();
    if (delayMs <= 0) this.wakeSoon(messageId);
    else this.addRound(`at-${slot}`, delayMs, messageId);
  }

  private addRound(jobKey: string, delayMs: number, messageId?: string): void {
    this.deps.queue.add('outbound', jobKey, delayMs > 0 ? { delayMs } : {}).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, messageId }, 'could not queue a dispatcher round; the sweeper will start one');
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
      const to = channel === 'email' ? identity('email') : channel === 'sms' ? identity('phone') : channel === 'whatsapp' || channel === 'instagram' ? identity(channel) : undefined;
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
  private automaticHeaders(message: Claimed): Record<string, string> {
    const headers: Record<string, string> = { 'Auto-Submitted': 'auto-replied' };
    if (message.channel === 'email' && message.sequenceStep !== null) {
      headers['List-Unsubscribe'] = `<${unsubscribeUrl(this.deps.config.publicUrl, this.deps.box, message.contactId, 'email')}>`;
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
   * Sends an email that belongs to no lead's conversation (a teammate's invitation) at once, from
   * the workspace's email source, else the gateway's SMTP. Throws the channel's error: the caller
   * says it failed, and the person tries again.
   */
  async sendWorkspaceEmail(workspaceId: string, mail: { to: string; subject: string; text: string }): Promise<void> {
    const source = await this.deps.prisma.source.findFirst({ where: { workspaceId, kind: 'email', deletedAt: null }, orderBy: { createdAt: 'asc' } });
    const adapter = source ? this.deps.registry.forSourceKind(source.kind) : this.deps.registry.senderFor('email');
    let connection: OutboundConnection | undefined;
    if (source && adapter?.send) {
      connection = { id: source.id, publicUrl: this.deps.config.publicUrl, settings: source.settings as Record<string, unknown>, secrets: this.deps.box.open<Record<string, unknown>>(source.secrets) };
    } else if (this.deps.config.smtp && adapter?.send) {
      connection = { id: 'system:smtp', publicUrl: this.deps.config.publicUrl, settings: { from: this.deps.config.smtp.from }, secrets: { smtpUrl: this.deps.config.smtp.url } };
    }
    if (!connection || !adapter?.send) throw new ChannelError('no_connection', 'nothing is configured to send email: add an email source or set SMTP_URL', false);
    await adapter.send(connection, { id: newId('eml'), to: mail.to, subject: mail.subject, text: mail.text, headers: { 'Auto-Submitted': 'auto-generated' } });
  }

  /** Once the queue is closed: the pace's own Redis connection. */
  async close(): Promise<void> {
    await this.deps.pace.close();
  }

  /** Dispatcher rounds running in this process. */
  private rounds = 0;

  /** Successful sends, written a batch at a time: what finishes while one write runs goes in the next. */
  private readonly sentWriter = new WriteBatcher<{ message: Claimed; externalId: string }>((sent) => this.recordSent(sent));

  /**
   * A dispatcher round: releases scheduled messages that are due, then claims due messages a
   * batch at a time and sends each batch at once, until nothing is left to claim. Any number of
   * rounds may run at once, in any number of processes: each claims its own rows.
   */
  async dispatchDue(): Promise<void> {
    this.rounds++;
    try {
      await this.releaseScheduled();
      for (let first = true; ; first = false) {
        const { claimed, deferred, full } = await this.claimBatch();
        // More is due than one batch: another round (here, or in another process) takes the
        // next batch while this one sends. Once per round, so rounds grow with the backlog
        // but not one per batch.
        if (full && first) this.wakeSoon();
        if (claimed.length > 0) await this.sendBatch(claimed);
        else if (deferred === 0) return;
      }
    } finally {
      this.rounds--;
    }
  }

  /**
   * Reserves up to a batch of due messages in one statement, asks the pace of each connection
   * for as many sends as it has messages, claims those granted and puts the rest off until the
   * pace allows them. A reservation only keeps other rounds off the rows while the pace is
   * asked: the rows stay `queued`, so a worker that dies here loses nothing and sends nothing.
   *
   * Messages to one person leave in the order they were written: a message waits while an
   * earlier message of the conversation on the same channel is still on its first try (queued
   * and never tried, or sending for the first time). One that is retrying after a failure, or
   * older than the owner wait, holds nothing up. So a batch holds at most one first try per
   * conversation, and its messages can all be sent at once.
   */
  private async claimBatch(): Promise<{ claimed: Claimed[]; deferred: number; full: boolean }> {
    const { prisma, config } = this.deps;
    // The pick is a materialised CTE: as a subquery under the UPDATE, the planner may run it
    // once per queued row, which is both slow and able to lock more rows than the batch.
    const reserved = await prisma.$queryRaw<Claimed[]>`
      WITH picked AS MATERIALIZED (
        SELECT c.id FROM messages c
        WHERE c.status = 'queued' AND c.direction = 'out'
          AND (c."nextAttemptAt" IS NULL OR c."nextAttemptAt" <= now())
          AND (c."lockedUntil" IS NULL OR c."lockedUntil" < now())
          AND NOT EXISTS (${this.earlierFirstTry('c')})
        ORDER BY c."createdAt", c.id
        LIMIT ${config.sendBatchSize}
        FOR UPDATE OF c SKIP LOCKED)
      UPDATE messages m SET "lockedUntil" = now() + ${`${reservationMs} milliseconds`}::interval
      FROM picked p, leads l
      WHERE m.id = p.id AND l.id = m."leadId"
      RETURNING m.id, m."workspaceId", m."leadId", l."contactId", m."sourceId", m.channel, m."toAddress", m.text, m.html,
        m.subject, m."inReplyTo", m."references", m.automatic, m."sequenceStep", m.attempts, m."createdAt", m."templateName",
        EXISTS (SELECT 1 FROM attachments a WHERE a."messageId" = m.id) AS "hasFiles"`;
    if (reserved.length === 0) return { claimed: [], deferred: 0, full: false };
    // RETURNING gives no order; the oldest of a connection go first when the pace allows some.
    reserved.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));

    const byConnection = new Map<string, Claimed[]>();
    for (const message of reserved) {
      const key = paceKey(message);
      const messages = byConnection.get(key);
      if (messages) messages.push(message);
      else byConnection.set(key, [message]);
    }
    const granted: Claimed[] = [];
    const putOff: { id: string; at: number }[] = [];
    await Promise.all(
      [...byConnection].map(async ([key, messages]) => {
        const perMinute = this.perMinute(messages[0]!.channel);
        let answer: { granted: number; retryInMs: number };
        try {
          answer = await this.deps.pace.take(key, perMinute, messages.length);
        } catch (error) {
          this.deps.logger.warn({ err: error, connection: key }, 'could not ask for the send pace; the messages wait');
          answer = { granted: 0, retryInMs: 5_000 };
        }
        granted.push(...messages.slice(0, answer.granted));
        // Jitter, so that the workers of a backlog do not all wake at once.
        const at = Date.now() + answer.retryInMs + Math.round(Math.random() * (60_000 / perMinute));
        for (const message of messages.slice(answer.granted)) putOff.push({ id: message.id, at });
      }),
    );

    if (putOff.length > 0) {
      // Waiting for its turn is not an attempt: only the time it may go moves.
      await prisma.$executeRaw`
        UPDATE messages m SET "nextAttemptAt" = w.at, "lockedUntil" = NULL, "updatedAt" = now()
        FROM unnest(${putOff.map((w) => w.id)}::text[], ${putOff.map((w) => new Date(w.at).toISOString())}::timestamptz[]) AS w(id, at)
        WHERE m.id = w.id AND m.status = 'queued'`;
      for (const at of new Set(putOff.map((w) => w.at))) this.wakeAt(at);
    }

    let claimed: Claimed[] = [];
    if (granted.length > 0) {
      const won = await prisma.$queryRaw<{ id: string }[]>`
        UPDATE messages SET status = 'sending', attempts = attempts + 1,
          "lockedUntil" = now() + ${`${config.sendLeaseMs} milliseconds`}::interval, "updatedAt" = now()
        WHERE id = ANY(${granted.map((message) => message.id)}::text[]) AND status = 'queued'
        RETURNING id`;
      const ids = new Set(won.map((row) => row.id));
      claimed = granted.filter((message) => ids.has(message.id)).map((message) => ({ ...message, attempts: message.attempts + 1 }));
      const lost = granted.filter((message) => !ids.has(message.id));
      for (const message of lost) {
        await this.deps.pace.giveBack(paceKey(message), this.perMinute(message.channel), 1).catch((error: unknown) => {
          this.deps.logger.debug({ err: error }, 'could not give a send back to the pace');
        });
      }
    }
    return { claimed, deferred: putOff.length, full: reserved.length === config.sendBatchSize };
  }

  /** An earlier message of `alias`'s conversation on the same channel still on its first try. */
  private earlierFirstTry(alias: 'c'): Prisma.Sql {
    const c = Prisma.raw(alias);
    return Prisma.sql`
      SELECT 1 FROM messages e
      WHERE e."leadId" = ${c}."leadId" AND e.channel = ${c}.channel AND e.direction = 'out' AND e.id <> ${c}.id
        AND e."createdAt" <= ${c}."createdAt" AND (e."createdAt" < ${c}."createdAt" OR e.id < ${c}.id)
        AND e."createdAt" > now() - ${`${this.deps.config.sendOwnerWaitMs} milliseconds`}::interval
        AND ((e.status = 'sending' AND e.attempts <= 1) OR (e.status = 'queued' AND e.attempts = 0))`;
  }

  private perMinute(channel: string): number {
    return this.deps.config.sendRatePerMinute ?? sendRatePerMinute[channel as ChannelKind] ?? 60;
  }

  /**
   * Sends a claimed batch at once: the senders and files of the whole batch are loaded in one
   * query each, and results are written as they come. While the batch runs its lease is renewed,
   * so a slow connection (a WhatsApp number sends one message at a time) is never taken for a
   * dead worker; a worker that dies stops renewing, and its messages end `send_interrupted`.
   */
  private async sendBatch(batch: Claimed[]): Promise<void> {
    const { prisma, config, logger } = this.deps;
    const inFlight = new Set(batch.map((message) => message.id));
    const lease = `${config.sendLeaseMs} milliseconds`;
    const heartbeat = setInterval(() => {
      if (inFlight.size === 0) return;
      prisma.$executeRaw`
        UPDATE messages SET "lockedUntil" = now() + ${lease}::interval
        WHERE id = ANY(${[...inFlight]}::text[]) AND status = 'sending'`.catch((error: unknown) => logger.warn({ err: error }, 'could not renew the lease of messages being sent'));
    }, Math.max(100, Math.floor(config.sendLeaseMs / 3)));
    heartbeat.unref();
    try {
      let senders: Senders;
      try {
        senders = await this.loadSenders(batch);
      } catch (error) {
        // Nothing was handed to a channel yet: the batch goes back as it was.
        logger.error({ err: error }, 'could not load what a batch of messages is sent with; it goes back to the queue');
        await prisma.$executeRaw`
          UPDATE messages SET status = 'queued', attempts = attempts - 1, "lockedUntil" = NULL, "updatedAt" = now()
          WHERE id = ANY(${batch.map((message) => message.id)}::text[]) AND status = 'sending'`;
        this.wakeAt(Date.now() + 5_000);
        return;
      }
      await Promise.all(
        batch.map(async (message) => {
          try {
            let result: { externalId: string };
            const timed = this.deps.metrics.sendDuration.startTimer({ channel: message.channel });
            try {
              result = await this.sendOne(message, senders);
              timed({ outcome: 'ok' });
            } catch (error) {
              timed({ outcome: 'error' });
              await this.afterFailure(message, error);
              return;
            }
            await this.sentWriter.add({ message, externalId: result.externalId });
            this.deps.metrics.sends.inc({ channel: message.channel, outcome: 'sent' });
          } catch (error) {
            // The lease runs out and the message ends send_interrupted: visible, never sent twice.
            logger.error({ err: error, messageId: message.id }, 'could not record the outcome of a send');
          } finally {
            inFlight.delete(message.id);
          }
        }),
      );
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async loadSenders(batch: Claimed[]): Promise<Senders> {
    const { prisma } = this.deps;
    const sourceIds = [...new Set(batch.flatMap((message) => (message.sourceId ? [message.sourceId] : [])))];
    const withFiles = batch.filter((message) => message.hasFiles).map((message) => message.id);
    const [sources, files] = await Promise.all([
      sourceIds.length > 0 ? prisma.source.findMany({ where: { id: { in: sourceIds } } }) : Promise.resolve([]),
      withFiles.length > 0
        ? prisma.attachment.findMany({ where: { messageId: { in: withFiles } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })
        : Promise.resolve([]),
    ]);
    const filesOf = new Map<string, Attachment[]>();
    for (const file of files) {
      const ofMessage = filesOf.get(file.messageId!);
      if (ofMessage) ofMessage.push(file);
      else filesOf.set(file.messageId!, [file]);
    }
    const bySource = new Map(sources.map((source) => [source.id, source]));
    const windowed = batch.filter((message) => {
      const source = message.sourceId ? bySource.get(message.sourceId) : undefined;
      return source ? this.deps.registry.forSourceKind(source.kind)?.replyWindow === true : false;
    });
    const lastInbound = new Map<string, Date>();
    // When the person wrote, as the provider dated it, not when the gateway stored it.
    if (windowed.length > 0) {
      const rows = await prisma.$queryRaw<{ sourceId: string; contactId: string; at: Date }[]>`
        SELECT m."sourceId", l."contactId", max(COALESCE(e."receivedAt", m."createdAt")) AS at
        FROM messages m JOIN leads l ON l.id = m."leadId" LEFT JOIN inbound_events e ON e.id = m."eventId"
        WHERE m.direction = 'in' AND m."sourceId" = ANY(${[...new Set(windowed.map((message) => message.sourceId!))]}::text[])
          AND l."contactId" = ANY(${[...new Set(windowed.map((message) => message.contactId))]}::text[])
        GROUP BY m."sourceId", l."contactId"`;
      for (const row of rows) lastInbound.set(`${row.sourceId}:${row.contactId}`, row.at);
    }
    return { sources: bySource, connections: new Map(), filesOf, lastInbound };
  }

  private async sendOne(message: Claimed, senders: Senders): Promise<{ externalId: string }> {
    const { config } = this.deps;
    const { adapter, connection } = this.resolveSender(message, senders);
    const files = senders.filesOf.get(message.id) ?? [];
    return adapter.send!(connection, {
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
      ...(message.automatic ? { headers: this.automaticHeaders(message) } : {}),
      ...(adapter.replyWindow ? { lastInboundAt: senders.lastInbound.get(`${message.sourceId}:${message.contactId}`) ?? null } : {}),
      ...(message.templateName
        ? { template: { name: message.templateName, variables: () => templateVariables(this.deps.prisma, message.leadId) as Promise<Record<string, unknown>> } }
        : {}),
    });
  }

  /**
   * Records a batch of sent messages in one statement: each row's status, provider id and time,
   * its `message.sent` activity and the webhook deliveries it causes, all or none. A message
   * whose row is gone (its lead deleted meanwhile) gets neither.
   */
  private async recordSent(sent: { message: Claimed; externalId: string }[]): Promise<void> {
    const { prisma } = this.deps;
    const at = new Date();
    const activities = sent.map(({ message, externalId }) => ({
      id: newId('act'),
      workspaceId: message.workspaceId,
      leadId: message.leadId,
      kind: 'message.sent' as const,
      data: { messageId: message.id, channel: message.channel, externalId },
    }));
    const deliveries = await webhookDeliveriesFor(
      prisma,
      activities.map((activity) => ({ workspaceId: activity.workspaceId, leadId: activity.leadId, kind: activity.kind, activityId: activity.id, data: activity.data, at })),
    );
    const sentRows = JSON.stringify(sent.map(({ message, externalId }) => ({ id: message.id, externalId })));
    const activityRows = JSON.stringify(activities.map((activity) => ({ ...activity, actorType: systemActor.type, createdAt: at.toISOString() })));
    const deliveryRows = JSON.stringify(deliveries.map((delivery) => ({ ...delivery, activityId: (delivery.payload.data as { activityId: string }).activityId })));
    await prisma.$executeRaw`
      WITH sent AS (
        SELECT * FROM jsonb_to_recordset(${sentRows}::jsonb) AS s(id text, "externalId" text)
      ), updated AS (
        UPDATE messages m SET status = 'sent', "externalId" = s."externalId", "sentAt" = ${at.toISOString()}::timestamptz,
          "lockedUntil" = NULL, error = NULL, "errorCode" = NULL, "updatedAt" = now()
        FROM sent s WHERE m.id = s.id
        RETURNING m.id
      ), activity AS (
        INSERT INTO activities (id, "workspaceId", "leadId", kind, "actorType", "actorId", data, "createdAt")
        SELECT a.id, a."workspaceId", a."leadId", a.kind, a."actorType", NULL, a.data, a."createdAt"
        FROM jsonb_to_recordset(${activityRows}::jsonb) AS a(id text, "workspaceId" text, "leadId" text, kind text, "actorType" text, data jsonb, "createdAt" timestamptz)
        JOIN updated u ON u.id = a.data->>'messageId'
        RETURNING id
      )
      INSERT INTO webhook_deliveries (id, "workspaceId", "webhookId", event, payload)
      SELECT d.id, d."workspaceId", d."webhookId", d.event, d.payload
      FROM jsonb_to_recordset(${deliveryRows}::jsonb) AS d(id text, "workspaceId" text, "webhookId" text, event text, payload jsonb, "activityId" text)
      JOIN activity a ON a.id = d."activityId"
      JOIN webhooks w ON w.id = d."webhookId"`;
  }

  /** A send that threw: wait for the connection's owner, retry with backoff, or fail for good. */
  private async afterFailure(message: Claimed, error: unknown): Promise<void> {
    const { prisma, config } = this.deps;
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
    const channelError = error instanceof ChannelError ? error : new ChannelError('send_failed', errorMessage(error), true, { cause: error });
    const attempts = message.attempts;
    if (channelError.retryable && attempts < config.retry.maxAttempts) {
      const delayMs = backoffMs(attempts, config.retry.baseMs, config.retry.maxMs);
      const at = Date.now() + delayMs;
      await prisma.message.update({
        where: { id: message.id },
        data: { status: 'queued', lockedUntil: null, nextAttemptAt: new Date(at), error: channelError.message, errorCode: channelError.code },
      });
      this.deps.logger.warn({ messageId: message.id, attempts, delayMs, err: channelError }, 'send failed; retrying');
      this.deps.metrics.sendRetries.inc({ channel: message.channel });
      this.wakeAt(at, message.id);
      return;
    }
    await this.fail(message, channelError.code, channelError.message);
  }

  /** Scheduled messages whose time came, a batch at a time, until none is left. */
  private async releaseScheduled(): Promise<void> {
    for (;;) {
      const due = await this.deps.prisma.message.findMany({
        where: { status: 'scheduled', direction: 'out', nextAttemptAt: { lte: new Date() } },
        orderBy: { nextAttemptAt: 'asc' },
        take: this.deps.config.sendBatchSize,
      });
      for (const message of due) await this.release(message);
      if (due.length < this.deps.config.sendBatchSize) return;
    }
  }

  /**
   * A scheduled message whose time came joins the queue. What a send is subject to is checked
   * now, not when it was written: a contact who opted out of the channel since is not written
   * to, and quiet hours push it to their end.
   */
  private async release(message: Message): Promise<void> {
    const { prisma } = this.deps;
    const now = new Date();
    const lead = await prisma.lead.findUniqueOrThrow({ where: { id: message.leadId }, select: { contactId: true, workspace: { select: { quietHours: true, timeZone: true } } } });
    const optedOut = await prisma.contactOptOut.findUnique({ where: { contactId_channel: { contactId: lead.contactId, channel: message.channel } } });
    if (optedOut) {
      await this.fail(message, 'opted_out', `the contact opted out of ${message.channel} before the scheduled time`, 'scheduled');
      return;
    }
    const resumeAt = inQuietHours(lead.workspace.quietHours, lead.workspace.timeZone, now);
    if (resumeAt) {
      const moved = await prisma.message.updateMany({ where: { id: message.id, status: 'scheduled' }, data: { nextAttemptAt: resumeAt } });
      if (moved.count > 0) this.wakeAt(resumeAt.getTime(), message.id);
      return;
    }
    await prisma.$transaction(async (tx) => {
      const released = await tx.message.updateMany({ where: { id: message.id, status: 'scheduled' }, data: { status: 'queued', nextAttemptAt: null } });
      if (released.count === 0) return;
      if (!message.automatic) {
        // Written by a user, or else by an integration (its key is not kept on the message).
        const actor: Actor = message.authorId ? { type: 'user', id: message.authorId } : { type: 'api_key', id: null };
        await noteHumanResponse(tx, { workspaceId: message.workspaceId, leadId: message.leadId, actor });
      }
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
  private async waitForOwner(message: Claimed, error: ConnectionElsewhereError): Promise<void> {
    const at = Date.now() + Math.round(error.retryInMs * (0.5 + Math.random()));
    await this.deps.prisma.message.update({
      where: { id: message.id },
      data: {
        status: 'queued',
        attempts: { decrement: 1 },
        lockedUntil: null,
        nextAttemptAt: new Date(at),
        error: error.message,
        errorCode: error.code,
      },
    });
    this.wakeAt(at, message.id);
  }

  /**
   * Messages a dead worker left in `sending` (its lease ran out without being renewed) are marked
   * failed, not sent again: the provider may already have them, and a message is never sent twice.
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

  /**
   * One dispatcher round when a message has been due for longer than graceMs and no round can
   * be working on it: a wake-up lost with a crash or while Redis was away, a reservation of a
   * dead worker, a timer the embedded queue could not hold. Never one job per message, and
   * nothing while a round of this process runs (it goes on until nothing is due). Messages held
   * back by an earlier one of their conversation are not lost: the round that sends that one
   * takes them next.
   */
  async wakeIfStalled(graceMs: number): Promise<boolean> {
    if (this.rounds > 0) return false;
    const grace = `${graceMs} milliseconds`;
    const due = await this.deps.prisma.$queryRaw<{ id: string }[]>`
      SELECT c.id FROM messages c
      WHERE c.status IN ('queued', 'scheduled') AND c.direction = 'out'
        AND COALESCE(c."nextAttemptAt", c."updatedAt") <= now() - ${grace}::interval
        AND (c."lockedUntil" IS NULL OR c."lockedUntil" < now())
        AND (c.status = 'scheduled' OR NOT EXISTS (${this.earlierFirstTry('c')}))
      LIMIT 1`;
    if (due.length === 0) return false;
    this.wakeSoon();
    return true;
  }

  private async fail(message: Pick<Message, 'id' | 'workspaceId' | 'leadId' | 'channel'>, code: string, error: string, from?: string): Promise<void> {
    const failed = await this.deps.prisma.$transaction(async (tx) => {
      const updated = await tx.message.updateMany({
        where: { id: message.id, ...(from ? { status: from } : {}) },
        data: { status: 'failed', lockedUntil: null, nextAttemptAt: null, error, errorCode: code },
      });
      if (updated.count === 0) return false;
      await recordActivity(tx, {
        workspaceId: message.workspaceId,
        leadId: message.leadId,
        kind: 'message.failed',
        actor: systemActor,
        data: { messageId: message.id, channel: message.channel, code, error },
      });
      return true;
    });
    if (failed) this.deps.metrics.sends.inc({ channel: message.channel, outcome: 'failed' });
    this.deps.logger.warn({ messageId: message.id, code, error }, 'message failed');
  }

  private resolveSender(message: Claimed, senders: Senders): Sender {
    const channel = message.channel as ChannelKind;
    if (message.sourceId) {
      const opened = senders.connections.get(message.sourceId);
      if (opened) return opened;
      const source = senders.sources.get(message.sourceId);
      const adapter = source && !source.deletedAt ? this.deps.registry.forSourceKind(source.kind) : undefined;
      if (!source || !adapter?.send || !adapter.sends.includes(channel)) {
        throw new ChannelError('no_connection', `the source that should send this ${channel} message is gone`, false);
      }
      const sender: Sender = {
        adapter,
        connection: {
          id: source.id,
          publicUrl: this.deps.config.publicUrl,
          settings: source.settings as Record<string, unknown>,
          secrets: this.deps.box.open<Record<string, unknown>>(source.secrets),
        },
      };
      senders.connections.set(source.id, sender);
      return sender;
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

/** A message as a dispatcher round claims it: what sending it takes. */
interface Claimed {
  id: string;
  workspaceId: string;
  leadId: string;
  contactId: string;
  sourceId: string | null;
  channel: string;
  toAddress: string | null;
  text: string | null;
  html: string | null;
  subject: string | null;
  inReplyTo: string | null;
  references: string[];
  automatic: boolean;
  sequenceStep: number | null;
  attempts: number;
  createdAt: Date;
  templateName: string | null;
  hasFiles: boolean;
}

interface Sender {
  adapter: ChannelAdapter;
  connection: OutboundConnection;
}

/** What a batch is sent with, loaded once for the batch. */
interface Senders {
  sources: Map<string, Source>;
  /** Opened once per source and batch: opening decrypts the source's secrets. */
  connections: Map<string, Sender>;
  filesOf: Map<string, Attachment[]>;
  /** When each person last wrote to each source with a reply window, by `sourceId:contactId`. */
  lastInbound: Map<string, Date>;
}

/**
 * How long a round keeps other rounds off the rows it reserved while it asks for their pace;
 * the rows stay `queued`, so a round that dies here only delays them this long.
 */
const reservationMs = 60_000;

/** The pace is kept per connection and channel. */
function paceKey(message: { sourceId: string | null; channel: string }): string {
  return `${message.sourceId ?? 'system'}:${message.channel}`;
}

/** Collects items and writes them together: what arrives while a write runs goes in the next. */
class WriteBatcher<T> {
  private waiting: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing = false;

  constructor(private readonly write: (items: T[]) => Promise<void>) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.writing) return;
      this.writing = true;
      // After this turn of the event loop: sends that finish together are written together.
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const taken = this.waiting.splice(0);
      try {
        await this.write(taken.map((entry) => entry.item));
        for (const entry of taken) entry.resolve();
      } catch (error) {
        for (const entry of taken) entry.reject(error);
      }
    }
    this.writing = false;
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
