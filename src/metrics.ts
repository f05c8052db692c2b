import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What the gateway counts for Prometheus, one registry per gateway. Counters and histograms are
 * moved by the code that does the work (capture, processing, sending), never by a second path
 * that re-reads it; gauges of shared state (backlogs, queue depths, connection states) are read
 * when scraped, each reading bounded in rows and in time.
 *
 * Labels carry kinds and outcomes, and a source's id for its connection: never a person's
 * address, a secret or free text.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly captures = new Counter({
    name: 'leadgate_captures_total',
    help: 'Inbound events handed to capture, by channel and outcome: stored (new), duplicate (a replay of one stored before), rejected (stored but not processed: spam, rate limit)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly captureDuration = new Histogram({
    name: 'leadgate_capture_duration_seconds',
    help: 'From an event handed to capture to its row committed (what an acknowledgement waits for), by channel',
    labelNames: ['channel'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly processed = new Counter({
    name: 'leadgate_inbound_processed_total',
    help: 'Inbound events that ended processing, by channel and outcome: processed, or failed for good',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly processingRetries = new Counter({
    name: 'leadgate_inbound_retries_total',
    help: 'Inbound events whose processing failed and was scheduled again, by channel',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });

  readonly sends = new Counter({
    name: 'leadgate_sends_total',
    help: 'Outbound messages that ended their send, by channel and outcome: sent, or failed for good',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly sendRetries = new Counter({
    name: 'leadgate_send_retries_total',
    help: 'Sends that failed with a transient error and were scheduled again, by channel',
    labelNames: ['channel'] as const,
    registers: [this.registry],
  });

  readonly sendDuration = new Histogram({
    name: 'leadgate_send_duration_seconds',
    help: "How long a channel took to take a message (the SMTP server's answer, WhatsApp's send), by channel and outcome",
    labelNames: ['channel', 'outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly httpRequests = new Histogram({
    name: 'leadgate_http_request_duration_seconds',
    help: 'HTTP requests served, by method and status class (2xx, 4xx, 5xx)',
    labelNames: ['method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private defaultsCollected = false;

  constructor(role: 'api' | 'worker' | 'test', version: string) {
    new Gauge({
      name: 'leadgate_info',
      help: 'Always 1: what this process is (api serves HTTP and may run workers, worker runs workers only) and its version',
      labelNames: ['role', 'version'] as const,
      registers: [this.registry],
    }).set({ role, version }, 1);
  }

  /**
   * Node's own process metrics (CPU, memory, event loop lag, GC): only for a registry that is
   * scraped, since each collection keeps observers running for the process's life.
   */
  collectProcessMetrics(): void {
    if (this.defaultsCollected) return;
    this.defaultsCollected = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * A gauge whose values are read when scraped. `read` returns the values to show; when it throws
   * or takes longer than `timeoutMs`, the gauge shows nothing for that scrape rather than a stale
   * or made-up value, and the scrape is not held up.
   */
  gaugeAtScrape<L extends string>(
    options: { name: string; help: string; labelNames: readonly L[] },
    read: () => Promise<{ labels: Partial<Record<L, string>>; value: number }[]>,
    timeoutMs = 2_000,
  ): void {
    new Gauge<L>({
      ...options,
      registers: [this.registry],
      async collect() {
        this.reset();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), timeoutMs);
          timer.unref();
        });
        const values = await Promise.race([read().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
        for (const { labels, value } of values ?? []) this.set(labels, value);
      },
    });
  }
}
