/**
 * Work lives in database rows with a status; a queue only wakes workers up. Losing a job is
 * harmless (the sweeper finds the row again) and so is running one twice (handlers claim rows).
 */
export type QueueName = 'inbound' | 'outbound';

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export const queueNames: readonly QueueName[] = ['inbound', 'outbound'];

export interface JobQueue {
  readonly kind: 'embedded' | 'bull';
  /**
   * Wakes a worker for the row `rowId`, now or after delayMs. `attempt` and `key` tell wake-ups
   * of one row apart (Bull ignores a job whose id is still queued or running). Outbound jobs are
   * not rows: `rowId` is the wake-up's own key, and the job runs a round over whatever is due.
   */
  add(queue: QueueName, rowId: string, options?: { delayMs?: number; attempt?: number; key?: string }): Promise<void>;
  process(queue: QueueName, concurrency: number, handler: (rowId: string) => Promise<void>): void;
  /**
   * Jobs per queue and state, for metrics: undefined while the backing service cannot answer
   * at once (a scrape never waits for Redis to come back).
   */
  depths(): Promise<Record<QueueName, QueueDepth> | undefined>;
  /** Whether the queue's backing service answers (always true for the embedded runner). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
