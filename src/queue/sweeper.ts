import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { Outbound } from '../messaging/outbound.js';
import { dropAbandonedUploads } from '../messaging/uploads.js';
import type { JobQueue } from './contract.js';
import { Poller } from './poller.js';

/**
 * The safety net under the queue: finds rows whose job was lost (a crash between commit and
 * enqueue, Redis down, a process killed mid-job) and wakes a worker for them again.
 */
export class Sweeper {
  private readonly poller: Poller;
  private first: Promise<void> | undefined;
  private uploadsSweptAt = 0;

  constructor(
    private readonly deps: { prisma: Db; queue: JobQueue; outbound: Outbound; logger: Logger; intervalMs: number },
  ) {
    this.poller = new Poller(() => (this.first ?? Promise.resolve()).then(() => this.sweep(deps.intervalMs * 2)), deps.intervalMs);
  }

  start(): void {
    // The first sweep takes everything left over by a previous process, however recent.
    this.first = this.sweep(0);
    this.poller.start();
  }

  async stop(): Promise<void> {
    await this.poller.stop();
    await this.first;
  }

  /** Rows younger than graceMs are left alone: their own job is most likely still on its way. */
  async sweep(graceMs: number): Promise<void> {
    const { prisma, queue, outbound, logger } = this.deps;
    try {
      const before = new Date(Date.now() - graceMs);
      const now = new Date();
      // Pending events are worked off a batch at a time by whichever worker wakes: one wake-up
      // per interval is enough, however many events wait. Its id names the interval, so a wake-up
      // a killed process was running (Bull holds it until its stall check) never stops the next.
      const waiting = await prisma.inboundEvent.findFirst({
        where: { status: 'pending', createdAt: { lte: before }, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
        select: { id: true },
      });
      if (waiting) await queue.add('inbound', 'sweep', { key: String(Math.floor(Date.now() / this.deps.intervalMs)) });
      const events = waiting ? [waiting] : [];
      // Outbound: sends whose worker died end failed; messages due that no round is working on
      // get one round, however many they are.
      const interrupted = await outbound.failInterruptedSends();
      const outboundWoken = await outbound.wakeIfStalled(graceMs);
      if (Date.now() - this.uploadsSweptAt > 3600_000) {
        this.uploadsSweptAt = Date.now();
        await dropAbandonedUploads(prisma);
      }
      if (events.length + interrupted > 0 || outboundWoken) {
        logger.info({ events: events.length, interrupted, outboundWoken }, 'sweeper picked up unfinished work');
      }
    } catch (error) {
      logger.error({ err: error }, 'sweep failed; trying again at the next interval');
    }
  }
}
