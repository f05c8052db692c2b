/**
 * Lead processing under load, from the form post to the acknowledgement email handed to an SMTP
 * server, on each production shape: PGlite in one process; PostgreSQL in one process; PostgreSQL
 * and Redis with one API process and one, then two, worker processes.
 *
 *   npm run bench:pipeline                 # table on stdout, progress on stderr
 *   npm run -s bench:pipeline -- --json    # figures as JSON on stdout
 *
 * BENCH_TARGETS (pglite,postgres,workers-1,workers-2), BENCH_SECONDS (60), BENCH_RATE (100 on
 * PostgreSQL, 30 on PGlite), BENCH_BURST (2000), BENCH_CONNECTIONS (50), BENCH_DATABASE_URL,
 * BENCH_REDIS_URL. See bench/README.md.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { freePort, type GatewayProcess, spawnGateway, spawnWorker, type WorkerProcess } from '../test/support/process.js';

type TargetName = 'pglite' | 'postgres' | 'workers-1' | 'workers-2';
const allTargets: readonly TargetName[] = ['pglite', 'postgres', 'workers-1', 'workers-2'];
const describeTarget: Record<TargetName, string> = {
  pglite: 'PGlite, one process',
  postgres: 'PostgreSQL, one process',
  'workers-1': 'PostgreSQL + Redis, 1 API + 1 worker',
  'workers-2': 'PostgreSQL + Redis, 1 API + 2 workers',
};

function positiveInt(name: string): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const settings = {
  targets: (process.env.BENCH_TARGETS?.trim() ? process.env.BENCH_TARGETS.split(',').map((name) => name.trim()) : allTargets).map((name) => {
    if (!(allTargets as readonly string[]).includes(name)) throw new Error(`BENCH_TARGETS: unknown target "${name}" (use ${allTargets.join(', ')})`);
    return name as TargetName;
  }),
  seconds: positiveInt('BENCH_SECONDS') ?? 60,
  rate: positiveInt('BENCH_RATE'),
  burst: positiveInt('BENCH_BURST') ?? 2_000,
  connections: positiveInt('BENCH_CONNECTIONS') ?? 50,
  adminUrl: process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.BENCH_REDIS_URL?.trim() || 'redis://127.0.0.1:6379',
  json: process.argv.includes('--json'),
};

const log = (message: string) => process.stderr.write(`${message}\n`);
const runTag = randomBytes(3).toString('hex');
const loadBefore = os.loadavg()[0] ?? 0;

function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------------------------------------
// The SMTP server the acknowledgements are handed to: it notes when each recipient's mail arrived.

class SmtpSink {
  readonly arrivals = new Map<string, number>();
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData: (stream, session, callback) => {
      stream.resume();
      stream.on('end', () => {
        const now = performance.now();
        for (const rcpt of session.envelope.rcptTo) if (!this.arrivals.has(rcpt.address)) this.arrivals.set(rcpt.address, now);
        callback();
      });
    },
  });
  port = 0;

  async start(): Promise<this> {
    // A killed sender resets its connections; that is no failure of the sink.
    this.server.on('error', () => undefined);
    this.port = await new Promise<number>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.server.address() as { port: number }).port)));
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Processes and their memory

interface Running {
  api: GatewayProcess;
  workers: WorkerProcess[];
  apiKey: string;
  /** Every process of the target, by role, for memory samples. */
  pids(): { role: string; pid: number }[];
  /** Backends of the benchmark database waiting for a lock (PostgreSQL only). */
  lockWaiters?: () => Promise<number>;
  stop(): Promise<void>;
}

function rssMegabytes(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

async function start(target: TargetName, smtp: SmtpSink): Promise<Running> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-bench-pipeline-'));
  const apiKey = `lg_bench_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    LEADGATE_DATA_DIR: dataDir,
    LEADGATE_API_KEY: apiKey,
    LEADGATE_ADMIN_EMAIL: 'owner@bench.test',
    LEADGATE_ADMIN_PASSWORD: 'correct horse battery staple',
    SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
    SMTP_FROM: 'vendas@bench.test',
    // The pace of one relay is not what is measured here: bench:outbound has it.
    LEADGATE_SEND_RATE_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
  let database: { url: string; drop(): Promise<void> } | undefined;
  if (target !== 'pglite') {
    const name = `lg_bench_pipeline_${runTag}_${target.replace('-', '_')}`;
    const admin = new pg.Client({ connectionString: settings.adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(settings.adminUrl);
    url.pathname = `/${name}`;
    database = {
      url: url.toString(),
      drop: async () => {
        const client = new pg.Client({ connectionString: settings.adminUrl });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      },
    };
    env.DATABASE_URL = database.url;
  }
  const split = target === 'workers-1' || target === 'workers-2';
  if (split) {
    env.REDIS_URL = settings.redisUrl;
    env.LEADGATE_QUEUE_PREFIX = `lgbench-${runTag}-${target}`;
  }
  const api = await spawnGateway(split ? { ...env, LEADGATE_WORKERS: 'false' } : env, await freePort());
  const workers: WorkerProcess[] = [];
  for (let n = 0; n < (target === 'workers-2' ? 2 : target === 'workers-1' ? 1 : 0); n++) workers.push(await spawnWorker(env));
  const watcher = database ? new pg.Client({ connectionString: database.url }) : undefined;
  await watcher?.connect();
  return {
    api,
    workers,
    apiKey,
    pids: () => [
      { role: split ? 'API' : 'gateway', pid: api.child.pid! },
      ...workers.map((worker, n) => ({ role: `worker ${n + 1}`, pid: worker.child.pid! })),
    ],
    ...(watcher
      ? {
          lockWaiters: async () =>
            Number(
              (await watcher.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!
                .n,
            ),
        }
      : {}),
    stop: async () => {
      await watcher?.end();
      for (const worker of workers) await worker.kill();
      await api.stop();
      await database?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Load

interface Post {
  email: string;
  sentAt: number;
  answeredAt?: number;
  status?: number;
}

let sequence = 0;

class Poster {
  readonly posts: Post[] = [];
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** One distinct submission; never throws (a failure is a post without a 202). */
  async post(): Promise<void> {
    const n = ++sequence;
    const email = `lead${n}.${runTag}@example.com`;
    const digits = String(n % 10_000_000).padStart(7, '0');
    const record: Post = { email, sentAt: performance.now() };
    this.posts.push(record);
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-token': this.token },
        body: JSON.stringify({ name: `Lead ${n}`, email, phone: `+55 11 98${digits.slice(0, 3)}-${digits.slice(3)}`, message: 'Quero um orçamento para três unidades.' }),
        signal: AbortSignal.timeout(15_000),
      });
      await response.arrayBuffer();
      record.status = response.status;
    } catch {
      record.status = 0;
    }
    record.answeredAt = performance.now();
  }

  accepted(): Post[] {
    return this.posts.filter((post) => post.status === 202);
  }
}

/** Sequential GETs every `everyMs` until stopped: how long a user waits for an answer meanwhile. */
class Prober {
  readonly latencies: number[] = [];
  failures = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly everyMs: number,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        const started = performance.now();
        try {
          const response = await fetch(this.url, { headers: this.headers, signal: AbortSignal.timeout(3_000) });
          await response.arrayBuffer();
          if (response.ok) this.latencies.push(performance.now() - started);
          else this.failures++;
        } catch {
          this.failures++;
        }
        await sleep(Math.max(0, this.everyMs - (performance.now() - started)));
      }
    })();
    return this;
  }

  async stop(): Promise<{ p50: number | null; p99: number | null; max: number | null; count: number; failures: number }> {
    this.stopped = true;
    await this.loop;
    return {
      p50: percentile(this.latencies, 50),
      p99: percentile(this.latencies, 99),
      max: this.latencies.length ? Math.max(...this.latencies) : null,
      count: this.latencies.length,
      failures: this.failures,
    };
  }
}

async function api<T>(running: Running, method: string, urlPath: string, body?: unknown): Promise<T> {
  const response = await fetch(`${running.api.baseUrl}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${running.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${urlPath} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

/** Leads that exist, as the insights count them: every distinct submission makes one. */
async function leadCount(running: Running): Promise<number> {
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const { data } = await api<{ data: { leads: number }[] }>(running, 'GET', `/api/v1/insights/leads-created?from=${day(-1)}&to=${day(1)}`);
  return data.reduce((sum, row) => sum + row.leads, 0);
}

// ---------------------------------------------------------------------------------------------
// One target

interface TargetResult {
  target: TargetName;
  description: string;
  sustained: {
    rate: number;
    seconds: number;
    accepted: number;
    failed: number;
    ackP50Ms: number | null;
    ackP99Ms: number | null;
    /** From the post to the acknowledgement email's arrival at the SMTP server. */
    toTransportP50Ms: number | null;
    toTransportP90Ms: number | null;
    toTransportP99Ms: number | null;
    /** Accepted posts whose acknowledgement never arrived. */
    missing: number;
  };
  burst: {
    posts: number;
    accepted: number;
    failed: number;
    ackP50Ms: number | null;
    ackP99Ms: number | null;
    acceptedPerSecond: number;
    /** Leads made per second from the first post of the burst until none was pending. */
    processedPerSecond: number;
    peakBacklog: number;
    /** From the last answered post until every accepted post was a lead. */
    drainSeconds: number;
    healthz: { idleP99Ms: number | null; p50: number | null; p99: number | null; max: number | null; count: number; failures: number };
    inboxList: { idleP99Ms: number | null; p50: number | null; p99: number | null; max: number | null; count: number; failures: number };
    /** Share of lock-wait samples (every 200 ms) in which a backend of the database waited for a lock. */
    lockWaitShare: number | null;
  };
  peakRssMb: Record<string, number>;
}

async function measure(target: TargetName): Promise<TargetResult> {
  const smtp = await new SmtpSink().start();
  log(`\n${describeTarget[target]}: starting`);
  const running = await start(target, smtp);
  const peakRss: Record<string, number> = {};
  const rssTimer = setInterval(() => {
    for (const { role, pid } of running.pids()) {
      const mb = rssMegabytes(pid);
      if (mb !== null) peakRss[role] = Math.max(peakRss[role] ?? 0, mb);
    }
  }, 250);
  try {
    const form = await api<{ id: string; secret: string }>(running, 'POST', '/api/v1/sources', { kind: 'webform', name: 'Bench', rateLimitPerMinute: 100_000 });
    const poster = new Poster(`${running.api.baseUrl}/hooks/forms/${form.id}`, form.secret);
    const auth = { authorization: `Bearer ${running.apiKey}` };
    const healthUrl = `${running.api.baseUrl}/healthz`;
    const inboxUrl = `${running.api.baseUrl}/api/v1/conversations?limit=50`;

    // Idle: the latencies the backlog's are compared with.
    const idleHealth = new Prober(healthUrl, {}, 20).start();
    const idleInbox = new Prober(inboxUrl, auth, 20).start();
    await sleep(2_000);
    const idle = { health: await idleHealth.stop(), inbox: await idleInbox.stop() };

    // Sustained: a fixed rate, each post on its own schedule, not waiting for the one before.
    const rate = settings.rate ?? (target === 'pglite' ? 30 : 100);
    log(`  sustained: ${rate}/s for ${settings.seconds} s`);
    const sustainedStart = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let n = 0; n < rate * settings.seconds; n++) {
      const due = sustainedStart + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      inFlight.push(poster.post());
    }
    await Promise.all(inFlight);
    const sustainedPosts = [...poster.posts];
    const sustainedAccepted = sustainedPosts.filter((post) => post.status === 202);
    const waitUntil = performance.now() + 120_000;
    while (performance.now() < waitUntil && sustainedAccepted.some((post) => !smtp.arrivals.has(post.email))) await sleep(100);
    const toTransport = sustainedAccepted.flatMap((post) => {
      const arrived = smtp.arrivals.get(post.email);
      return arrived === undefined ? [] : [arrived - post.sentAt];
    });
    const ackLatencies = sustainedAccepted.map((post) => post.answeredAt! - post.sentAt);
    const sustained: TargetResult['sustained'] = {
      rate,
      seconds: settings.seconds,
      accepted: sustainedAccepted.length,
      failed: sustainedPosts.length - sustainedAccepted.length,
      ackP50Ms: percentile(ackLatencies, 50),
      ackP99Ms: percentile(ackLatencies, 99),
      toTransportP50Ms: percentile(toTransport, 50),
      toTransportP90Ms: percentile(toTransport, 90),
      toTransportP99Ms: percentile(toTransport, 99),
      missing: sustainedAccepted.length - toTransport.length,
    };
    log(`  sustained: ack p50 ${sustained.ackP50Ms?.toFixed(1)} ms, to transport p50 ${sustained.toTransportP50Ms?.toFixed(0)} ms p90 ${sustained.toTransportP90Ms?.toFixed(0)} ms`);

    // Burst: as fast as the connections go, then the backlog is worked off while users ask.
    const leadsBefore = await leadCount(running);
    const burstFrom = poster.posts.length;
    log(`  burst: ${settings.burst} posts over ${settings.connections} connections`);
    const health = new Prober(healthUrl, {}, 100).start();
    const inbox = new Prober(inboxUrl, auth, 100).start();
    let lockSamples = 0;
    let lockWaitSamples = 0;
    const lockTimer = running.lockWaiters
      ? setInterval(() => {
          void running.lockWaiters!().then((waiting) => {
            lockSamples++;
            if (waiting > 0) lockWaitSamples++;
          });
        }, 200)
      : undefined;
    const burstStart = performance.now();
    let remaining = settings.burst;
    let peakBacklog = 0;
    const connections = Array.from({ length: settings.connections }, async () => {
      while (remaining > 0) {
        remaining--;
        await poster.post();
      }
    });
    let burstDone = false;
    const posting = Promise.all(connections).then(() => {
      burstDone = true;
    });
    let drainedAt = 0;
    let lastAnswered = 0;
    const drainDeadline = performance.now() + 15 * 60_000;
    for (;;) {
      await sleep(250);
      const accepted = poster.posts.slice(burstFrom).filter((post) => post.status === 202).length;
      const made = (await leadCount(running)) - leadsBefore;
      peakBacklog = Math.max(peakBacklog, accepted - made);
      if (burstDone && made >= accepted) {
        drainedAt = performance.now();
        break;
      }
      if (performance.now() > drainDeadline) throw new Error(`${target}: the backlog was not worked off within 15 minutes (${made} of ${accepted})`);
    }
    await posting;
    if (lockTimer) clearInterval(lockTimer);
    const burstPosts = poster.posts.slice(burstFrom);
    const burstAccepted = burstPosts.filter((post) => post.status === 202);
    for (const post of burstPosts) lastAnswered = Math.max(lastAnswered, post.answeredAt ?? 0);
    const burstAcks = burstAccepted.map((post) => post.answeredAt! - post.sentAt);
    const healthDuring = await health.stop();
    const inboxDuring = await inbox.stop();
    const burst: TargetResult['burst'] = {
      posts: burstPosts.length,
      accepted: burstAccepted.length,
      failed: burstPosts.length - burstAccepted.length,
      ackP50Ms: percentile(burstAcks, 50),
      ackP99Ms: percentile(burstAcks, 99),
      acceptedPerSecond: burstAccepted.length / ((lastAnswered - burstStart) / 1000),
      processedPerSecond: burstAccepted.length / ((drainedAt - burstStart) / 1000),
      peakBacklog,
      drainSeconds: Math.max(0, (drainedAt - lastAnswered) / 1000),
      healthz: { idleP99Ms: idle.health.p99, ...healthDuring },
      inboxList: { idleP99Ms: idle.inbox.p99, ...inboxDuring },
      lockWaitShare: lockSamples ? lockWaitSamples / lockSamples : null,
    };
    log(
      `  burst: ${burst.acceptedPerSecond.toFixed(0)} accepted/s, ${burst.processedPerSecond.toFixed(0)} leads/s, peak backlog ${peakBacklog}, healthz p99 ${burst.healthz.p99?.toFixed(0)} ms`,
    );
    return { target, description: describeTarget[target], sustained, burst, peakRssMb: peakRss };
  } finally {
    clearInterval(rssTimer);
    await running.stop();
    await smtp.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (value: number | null, digits = 0) => (value === null ? '–' : value.toFixed(digits));

function report(results: TargetResult[]): string {
  const lines: string[] = [];
  lines.push(`\nSustained posts: capture → acknowledgement handed to the SMTP server (ms)\n`);
  lines.push('target                                   | rate/s | 202s | ack p50 | ack p99 | to SMTP p50 | p90 | p99 | never sent');
  lines.push('-----------------------------------------|--------|------|---------|---------|-------------|-----|-----|-----------');
  for (const r of results) {
    const s = r.sustained;
    lines.push(
      `${r.description.padEnd(40)} | ${String(s.rate).padStart(6)} | ${String(s.accepted).padStart(4)} | ${ms(s.ackP50Ms, 1).padStart(7)} | ${ms(s.ackP99Ms, 1).padStart(7)} | ${ms(s.toTransportP50Ms).padStart(11)} | ${ms(s.toTransportP90Ms).padStart(3)} | ${ms(s.toTransportP99Ms).padStart(3)} | ${s.missing}`,
    );
  }
  lines.push(`\nBurst of ${settings.burst} posts over ${settings.connections} connections, then the backlog worked off\n`);
  lines.push('target                                   | 202/s | ack p99 | leads/s | peak backlog | drain s | healthz p99 (idle) | inbox p99 (idle) | lock waits | peak RSS MB');
  lines.push('-----------------------------------------|-------|---------|---------|--------------|---------|--------------------|------------------|------------|------------');
  for (const r of results) {
    const b = r.burst;
    const rss = Object.entries(r.peakRssMb)
      .map(([role, mb]) => `${role} ${mb}`)
      .join(', ');
    lines.push(
      `${r.description.padEnd(40)} | ${b.acceptedPerSecond.toFixed(0).padStart(5)} | ${ms(b.ackP99Ms).padStart(7)} | ${b.processedPerSecond.toFixed(0).padStart(7)} | ${String(b.peakBacklog).padStart(12)} | ${b.drainSeconds.toFixed(1).padStart(7)} | ${`${ms(b.healthz.p99)} (${ms(b.healthz.idleP99Ms)})${b.healthz.failures ? ` ${b.healthz.failures} failed` : ''}`.padStart(18)} | ${`${ms(b.inboxList.p99)} (${ms(b.inboxList.idleP99Ms)})${b.inboxList.failures ? ` ${b.inboxList.failures} failed` : ''}`.padStart(16)} | ${b.lockWaitShare === null ? '–' : `${Math.round(b.lockWaitShare * 100)}%`.padStart(10)} | ${rss}`,
    );
  }
  const one = results.find((r) => r.target === 'workers-1');
  const two = results.find((r) => r.target === 'workers-2');
  if (one && two) lines.push(`\n2 workers / 1 worker, leads per second in the burst: ${(two.burst.processedPerSecond / one.burst.processedPerSecond).toFixed(2)}x`);
  for (const r of results) {
    const h = r.burst.healthz;
    if (h.p99 !== null && h.idleP99Ms) lines.push(`${r.description}: /healthz p99 during the backlog is ${(h.p99 / h.idleP99Ms).toFixed(1)}x its idle p99`);
  }
  lines.push(`\nload average before: ${loadBefore.toFixed(2)}, CPUs: ${os.cpus().length}`);
  return lines.join('\n');
}

const results: TargetResult[] = [];
for (const target of settings.targets) results.push(await measure(target));
if (settings.json) {
  process.stdout.write(`${JSON.stringify({ settings, results }, null, 2)}\n`);
  log(report(results));
} else {
  console.log(report(results));
}
