/** A token bucket per key, refilled continuously: `perMinute` requests, bursts up to that size. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Returns 0 when the request may go ahead, else the seconds to wait. */
  take(key: string, perMinute: number, now = Date.now()): number {
    if (this.buckets.size > 50_000) this.prune(now);
    const ratePerMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / ratePerMs / 1000);
  }

  /**
   * Takes up to `wanted` requests at once: how many may go now, and the milliseconds until the
   * next one may when not all of them can.
   */
  takeUpTo(key: string, perMinute: number, wanted: number, now = Date.now()): { granted: number; retryInMs: number } {
    if (this.buckets.size > 50_000) this.prune(now);
    const ratePerMs = perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    this.buckets.set(key, bucket);
    const granted = Math.max(0, Math.min(wanted, Math.floor(bucket.tokens)));
    bucket.tokens -= granted;
    return { granted, retryInMs: granted < wanted ? Math.ceil((1 - bucket.tokens) / ratePerMs) : 0 };
  }

  /** Returns requests taken but not made. */
  giveBack(key: string, perMinute: number, count: number): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(perMinute, bucket.tokens + count);
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) if (now - bucket.at > 60_000) this.buckets.delete(key);
  }
}
