import Bull from 'bull';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { type JobQueue, type QueueDepth, type QueueName, queueNames } from './contract.js';

interface RowJob {
  rowId: string;
}

/** Bull on Redis: jobs wake workers in any number of processes. */
export class BullQueue implements JobQueue {
  readonly kind = 'bull' as const;
  private readonly queues = new Map<QueueName, Bull.Queue<RowJob>>();
  private readonly clients: Redis[] = [];
  private readonly probe: Redis;

  constructor(
    private readonly redisUrl: string,
    private readonly logger: Logger,
    private readonly prefix = 'leadgate',
  ) {
    this.probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.probe.on('error', () => undefined);
  }

  async add(queue: QueueName, rowId: string, options: { delayMs?: number; attempt?: number; key?: string } = {}): Promise<void> {
    // The attempt is part of the job id: Bull ignores an add whose id still exists, and a retry is
    // scheduled while the failing attempt's job is still active.
    await this.queue(queue).add(
      { rowId },
      { jobId: `${rowId}:${options.attempt ?? 0}${options.key ? `:${options.key}` : ''}`, delay: options.delayMs ?? 0, removeOnComplete: true, removeOnFail: true, attempts: 1 },
    );
  }

  process(queue: QueueName, concurrency: number, handler: (rowId: string) => Promise<void>): void {
    void this.queue(queue)
      .process(concurrency, async (job) => {
        await handler(job.data.rowId);
      })
      .catch((error: unknown) => this.logger.error({ err: error, queue }, 'bull worker stopped'));
  }

  async depths(): Promise<Record<QueueName, QueueDepth> | undefined> {
    const counts = await Promise.all(
      queueNames.map(async (name) => {
        const queue = this.queue(name);
        // A command to a client that is not connected waits in its queue until Redis is back.
        if (queue.client.status !== 'ready') throw new Error('redis is not connected');
        const { waiting, active, delayed, failed } = await queue.getJobCounts();
        return [name, { waiting, active, delayed, failed }] as const;
      }),
    ).catch(() => undefined);
    return counts ? (Object.fromEntries(counts) as Record<QueueName, QueueDepth>) : undefined;
  }

  async ping(): Promise<boolean> {
    try {
      if (this.probe.status === 'wait') await this.probe.connect();
      return (await this.probe.ping()) === 'PONG';
    } catch (error) {
      this.logger.debug({ err: error }, 'redis ping failed');
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.probe.disconnect();
    for (const client of this.clients) client.disconnect();
  }

  private queue(name: QueueName): Bull.Queue<RowJob> {
    let queue = this.queues.get(name);
    if (!queue) {
      // Bull wants one shared client and subscriber, and fresh blocking clients.
      const shared: Record<string, Redis> = {};
      const options: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: false };
      queue = new Bull<RowJob>(name, {
        prefix: this.prefix,
        createClient: (type) => {
          if (type === 'bclient') {
            const client = new Redis(this.redisUrl, options);
            this.clients.push(client);
            return client;
          }
          shared[type] ??= new Redis(this.redisUrl, options);
          if (!this.clients.includes(shared[type])) this.clients.push(shared[type]);
          return shared[type];
        },
      });
      queue.on('error', (error) => this.logger.error({ err: error, queue: name }, 'bull queue error'));
      this.queues.set(name, queue);
    }
    return queue;
  }
}
