/**
 * One log line per kind of error per window: a reconnect loop or a "Bad MAC" storm repeats the
 * same error thousands of times, which fills disks and hides everything else. The first one is
 * written at once; the repeats are counted and the count goes out with the next line written.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { writtenAt: number; held: number }>();

  constructor(private readonly windowMs: number) {}

  /**
   * Whether to write the line with this key now, and how many lines with the same key were held
   * back since the last one written.
   */
  take(key: string, now = Date.now()): { write: boolean; held: number } {
    const entry = this.seen.get(key);
    if (entry && now - entry.writtenAt < this.windowMs) {
      entry.held++;
      return { write: false, held: entry.held };
    }
    const held = entry?.held ?? 0;
    this.seen.set(key, { writtenAt: now, held: 0 });
    if (this.seen.size > 200) this.forget(now);
    return { write: true, held };
  }

  private forget(now: number): void {
    for (const [key, entry] of this.seen) if (now - entry.writtenAt >= this.windowMs) this.seen.delete(key);
  }
}
