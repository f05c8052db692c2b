import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { type AdapterOptions, builtInAdapters } from '../adapters/index.js';
import { type BootstrapResult, bootstrap } from './bootstrap.js';
import { CaptureService } from './capture/capture.js';
import { InboundBatchProcessor } from './capture/process-batch.js';
import { InboundProcessor } from './capture/process-inbound.js';
import type { ChannelAdapter } from './channels/contract.js';
import { newHolderId } from './channels/adapter-support.js';
import { ChannelRegistry } from './channels/registry.js';
import { SourceDirectory } from './channels/sources.js';
import type { Config } from './config.js';
import { type Database, openDatabase } from './db/client.js';
import { OAuthGrants } from './channels/oauth.js';
import { adapterContext, createApp } from './http/app.js';
import type { AppDeps } from './http/deps.js';
import type { LiveFeed } from './inbox/live.js';
import { InsightCountCompactor, InsightCountRebuilder } from './insights/counts.js';
import { onActivity } from './leads/activities.js';
import { LeadTimers } from './leads/lead-timers.js';
import { ScoreDecay } from './leads/scoring.js';
import { metricsServer } from './http/metrics-server.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { Outbound } from './messaging/outbound.js';
import { LocalSendPace, RedisSendPace } from './messaging/send-pace.js';
import { ApiThrottle } from './http/api-throttle.js';
import { SequenceRunner } from './messaging/sequence-runner.js';
import { TemplateStore } from './messaging/templates.js';
import { WebhookDispatcher, queueWebhookEvents } from './messaging/webhooks.js';
import { projectPath } from './paths.js';
import { BullQueue } from './queue/bull.js';
import type { JobQueue } from './queue/contract.js';
import { EmbeddedQueue } from './queue/embedded.js';
import { Sweeper } from './queue/sweeper.js';
import { SecretBox, resolveSecretKey } from './security/secrets.js';

export interface GatewayOptions {
  logger?: Logger;
  adapters?: ChannelAdapter[];
  /** Options of the built-in adapters (a test's WhatsApp driver, say); ignored when `adapters` is given. */
  adapterOptions?: Partial<AdapterOptions>;
  /** Redis key prefix for Bull; separate prefixes keep gateways on one Redis apart. */
  queuePrefix?: string;
  /** What the process is, for its metrics: `npm start` (api) or `npm run worker` (worker). */
  role?: 'api' | 'worker';
}

/**
 * The composition root: database, queue, adapters, services. `listen` serves HTTP; `startWorkers`
 * processes inbound events and sends messages. `npm start` does both, `npm run worker` only the second.
 */
export class Gateway {
  readonly app: Express;
  private server: Server | undefined;
  private metricsListener: Server | undefined;
  private sweeper: Sweeper | undefined;
  private webhooks: WebhookDispatcher | undefined;
  private sequences: SequenceRunner | undefined;
  private reminders: LeadTimers | undefined;
  private insightCounts: InsightCountCompactor | undefined;
  private insightRebuilds: InsightCountRebuilder | undefined;
  private scoreDecay: ScoreDecay | undefined;
  private workersStarted = false;
  private closed = false;
  /** Ends this gateway's subscription of webhook deliveries to activities. */
  private readonly stopQueueingWebhooks: () => void;

  private constructor(
    readonly deps: AppDeps,
    readonly bootstrapResult: BootstrapResult,
    private readonly processor: InboundBatchProcessor,
  ) {
    this.app = createApp(deps);
    // Every activity that a webhook reports queues its deliveries in the activity's transaction,
    // whether an API request (HTTP-only process) or a worker recorded it.
    this.stopQueueingWebhooks = onActivity(queueWebhookEvents);
  }

  static async create(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
    const baseLogger = options.logger ?? createLogger(config.logLevel);
    const db: Database = await openDatabase(config.database, baseLogger);
    // While the database is away, every part of the gateway would log each failure it meets:
    // the outage is logged once instead (and its end).
    const logger = db.availability.quiet(baseLogger);
    try {
      const bootstrapResult = await bootstrap(db, config);
      const box = new SecretBox(resolveSecretKey(config.secretKey, config.dataDir));
      const queue: JobQueue = config.redisUrl
        ? new BullQueue(config.redisUrl, logger, options.queuePrefix ?? config.queuePrefix)
        : new EmbeddedQueue(logger);
      const registry = new ChannelRegistry(
        options.adapters ??
          builtInAdapters({
            connectionLeaseMs: config.connectionLeaseMs,
            allowPrivateHosts: config.outboundAllowPrivate,
            meta: { graph: config.metaGraph, retry: { baseMs: config.retry.baseMs, maxMs: config.retry.maxMs } },
            ...options.adapterOptions,
            whatsapp: {
              ...(config.whatsappWebVersion ? { version: config.whatsappWebVersion } : {}),
              ...options.adapterOptions?.whatsapp,
              timing: { ackTimeoutMs: config.whatsappAckTimeoutMs, ...options.adapterOptions?.whatsapp?.timing },
            },
          }),
      );
      const templates = new TemplateStore();
      // With Redis, every process keeps one pace per connection; without it, there is one process.
      const pace = config.redisUrl ? new RedisSendPace(config.redisUrl, options.queuePrefix ?? config.queuePrefix) : new LocalSendPace();
      const version = packageVersion();
      const metrics = new Metrics(options.role ?? 'api', version);
      const outbound = new Outbound({ prisma: db.prisma, queue, pace, registry, box, config, logger, metrics });
      const capture = new CaptureService(db.prisma, db.runner, queue, logger, metrics, { maxConcurrentBatches: db.kind === 'pglite' ? 1 : 4 });
      const sources = new SourceDirectory(db.prisma, box);
      const deps: AppDeps = {
        config,
        db,
        queue,
        registry,
        sources,
        oauth: new OAuthGrants(db.prisma, box, sources, config.oauth, config.publicUrl, logger),
        capture,
        outbound,
        templates,
        box,
        logger,
        metrics,
        version,
        apiThrottle: new ApiThrottle({ ...config.apiRate, redisUrl: config.redisUrl, prefix: options.queuePrefix ?? config.queuePrefix }),
        holderId: newHolderId(),
      };
      measureSharedState(deps);
      const oneByOne = new InboundProcessor({ prisma: db.prisma, queue, outbound, templates, config, logger, metrics });
      const processor = new InboundBatchProcessor({
        pool: db.pool,
        oneByOne,
        outbound,
        templates,
        logger,
        metrics,
        // Smaller on the embedded database: captures wait while a batch holds its one connection.
        batchSize: db.kind === 'pglite' ? 25 : 200,
      });
      return new Gateway(deps, bootstrapResult, processor);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  async startWorkers(): Promise<void> {
    if (this.workersStarted) throw new Error('workers already started');
    this.workersStarted = true;
    const { queue, config, db, outbound, logger, registry } = this.deps;
    // PGlite is one connection: processing transactions run one at a time anyway.
    const inboundConcurrency = db.kind === 'pglite' ? 1 : config.workers.concurrency;
    // A job only wakes a worker: it works off whatever is pending, a batch at a time. Captures
    // are not held up meanwhile: on PGlite's one connection a capture waits for one short batch.
    queue.process('inbound', inboundConcurrency, () => this.tracked(() => this.processor.drain()));
    // An outbound job is a wake-up, not a message: each runs a dispatcher round over whatever is due.
    queue.process('outbound', config.workers.concurrency, () => this.tracked(() => outbound.dispatchDue()));
    this.sweeper = new Sweeper({ prisma: db.prisma, queue, outbound, logger, intervalMs: config.sweepIntervalMs });
    this.sweeper.start();
    this.webhooks = new WebhookDispatcher({
      prisma: db.prisma,
      box: this.deps.box,
      logger,
      allowPrivate: config.webhooksAllowPrivate,
      retryBaseMs: config.webhookRetryBaseMs,
      pollMs: 250,
    });
    this.webhooks.start();
    this.sequences = new SequenceRunner({ prisma: db.prisma, outbound, templates: this.deps.templates, box: this.deps.box, publicUrl: config.publicUrl, logger, pollMs: 250 });
    this.sequences.start();
    this.reminders = new LeadTimers({ prisma: db.prisma, logger, pollMs: 1_000 });
    this.reminders.start();
    this.insightCounts = new InsightCountCompactor({ prisma: db.prisma, logger, pollMs: 30_000 });
    this.insightCounts.start();
    this.insightRebuilds = new InsightCountRebuilder({ prisma: db.prisma, logger, pollMs: 1_000 });
    this.insightRebuilds.start();
    this.scoreDecay = new ScoreDecay({ prisma: db.prisma, logger, pollMs: 5_000 });
    this.scoreDecay.start();
    const ctx = adapterContext(this.deps);
    for (const adapter of registry.all()) await adapter.start?.(ctx);
  }

  /** Serves HTTP on the configured port (0 picks a free one); resolves with the bound port. */
  listen(port = this.deps.config.port, host = this.deps.config.host): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = this.app.listen(port, host, (error?: Error) => {
        if (error) reject(error);
        else resolve((server.address() as AddressInfo).port);
      });
      // Clients and proxies reuse an idle connection for a few seconds (fetch: 4 s, load balancers:
      // up to 60 s). A server that closes it sooner can close it just as a request goes out on
      // it, which the client sees as a reset: keep idle connections longer than they do.
      server.keepAliveTimeout = 65_000;
      server.headersTimeout = 66_000;
      this.server = server;
    });
  }

  /**
   * Serves the metrics on their own listener (LEADGATE_METRICS_PORT; 0 picks a free one); resolves
   * with the bound port. Both `npm start` and `npm run worker` call it when the port is set.
   */
  listenMetrics(port = this.deps.config.metrics.port ?? 0, host = this.deps.config.metrics.host): Promise<number> {
    const { metrics, config, logger } = this.deps;
    metrics.collectProcessMetrics();
    return new Promise((resolve, reject) => {
      const server = metricsServer(metrics, { token: config.metrics.token }, logger);
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      this.metricsListener = server;
    });
  }

  private jobsRunning = 0;

  private async tracked(job: () => Promise<void>): Promise<void> {
    this.jobsRunning++;
    try {
      await job();
    } finally {
      this.jobsRunning--;
    }
  }

  /**
   * Resolves once this gateway's queues are idle: no job running here, no inbound event waiting
   * to be processed and no message due to go out (one waiting for a later attempt or its turn is
   * not due). Tests wait for this instead of sleeping; it fails after timeoutMs.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    const { prisma } = this.deps.db;
    const deadline = Date.now() + timeoutMs;
    const busy = async () => {
      if (this.jobsRunning > 0) return 'a job is running';
      const now = new Date();
      const due = { OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] };
      if (await prisma.inboundEvent.count({ where: { status: 'pending', ...due } })) return 'inbound events are pending';
      if (await prisma.message.count({ where: { OR: [{ status: 'sending' }, { status: { in: ['queued', 'scheduled'] }, ...due }] } })) return 'messages are due to be sent';
      return this.jobsRunning > 0 ? 'a job is running' : undefined;
    };
    // Idle twice in a row: a job that has just been taken off a queue shows on the second look.
    let idleLooks = 0;
    while (idleLooks < 2) {
      const reason = await busy();
      idleLooks = reason ? 0 : idleLooks + 1;
      if (reason && Date.now() > deadline) throw new Error(`the queues did not drain within ${timeoutMs} ms: ${reason}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Runs one round of each background poller (sequence steps, webhook deliveries, follow-up
   * timers, score decay) after the round it may be running, so that whatever was
   * due when this was called has been handled when it resolves. For tests, instead of waiting
   * out poll intervals.
   */
  async runPollersOnce(): Promise<void> {
    const rounds: [{ stop(): Promise<void>; start(): void } | undefined, () => Promise<unknown>][] = [
      [this.sequences, () => this.sequences!.runDue()],
      [this.webhooks, () => this.webhooks!.deliverDue()],
      [this.reminders, async () => {
        await this.reminders!.announceDue();
        await this.reminders!.wakeSnoozed();
      }],
      [this.scoreDecay, () => this.scoreDecay!.runOnce()],
    ];
    for (const [poller, round] of rounds) {
      if (!poller || this.closed) continue;
      // Stopping waits for the round in progress; the poller starts again after this one.
      await poller.stop();
      try {
        await round();
      } finally {
        if (!this.closed) poller.start();
      }
    }
  }

  /** The parts `close()` has not finished closing yet, in the order it closes them. */
  private openParts: string[] = [];

  /** What is still being closed: for the log line of a shutdown that ran out of time. */
  stillOpen(): string[] {
    return [...this.openParts];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const steps: [string, () => Promise<void> | void][] = [
      ['http server', () => this.closeServer()],
      ['inbound processor', () => this.processor.stop()],
      ['sweeper', () => this.sweeper?.stop()],
      ['webhook deliveries', () => this.webhooks?.stop()],
      ['sequences', () => this.sequences?.stop()],
      ['follow-up timers', () => this.reminders?.stop()],
      ['insight counts', () => this.insightCounts?.stop()],
      ['insight count rebuilds', () => this.insightRebuilds?.stop()],
      ['score decay', () => this.scoreDecay?.stop()],
      ...this.deps.registry.all().map((adapter): [string, () => Promise<void> | void] => [`${adapter.kind} connections`, () => adapter.stop?.()]),
      ['queue', () => this.deps.queue.close()],
      ['api throttle', () => this.deps.apiThrottle.close()],
      ['outbound', () => this.deps.outbound.close()],
      ['database', () => this.deps.db.close()],
      ['metrics listener', () => this.closeMetrics()],
    ];
    this.openParts = steps.map(([name]) => name);
    for (const [name, step] of steps) {
      await step();
      this.openParts = this.openParts.filter((part) => part !== name);
    }
    this.stopQueueingWebhooks();
  }

  private async closeMetrics(): Promise<void> {
    const server = this.metricsListener;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async closeServer(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    // Live streams never end by themselves: end them first.
    (this.app.locals.live as LiveFeed | undefined)?.close();
    // Finish requests in flight, drop idle keep-alive connections, and cut the rest after 5 s.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 5_000);
    await closed;
    clearTimeout(force);
  }
}

/**
 * Gauges of what every process shares (the database's backlogs, the sources' connections, the
 * queue's jobs), read when scraped: each reading is one indexed statement over at most a bounded
 * number of rows, or the queue's own counters. Every process shows the same figures; a dashboard
 * takes their max.
 */
function measureSharedState(deps: AppDeps): void {
  const { metrics, db, queue } = deps;
  const rows = <T>(sql: string) => db.runner.query<T>(sql, []);
  // Counted up to this many: past it the figure says "at least", and the reading stays cheap.
  const countCap = 100_000;
  metrics.gaugeAtScrape(
    { name: 'leadgate_inbound_pending', help: `Inbound events stored and not processed yet, by channel (counted up to ${countCap})`, labelNames: ['channel'] },
    async () =>
      (
        await rows<{ channel: string; n: number }>(
          `SELECT channel, count(*)::int AS n FROM (SELECT channel FROM inbound_events WHERE status = 'pending' ORDER BY "createdAt" LIMIT ${countCap}) AS p GROUP BY channel`,
        )
      ).map((row) => ({ labels: { channel: row.channel }, value: Number(row.n) })),
  );
  metrics.gaugeAtScrape(
    { name: 'leadgate_inbound_oldest_pending_age_seconds', help: 'Age of the oldest inbound event not processed yet (0 when none waits)', labelNames: [] },
    async () => {
      const [row] = await rows<{ age: number | null }>(
        `SELECT EXTRACT(EPOCH FROM now() - "createdAt")::float8 AS age FROM inbound_events WHERE status = 'pending' ORDER BY "createdAt" LIMIT 1`,
      );
      return [{ labels: {}, value: Math.max(0, Number(row?.age ?? 0)) }];
    },
  );
  metrics.gaugeAtScrape(
    {
      name: 'leadgate_outbound_messages',
      help: `Outbound messages due to go out (queued or scheduled, their time come) and being sent, by channel (counted up to ${countCap})`,
      labelNames: ['channel', 'status'],
    },
    async () =>
      (
        await rows<{ channel: string; status: string; n: number }>(
          `SELECT channel, status, count(*)::int AS n FROM (
             SELECT channel, CASE WHEN status = 'sending' THEN 'sending' ELSE 'due' END AS status FROM messages
             WHERE status = 'sending' OR (status IN ('queued', 'scheduled') AND direction = 'out' AND ("nextAttemptAt" IS NULL OR "nextAttemptAt" <= now()))
             LIMIT ${countCap}) AS m GROUP BY channel, status`,
        )
      ).map((row) => ({ labels: { channel: row.channel, status: row.status }, value: Number(row.n) })),
  );
  metrics.gaugeAtScrape(
    {
      name: 'leadgate_source_connection_state',
      help: "1 for the state of each source's long-lived connection (a mailbox, a WhatsApp number), as the process holding it last reported it",
      labelNames: ['source_id', 'kind', 'state'],
    },
    async () =>
      (
        await rows<{ id: string; kind: string; state: string | null }>(
          `SELECT id, kind, status->>'state' AS state FROM sources WHERE "deletedAt" IS NULL AND status IS NOT NULL ORDER BY "createdAt" LIMIT 1000`,
        )
      ).map((row) => ({ labels: { source_id: row.id, kind: row.kind, state: row.state ?? 'unknown' }, value: 1 })),
  );
  metrics.gaugeAtScrape(
    { name: 'leadgate_queue_jobs', help: 'Jobs in the job queue by queue and state (Bull on Redis, or the embedded queue of this process)', labelNames: ['queue', 'state'] },
    async () =>
      Object.entries((await queue.depths()) ?? {}).flatMap(([name, depth]) =>
        Object.entries(depth).map(([state, value]) => ({ labels: { queue: name, state }, value })),
      ),
  );
  metrics.gaugeAtScrape(
    { name: 'leadgate_dependency_up', help: 'Whether this process reaches a dependency: database, queue (1 up, 0 down)', labelNames: ['dependency'] },
    async () => [
      { labels: { dependency: 'database' }, value: db.availability.available ? 1 : 0 },
      { labels: { dependency: 'queue' }, value: (await queue.ping()) ? 1 : 0 },
    ],
  );
}

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(projectPath('package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}
