import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { backoffMs } from '../queue/backoff.js';
import { Poller } from '../queue/poller.js';
import { ProblemError, errorMessage } from '../errors.js';
import { newId } from '../ids.js';
import type { ActivityKind, RecordedActivity } from '../leads/activities.js';
import { checkedLookup, checkHost, OutboundAddressError, type Resolver } from '../security/outbound-address.js';
import type { SecretBox } from '../security/secrets.js';

export const webhookEvents = ['lead.created', 'lead.assigned', 'lead.stage_changed', 'message.received', 'message.status', 'follow_up.created', 'follow_up.due', 'contact.opted_out', 'source.logged_out'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

const eventOfActivity: Partial<Record<ActivityKind, WebhookEvent>> = {
  'lead.created': 'lead.created',
  'lead.assigned': 'lead.assigned',
  'lead.stage_changed': 'lead.stage_changed',
  'message.received': 'message.received',
  'message.sent': 'message.status',
  'message.delivered': 'message.status',
  'message.read': 'message.status',
  'message.failed': 'message.status',
  'follow_up.created': 'follow_up.created',
  'follow_up.due': 'follow_up.due',
  'contact.opted_out': 'contact.opted_out',
};

/** Deliveries are given up a day after the event. */
const deliveryWindowMs = 24 * 3600_000;

/** Workspaces that have webhooks, remembered briefly: most have none, and every activity asks. */
const subscribed = new Map<string, { has: boolean; at: number }>();

export function forgetWebhookCache(workspaceId: string): void {
  subscribed.delete(workspaceId);
}

/**
 * Queues the webhook deliveries an activity causes, in the caller's transaction: the event is
 * delivered if and only if what it reports was committed.
 */
export async function queueWebhookEvents(tx: Prisma.TransactionClient, activity: RecordedActivity): Promise<void> {
  const event = eventOfActivity[activity.kind];
  if (!event) return;
  await queueDeliveries(tx, activity.workspaceId, event, activity.at, { leadId: activity.leadId, activityId: activity.id, kind: activity.kind, ...activity.data });
}

/** Queues an event about the workspace itself (a source that logged out), which has no lead. */
export async function queueWorkspaceEvent(
  tx: Prisma.TransactionClient,
  entry: { workspaceId: string; event: WebhookEvent; data: Record<string, unknown>; at: Date },
): Promise<void> {
  await queueDeliveries(tx, entry.workspaceId, entry.event, entry.at, entry.data);
}

async function queueDeliveries(tx: Prisma.TransactionClient, workspaceId: string, event: WebhookEvent, at: Date, data: Record<string, unknown>): Promise<void> {
  const known = subscribed.get(workspaceId);
  if (known && !known.has && Date.now() - known.at < 2_000) return;
  const hooks = await tx.webhook.findMany({ where: { workspaceId, active: true }, select: { id: true, events: true } });
  subscribed.set(workspaceId, { has: hooks.length > 0, at: Date.now() });
  const rows = webhookDeliveryRows(hooks, { workspaceId, event, at, data });
  if (rows.length > 0) await tx.webhookDelivery.createMany({ data: rows });
}

/** The webhook event an activity announces, if any. */
export function webhookEventOfActivity(kind: ActivityKind): WebhookEvent | undefined {
  return eventOfActivity[kind];
}

/** The delivery rows of one event for the workspace's active webhooks that subscribe to it. */
export function webhookDeliveryRows(
  hooks: { id: string; events: string[] }[],
  entry: { workspaceId: string; event: WebhookEvent; at: Date; data: Record<string, unknown> },
): { id: string; workspaceId: string; webhookId: string; event: WebhookEvent; payload: Prisma.InputJsonObject }[] {
  return hooks
    .filter((hook) => hook.events.includes(entry.event))
    .map((hook) => {
      const id = newId('whd');
      return {
        id,
        workspaceId: entry.workspaceId,
        webhookId: hook.id,
        event: entry.event,
        payload: { id, event: entry.event, createdAt: entry.at.toISOString(), data: entry.data as Prisma.InputJsonObject },
      };
    });
}

/**
 * The deliveries that a batch of activities causes, for a caller that writes them in the same
 * statement as the activities (the outbound dispatcher records a batch of sends at once): one
 * query for every workspace of the batch, none for a workspace known to have no webhooks.
 */
export async function webhookDeliveriesFor(
  db: Prisma.TransactionClient,
  entries: { workspaceId: string; leadId: string; kind: ActivityKind; activityId: string; data: Record<string, unknown>; at: Date }[],
): Promise<ReturnType<typeof webhookDeliveryRows>> {
  const wanted = entries.filter((entry) => eventOfActivity[entry.kind] !== undefined);
  const asking = [...new Set(wanted.map((entry) => entry.workspaceId))].filter((workspaceId) => {
    const known = subscribed.get(workspaceId);
    return !(known && !known.has && Date.now() - known.at < 2_000);
  });
  if (asking.length === 0) return [];
  const hooks = await db.webhook.findMany({ where: { workspaceId: { in: asking }, active: true }, select: { id: true, workspaceId: true, events: true } });
  for (const workspaceId of asking) subscribed.set(workspaceId, { has: hooks.some((hook) => hook.workspaceId === workspaceId), at: Date.now() });
  return wanted.flatMap((entry) => {
    if (!asking.includes(entry.workspaceId)) return [];
    return webhookDeliveryRows(
      hooks.filter((hook) => hook.workspaceId === entry.workspaceId),
      { workspaceId: entry.workspaceId, event: eventOfActivity[entry.kind]!, at: entry.at, data: { leadId: entry.leadId, activityId: entry.activityId, kind: entry.kind, ...entry.data } },
    );
  });
}

/**
 * A webhook may not point into the gateway's own network (cloud metadata, databases, admin
 * panels) unless the operator allows it (src/security/outbound-address.ts says what is public).
 * Checked when saved and again before every delivery, since a name can start resolving
 * elsewhere; the delivery itself connects only to the addresses its own lookup checked.
 */
export async function assertDeliverable(url: string, allowPrivate: boolean, resolver?: Resolver): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ProblemError('validation_failed', 'the webhook URL is not a URL', [{ path: 'url', message: 'is not a URL' }], { cause: error });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ProblemError('validation_failed', 'webhooks are delivered over http or https', [{ path: 'url', message: 'must be http or https' }]);
  }
  if (allowPrivate) return;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = await checkHost(host, { allowPrivate, ...(resolver ? { resolver } : {}) });
  } catch (error) {
    if (!(error instanceof OutboundAddressError)) throw error;
    throw new ProblemError('validation_failed', `${host} is a private, loopback or reserved address; set LEADGATE_WEBHOOKS_ALLOW_PRIVATE=true to allow it`, [
      { path: 'url', message: 'resolves to a private, loopback or reserved address' },
    ], { cause: error });
  }
  if (addresses.length === 0) {
    throw new ProblemError('validation_failed', `${host} does not resolve`, [{ path: 'url', message: 'the host does not resolve' }]);
  }
}

/**
 * One POST, no redirects followed, through a socket whose address the outbound policy checked
 * (the same lookup that resolves the name refuses a private answer). Resolves with the status.
 */
export function postOnce(
  url: string,
  options: { headers: Record<string, string>; body: string; timeoutMs: number; allowPrivate: boolean; resolver?: Resolver },
): Promise<number> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        lookup: checkedLookup({ allowPrivate: options.allowPrivate, ...(options.resolver ? { resolver: options.resolver } : {}) }),
        timeout: options.timeoutMs,
        agent: false,
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Posts due deliveries, with retries and backoff; the delivery log keeps every outcome. */
export class WebhookDispatcher {
  private readonly poller: Poller;

  constructor(
    private readonly deps: { prisma: Db; box: SecretBox; logger: Logger; allowPrivate: boolean; retryBaseMs: number; pollMs: number },
  ) {
    this.poller = new Poller(() => this.deliverDue(), this.deps.pollMs);
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  async deliverDue(): Promise<void> {
    try {
      const claimed = await this.deps.prisma.$queryRaw<{ id: string }[]>`
        UPDATE webhook_deliveries SET "lockedUntil" = now() + interval '60 seconds', attempts = attempts + 1
        WHERE id IN (
          SELECT id FROM webhook_deliveries
          WHERE status = 'pending' AND "nextAttemptAt" <= now() AND ("lockedUntil" IS NULL OR "lockedUntil" < now())
          ORDER BY "nextAttemptAt" LIMIT 20 FOR UPDATE SKIP LOCKED)
        RETURNING id`;
      await Promise.all(claimed.map(({ id }) => this.deliver(id)));
    } catch (error) {
      this.deps.logger.error({ err: error }, 'webhook delivery round failed');
    }
  }

  private async deliver(id: string): Promise<void> {
    const { prisma, box, allowPrivate } = this.deps;
    const delivery = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id }, include: { webhook: true } });
    const body = JSON.stringify(delivery.payload);
    let responseCode: number | null = null;
    let failure: string | null = null;
    try {
      await assertDeliverable(delivery.webhook.url, allowPrivate);
      responseCode = await postOnce(delivery.webhook.url, {
        timeoutMs: 10_000,
        allowPrivate,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'leadgate-webhooks',
          'x-leadgate-event': delivery.event,
          'x-leadgate-delivery': delivery.id,
          'x-leadgate-signature': signature(box.open<string>(delivery.webhook.secret), body),
        },
        body,
      });
      if (responseCode < 200 || responseCode > 299) failure = `the endpoint answered ${responseCode}`;
    } catch (error) {
      failure = errorMessage(error);
    }
    if (!failure) {
      await prisma.webhookDelivery.update({ where: { id }, data: { status: 'delivered', responseCode, deliveredAt: new Date(), lockedUntil: null, lastError: null } });
      return;
    }
    const next = new Date(Date.now() + backoffMs(delivery.attempts, this.deps.retryBaseMs, 3600_000));
    const givenUp = next.getTime() > delivery.createdAt.getTime() + deliveryWindowMs;
    await prisma.webhookDelivery.update({
      where: { id },
      data: { status: givenUp ? 'failed' : 'pending', responseCode, lastError: failure, nextAttemptAt: next, lockedUntil: null },
    });
    this.deps.logger.warn({ deliveryId: id, responseCode, failure, givenUp }, 'webhook delivery failed');
  }
}
