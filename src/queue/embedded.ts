import type { Logger } from 'pino';
import { type JobQueue, type QueueDepth, type QueueName, queueNames } from './contract.js';

interface Lane {
  concurrency: number;
  handler: (rowId: string) => Promise<void>;
  running: number;
  waiting: string[];
  /** Ids queued or running, so a burst of wake-ups for one row runs it once. */
  pending: Set<string>;
}

/** Runs jobs in this process. Used when REDIS_URL is unset; the database rows keep the work durable. */
export class EmbeddedQueue implements JobQueue {
  readonly kind = 'embedded' as const;
  private readonly lanes = new Map<QueueName, Lane>();
  private readonly early = new Map<QueueName, string[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Delayed jobs per queue, waiting for their timer. */
  private readonly delayed = new Map<QueueName, number>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  async add(queue: QueueName, rowId: string, options: { delayMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    // Node's timers hold at most ~24.8 days; a later job wakes early and goes back to sleep.
    const delay = Math.min(options.delayMs ?? 0, 2 ** 31 - 1);
    if (delay > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.delayed.set(queue, (this.delayed.get(queue) ?? 1) - 1);
        this.enqueue(queue, rowId);
      }, delay);
      timer.unref();
      this.timers.add(timer);
      this.delayed.set(queue, (this.delayed.get(queue) ?? 0) + 1);
      return;
    }
    this.enqueue(queue, rowId);
  }

  process(queue: QueueName, concurrency: number, handler: (rowId: string) => Promise<void>): void {
    const lane: Lane = { concurrency, handler, running: 0, waiting: [], pending: new Set() };
    this.lanes.set(queue, lane);
    for (const rowId of this.early.get(queue) ?? []) this.enqueue(queue, rowId);
    this.early.delete(queue);
  }

  async depths(): Promise<Record<QueueName, QueueDepth>> {
    // A job that failed is not kept (its row says what is left to do), as with Bull here.
    const depth = (name: QueueName): QueueDepth => {
      const lane = this.lanes.get(name);
      return { waiting: lane?.waiting.length ?? 0, active: lane?.running ?? 0, delayed: this.delayed.get(name) ?? 0, failed: 0 };
    };
    return Object.fromEntries(queueNames.map((name) => [name, depth(name)])) as Record<QueueName, QueueDepth>;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Let running jobs finish so their transactions end before the database closes.
    while ([...this.lanes.values()].some((lane) => lane.running > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private enqueue(queue: QueueName, rowId: string): void {
    const lane = this.lanes.get(queue);
    if (!lane) {
      // No worker in this process (API-only): the sweeper of a worker process finds the row.
      return;
    }
    if (lane.pending.has(rowId)) return;
    lane.pending.add(rowId);
    lane.waiting.push(rowId);
    this.drain(lane, queue);
  }

  private drain(lane: Lane, queue: QueueName): void {
    while (!this.closed && lane.running < lane.concurrency && lane.waiting.length > 0) {
      const rowId = lane.waiting.shift()!;
      lane.running++;
      lane
        .handler(rowId)
        .catch((error: unknown) => this.logger.error({ err: error, queue, rowId }, 'job failed'))
        .finally(() => {
          lane.running--;
          lane.pending.delete(rowId);
          this.drain(lane, queue);
        });
    }
  }
}
