import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { Outbound } from '../messaging/outbound.js';
import type { JobQueue } from './contract.js';

/**
 * The safety net under the queue: finds rows whose job was lost (a crash between commit and
 * enqueue, Redis down, a process killed mid-job) and wakes a worker for them again.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: { prisma: Db; queue: JobQueue; outbound: Outbound; logger: Logger; intervalMs: number },
  ) {}

  start(): void {
    // The first sweep takes everything left over by a previous process, however recent.
    this.running = this.sweep(0);
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep(this.deps.intervalMs * 2).finally(() => (this.running = undefined));
    }, this.deps.intervalMs);
    this.timer.unref();
    void this.running.finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Rows younger than graceMs are left alone: their own job is most likely still on its way. */
  async sweep(graceMs: number): Promise<void> {
    const { prisma, queue, outbound, logger } = this.deps;
    try {
      const before = new Date(Date.now() - graceMs);
      const now = new Date();
      const events = await prisma.inboundEvent.findMany({
        where: { status: 'pending', createdAt: { lte: before }, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
        select: { id: true },
        orderBy: { createdAt: 'asc' },
        take: 1000,
      });
      for (const { id } of events) await queue.add('inbound', id, { attempt: -1 });
      const interrupted = await outbound.failInterruptedSends();
      const messages = await prisma.message.findMany({
        where: { status: 'queued', updatedAt: { lte: before }, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
        select: { id: true, attempts: true },
        take: 1000,
      });
      for (const { id, attempts } of messages) await queue.add('outbound', id, { attempt: attempts });
      if (events.length + messages.length + interrupted > 0) {
        logger.info({ events: events.length, messages: messages.length, interrupted }, 'sweeper picked up unfinished work');
      }
    } catch (error) {
      logger.error({ err: error }, 'sweep failed; trying again at the next interval');
    }
  }
}
