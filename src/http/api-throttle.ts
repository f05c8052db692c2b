import { Redis } from 'ioredis';
import type { RequestHandler } from 'express';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ProblemError } from '../errors.js';
import type { Credential } from './auth.js';

export interface ApiThrottleOptions {
  /** Requests a minute per credential (API key or session); 0: no limit. */
  perKey: number;
  /** Requests a minute per client address; 0: no limit. */
  perAddress: number;
  /** With Redis, every process of the gateway draws on one budget per key and per address. */
  redisUrl?: string | undefined;
  prefix: string;
}

/**
 * Throttles the API per credential and per client address, in windows of a minute. With Redis the
 * counts are shared by every API process (rate-limiter-flexible's atomic counters); while Redis
 * does not answer, each process counts by itself (its insurance limiter) rather than refusing or
 * letting everything through. Form hooks are not throttled here: they have their own per-form
 * limit, and signed posts come from servers that post every form from a few addresses.
 */
export class ApiThrottle {
  private readonly client: Redis | undefined;
  private readonly byKey: RateLimiterAbstract | undefined;
  private readonly byAddress: RateLimiterAbstract | undefined;

  constructor(options: ApiThrottleOptions) {
    if (options.redisUrl && (options.perKey > 0 || options.perAddress > 0)) {
      // A command that cannot be sent fails at once: the insurance limiter answers instead.
      this.client = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      this.client.on('error', () => undefined);
    }
    const limiter = (name: string, points: number): RateLimiterAbstract | undefined => {
      if (points <= 0) return undefined;
      const keyPrefix = `${options.prefix}:api-rate:${name}`;
      const memory = new RateLimiterMemory({ keyPrefix, points, duration: 60 });
      return this.client ? new RateLimiterRedis({ storeClient: this.client, keyPrefix, points, duration: 60, insuranceLimiter: memory }) : memory;
    };
    this.byKey = limiter('key', options.perKey);
    this.byAddress = limiter('address', options.perAddress);
  }

  /** Before authentication: every request from one address counts. */
  perAddress(): RequestHandler {
    return async (req, _res, next) => {
      await consume(this.byAddress, `ip:${req.ip ?? 'unknown'}`, 'this address');
      next();
    };
  }

  /** After authentication: every request made with one API key or one session counts. */
  perCredential(): RequestHandler {
    return async (_req, res, next) => {
      const credential = res.locals.credential as Credential | undefined;
      if (credential) await consume(this.byKey, `${credential.kind}:${credential.id}`, 'this credential');
      next();
    };
  }

  async close(): Promise<void> {
    this.client?.disconnect();
  }
}

async function consume(limiter: RateLimiterAbstract | undefined, key: string, who: string): Promise<void> {
  if (!limiter) return;
  try {
    await limiter.consume(key);
  } catch (error) {
    if (!(error instanceof RateLimiterRes)) throw error;
    const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
    throw new ProblemError('rate_limited', `too many requests from ${who}: at most ${limiter.points} a minute; try again in ${seconds} s`, undefined, {
      headers: { 'Retry-After': String(seconds) },
    });
  }
}
