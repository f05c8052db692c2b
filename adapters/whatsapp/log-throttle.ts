import type { BaileysLogger } from './driver.js';

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

/** The text of what a log call was about: the message and the error's own message. */
function keyOf(level: string, details: unknown, message: string | undefined): string {
  const fields = details && typeof details === 'object' ? (details as { err?: unknown; error?: unknown }) : {};
  const error = fields.err ?? fields.error;
  const reason = error instanceof Error ? error.message : typeof details === 'string' ? details : '';
  return `${level}\u0000${message ?? ''}\u0000${reason}`;
}

/**
 * Baileys' logger with its warnings and errors through the throttle: a storm of one error ("Bad
 * MAC" on every message of a broken session) becomes one line per window with `repeated`.
 */
export function quietLogger(logger: BaileysLogger, throttle: LogThrottle): BaileysLogger {
  const gated =
    (level: 'warn' | 'error') =>
    (details: unknown, message?: string): void => {
      const gate = throttle.take(keyOf(level, details, message));
      if (!gate.write) return;
      const withCount = gate.held > 0 ? { ...(details && typeof details === 'object' ? details : { details }), repeated: gate.held } : details;
      logger[level](withCount, message);
    };
  return {
    get level() {
      return logger.level;
    },
    set level(level: string) {
      logger.level = level;
    },
    child: (bindings) => quietLogger(logger.child(bindings), throttle),
    trace: (details, message) => logger.trace(details, message),
    debug: (details, message) => logger.debug(details, message),
    info: (details, message) => logger.info(details, message),
    warn: gated('warn'),
    error: gated('error'),
  };
}
