import { createHash } from 'node:crypto';
import { Prisma } from '@prisma/client';
import type { Logger } from 'pino';
import type { CaptureOptions, CaptureResult, InboundEvent } from '../channels/contract.js';
import type { Db } from '../db/client.js';
import type { SqlRunner } from '../db/migrate.js';
import { newId } from '../ids.js';
import type { Metrics } from '../metrics.js';
import type { JobQueue } from '../queue/contract.js';
import { GroupCommit } from './group-commit.js';
import { inspectParsed, storableText, storableValue } from '../input-shape.js';

/** The same content without a provider id, within this window, is the same event. */
export const contentDedupeWindowMs = 10 * 60_000;

interface PendingCapture {
  id: string;
  workspaceId: string;
  event: InboundEvent;
  externalId: string;
  /** For content-keyed events: the key the same content had in the previous window. */
  previousWindowKey: string | null;
  status: 'pending' | 'rejected';
  reason: string | null;
}

interface StoredEvent {
  id: string;
  sourceId: string;
  externalId: string;
  status: string;
  leadId: string | null;
}

/**
 * Stores inbound events durably before anyone acknowledges them, at most once per
 * (source, provider id), and wakes a worker to process each new one.
 */
export class CaptureService {
  private readonly batches: GroupCommit<PendingCapture, CaptureResult>;

  constructor(
    private readonly prisma: Db,
    /** The hot path's plain SQL: the driver itself, without Prisma's per-query compile. */
    private readonly runner: SqlRunner,
    private readonly queue: JobQueue,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    options: { maxConcurrentBatches: number },
  ) {
    this.batches = new GroupCommit((items) => this.writeBatch(items), { maxBatch: 500, ...options });
  }

  async capture(workspaceId: string, event: InboundEvent, options: CaptureOptions = {}): Promise<CaptureResult> {
    const done = this.metrics.captureDuration.startTimer({ channel: event.channel });
    event = storableEvent(event);
    const keys = idempotencyKeys(event);
    const result = await this.batches.submit({
      id: newId('evt'),
      workspaceId,
      event,
      externalId: keys.current,
      previousWindowKey: keys.previous,
      status: options.rejectedBecause ? 'rejected' : 'pending',
      reason: options.rejectedBecause ?? null,
    });
    done();
    this.metrics.captures.inc({ channel: event.channel, outcome: !result.created ? 'duplicate' : result.status === 'rejected' ? 'rejected' : 'stored' });
    return result;
  }

  private async writeBatch(items: PendingCapture[]): Promise<CaptureResult[]> {
    // Within the batch, the first of several identical keys is the one written.
    const firstByKey = new Map<string, PendingCapture>();
    for (const item of items) {
      const key = `${item.event.sourceId}\u0000${item.externalId}`;
      if (!firstByKey.has(key)) firstByKey.set(key, item);
    }
    const candidates = [...firstByKey.values()];
    const replayOfPrevious = await this.findPreviousWindowReplays(candidates);
    const toInsert = candidates.filter((item) => !replayOfPrevious.has(item.id));
    const hasAttachments = toInsert.some((item) => (item.event.attachments?.length ?? 0) > 0);

    const inserted = hasAttachments
      ? await this.prisma.$transaction(async (tx) => {
          const ids = await insertEvents(tx, toInsert);
          await insertAttachments(tx, toInsert.filter((item) => ids.has(item.id)));
          return ids;
        })
      : await insertEventsRaw(this.runner, toInsert);

    const existingKeys = candidates.filter((item) => !inserted.has(item.id) && !replayOfPrevious.has(item.id));
    const existing = await findEvents(this.runner, existingKeys.map((item) => [item.event.sourceId, item.externalId]));

    const results = items.map((item): CaptureResult => {
      const first = firstByKey.get(`${item.event.sourceId}\u0000${item.externalId}`)!;
      if (inserted.has(first.id)) {
        return { eventId: first.id, leadId: null, created: item === first, status: first.status };
      }
      const stored = replayOfPrevious.get(first.id) ?? existing.get(`${item.event.sourceId}\u0000${item.externalId}`);
      if (!stored) throw new Error(`inbound event ${item.externalId} was neither inserted nor found`);
      return { eventId: stored.id, leadId: stored.leadId, created: false, status: stored.status };
    });

    // One wake-up per batch: a worker takes every pending event from there, a batch at a time.
    const firstPending = toInsert.find((item) => inserted.has(item.id) && item.status === 'pending');
    if (firstPending) {
      // Not awaited: the rows are committed, and the sweeper wakes a worker if this add is lost.
      this.queue.add('inbound', firstPending.id).catch((error: unknown) => {
        this.logger.warn({ err: error, eventId: firstPending.id }, 'could not queue an inbound event; the sweeper will pick it up');
      });
    }
    return results;
  }

  private async findPreviousWindowReplays(items: PendingCapture[]): Promise<Map<string, StoredEvent>> {
    const withPrevious = items.filter((item) => item.previousWindowKey !== null);
    const found = new Map<string, StoredEvent>();
    if (withPrevious.length === 0) return found;
    const stored = await findEvents(
      this.runner,
      withPrevious.map((item) => [item.event.sourceId, item.previousWindowKey!]),
    );
    for (const item of withPrevious) {
      const match = stored.get(`${item.event.sourceId}\u0000${item.previousWindowKey}`);
      if (match && match.receivedAt.getTime() > item.event.receivedAt.getTime() - contentDedupeWindowMs) {
        found.set(item.id, match);
      }
    }
    return found;
  }
}

/**
 * What any adapter hands over is stored, whatever it holds: text the database cannot hold (a NUL,
 * half a surrogate pair) loses only those characters, and a raw payload nested or spread beyond
 * the limits is kept as a note instead of itself (the normalized event is what processing reads).
 */
function storableEvent(event: InboundEvent): InboundEvent {
  const rawProblem = inspectParsed(event.raw);
  const stored = rawProblem && rawProblem.kind !== 'unstorable_text' ? { ...event, raw: { notKept: `the payload ${rawProblem.kind.replaceAll('_', ' ')} at ${rawProblem.path}` } } : event;
  const { raw, attachments, ...rest } = stored;
  if (inspectParsed(rest) === null && inspectParsed(raw) === null) return stored;
  return {
    ...storableValue(rest),
    raw: storableValue(raw),
    ...(attachments ? { attachments: attachments.map((file) => ({ ...file, filename: storableText(file.filename), contentType: storableText(file.contentType) })) } : {}),
  };
}

/**
 * The provider's id when there is one. Otherwise a hash of the content, bucketed into windows
 * of ten minutes; a replay just after a window boundary is caught by also checking the previous one.
 */
export function idempotencyKeys(event: InboundEvent): { current: string; previous: string | null } {
  if (event.externalId) return { current: event.externalId, previous: null };
  const hash = createHash('sha256').update(canonicalJson(event.raw));
  for (const attachment of event.attachments ?? []) {
    if ('data' in attachment) hash.update(createHash('sha256').update(attachment.data).digest());
  }
  const digest = hash.digest('hex');
  const window = Math.floor(event.receivedAt.getTime() / contentDedupeWindowMs);
  return { current: `content:${digest}:${window}`, previous: `content:${digest}:${window - 1}` };
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type SqlClient = Pick<Db, '$queryRaw' | '$executeRaw'>;

async function insertEvents(db: SqlClient, items: PendingCapture[]): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const rows = items.map((item) => {
    const values = eventValues(item).map((value, index) => Prisma.sql`${value}${Prisma.raw(eventCasts[index]!)}`);
    return Prisma.sql`(${Prisma.join(values)})`;
  });
  const inserted = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO inbound_events (${Prisma.raw(eventColumns.join(', '))}) VALUES ${Prisma.join(rows)}
    ON CONFLICT ("sourceId", "externalId") DO NOTHING RETURNING id`;
  return new Set(inserted.map((row) => row.id));
}

async function insertAttachments(db: SqlClient, items: PendingCapture[]): Promise<void> {
  const rows = items.flatMap((item) =>
    (item.event.attachments ?? []).map((attachment) => {
      const data = 'data' in attachment ? attachment.data : Buffer.alloc(0);
      const size = 'data' in attachment ? data.length : (attachment.size ?? 0);
      const status = 'data' in attachment ? 'stored' : attachment.later.status;
      const error = 'later' in attachment && attachment.later.status === 'failed' ? attachment.later.error : null;
      // Bytes travel as base64 text: pglite-prisma-adapter 0.6 cannot bind a bytea parameter
      // from Prisma 6.19's query compiler, and decode() works the same on both databases.
      return Prisma.sql`(${newId('att')}, ${item.workspaceId}, ${item.id}, ${attachment.filename}, ${attachment.contentType},
          ${size}, decode(${data.toString('base64')}, 'base64'), ${status}, ${error})`;
    }),
  );
  if (rows.length === 0) return;
  await db.$executeRaw`
    INSERT INTO attachments (id, "workspaceId", "eventId", filename, "contentType", size, data, status, error)
    VALUES ${Prisma.join(rows)}`;
}

/** The event columns in insert order, and each row's values in that order. */
const eventColumns = ['id', '"workspaceId"', '"sourceId"', 'channel', '"externalId"', 'status', 'reason', 'payload', 'raw', '"receivedAt"'];
const eventCasts = ['', '', '', '', '', '', '', '::jsonb', '::jsonb', '::timestamptz'];

function eventValues(item: PendingCapture): unknown[] {
  const { raw, attachments, ...payload } = item.event;
  const payloadJson = JSON.stringify({
    ...payload,
    attachments: attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, size: 'data' in a ? a.data.length : (a.size ?? 0) })),
  });
  return [item.id, item.workspaceId, item.event.sourceId, item.event.channel, item.externalId, item.status, item.reason, payloadJson, JSON.stringify(raw ?? null), item.event.receivedAt.toISOString()];
}

async function insertEventsRaw(runner: SqlRunner, items: PendingCapture[]): Promise<Set<string>> {
  if (items.length === 0) return new Set();
  const params: unknown[] = [];
  const rows = items.map((item) => {
    const values = eventValues(item);
    const placeholders = values.map((value, index) => {
      params.push(value);
      return `$${params.length}${eventCasts[index]}`;
    });
    return `(${placeholders.join(', ')})`;
  });
  // ON CONFLICT DO NOTHING rather than catching a unique violation: the PGlite and pg drivers
  // report that violation differently, and this way a replay costs no failed statement.
  const inserted = await runner.query<{ id: string }>(
    `INSERT INTO inbound_events (${eventColumns.join(', ')}) VALUES ${rows.join(', ')}
     ON CONFLICT ("sourceId", "externalId") DO NOTHING RETURNING id`,
    params,
  );
  return new Set(inserted.map((row) => row.id));
}

async function findEvents(runner: SqlRunner, keys: [string, string][]): Promise<Map<string, StoredEvent & { receivedAt: Date }>> {
  const found = new Map<string, StoredEvent & { receivedAt: Date }>();
  if (keys.length === 0) return found;
  const params = keys.flat();
  const tuples = keys.map((_, index) => `($${index * 2 + 1}, $${index * 2 + 2})`).join(', ');
  const rows = await runner.query<StoredEvent & { receivedAt: Date | string }>(
    `SELECT id, "sourceId", "externalId", status, "leadId", "receivedAt" FROM inbound_events WHERE ("sourceId", "externalId") IN (${tuples})`,
    params,
  );
  for (const row of rows) found.set(`${row.sourceId}\u0000${row.externalId}`, { ...row, receivedAt: new Date(row.receivedAt) });
  return found;
}
