import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimiter } from '../rate-limit.js';

/**
 * How fast one connection (a mailbox, a Twilio number, a WhatsApp number, the gateway's SMTP)
 * may send. A dispatcher round asks for as many sends as it has messages for the connection and
 * sends only what it is granted; the rest wait for `retryInMs`.
 */
export interface SendPace {
  take(key: string, perMinute: number, wanted: number): Promise<{ granted: number; retryInMs: number }>;
  /** Sends taken but not made (another worker claimed the message first). */
  giveBack(key: string, perMinute: number, count: number): Promise<void>;
  close(): Promise<void>;
}

/** The pace could not be asked for (Redis did not answer): the messages wait for a later round. */
export class SendPaceError extends Error {
  override readonly name = 'SendPaceError';
  readonly code = 'send_pace_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Without Redis: a token bucket in this process, refilled continuously, bursts up to a minute's
 * worth. Only right when one process sends for each connection.
 */
export class LocalSendPace implements SendPace {
  private readonly limiter = new RateLimiter();

  async take(key: string, perMinute: number, wanted: number): Promise<{ granted: number; retryInMs: number }> {
    return this.limiter.takeUpTo(key, perMinute, wanted);
  }

  async giveBack(key: string, perMinute: number, count: number): Promise<void> {
    this.limiter.giveBack(key, perMinute, count);
  }

  async close(): Promise<void> {}
}

/**
 * With Redis: one count per connection shared by every process (rate-limiter-flexible's atomic
 * counter), so N worker processes together keep the pace one would. It counts in fixed windows
 * of whole seconds: a minute's worth per minute, or for paces under one a minute, one send per
 * window of 60/pace seconds.
 */
export class RedisSendPace implements SendPace {
  private readonly client: Redis;
  private readonly limiters = new Map<number, { limiter: RateLimiterRedis; points: number }>();

  constructor(
    redisUrl: string,
    private readonly prefix: string,
  ) {
    // A command fails after one retry instead of waiting for Redis: the round then leaves its
    // messages queued for later, which is what a send that cannot ask for its turn should do.
    this.client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.client.on('error', () => undefined);
  }

  async take(key: string, perMinute: number, wanted: number): Promise<{ granted: number; retryInMs: number }> {
    const { limiter, points } = this.limiter(perMinute);
    try {
      await limiter.consume(key, wanted);
      return { granted: wanted, retryInMs: 0 };
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        // The count rose by `wanted` in one step: what was left before it is this caller's.
        const before = error.consumedPoints - wanted;
        return { granted: Math.max(0, Math.min(wanted, points - before)), retryInMs: Math.max(1, error.msBeforeNext) };
      }
      throw new SendPaceError('could not ask Redis for the send pace', { cause: error });
    }
  }

  async giveBack(key: string, perMinute: number, count: number): Promise<void> {
    if (count <= 0) return;
    try {
      await this.limiter(perMinute).limiter.reward(key, count);
    } catch (error) {
      throw new SendPaceError('could not give sends back to the pace in Redis', { cause: error });
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  /** The Redis key that counts a connection's sends in its current window. */
  static windowKey(prefix: string, key: string, perMinute: number): string {
    const { points, duration } = windowOf(perMinute);
    return `${prefix}:send-pace:${points}per${duration}s:${key}`;
  }

  private limiter(perMinute: number): { limiter: RateLimiterRedis; points: number } {
    let entry = this.limiters.get(perMinute);
    if (!entry) {
      const { points, duration } = windowOf(perMinute);
      entry = {
        limiter: new RateLimiterRedis({ storeClient: this.client, keyPrefix: `${this.prefix}:send-pace:${points}per${duration}s`, points, duration }),
        points,
      };
      this.limiters.set(perMinute, entry);
    }
    return entry;
  }
}

/** The library counts whole points in windows of whole seconds. */
function windowOf(perMinute: number): { points: number; duration: number } {
  return perMinute >= 1 ? { points: Math.floor(perMinute), duration: 60 } : { points: 1, duration: Math.ceil(60 / perMinute) };
}
