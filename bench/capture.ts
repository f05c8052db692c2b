/**
 * Capture throughput and latency of `POST /hooks/forms/:sourceId`, on PGlite and on PostgreSQL,
 * against a bare express 5 JSON endpoint measured in the same run on the same machine.
 *
 *   npm run bench:capture            # table on stdout, progress on stderr
 *   npm run -s bench:capture -- --json  # figures as JSON on stdout
 *
 * BENCH_SECONDS (10), BENCH_CONNECTIONS (50), BENCH_TARGETS (bare,pglite,postgres),
 * BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres), BENCH_HALF_RATE (from the
 * bare run), BENCH_RATE_SLICES (10). See bench/README.md.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort } from '../test/support/process.js';

// ---------------------------------------------------------------------------------------------
// Settings

type TargetName = 'bare' | 'pglite' | 'postgres';
const allTargets: readonly TargetName[] = ['bare', 'pglite', 'postgres'];

const root = fileURLToPath(new URL('..', import.meta.url));
const tsxBin = path.join(root, 'node_modules', '.bin', 'tsx');

const targetThroughputRatio = 0.5;
const targetHalfLoadP99Ms = 20;
const warmupSeconds = 3;
const acceptedStatus = 202;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function parseTargets(raw: string | undefined): TargetName[] {
  if (raw === undefined || raw.trim() === '') return [...allTargets];
  const names = raw.split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of names) {
    if (!(allTargets as readonly string[]).includes(name)) throw new Error(`BENCH_TARGETS: unknown target "${name}" (use ${allTargets.join(', ')})`);
  }
  // Bare first: the gateways' half-load rate comes from it.
  return allTargets.filter((name) => names.includes(name));
}

const settings = {
  seconds: positiveInt('BENCH_SECONDS', 10),
  connections: positiveInt('BENCH_CONNECTIONS', 50),
  targets: parseTargets(process.env.BENCH_TARGETS),
  adminUrl: process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres',
  halfRateOverride: process.env.BENCH_HALF_RATE ? positiveInt('BENCH_HALF_RATE', 1) : undefined,
  rateSlices: positiveInt('BENCH_RATE_SLICES', 10),
  json: process.argv.includes('--json'),
};

/** Progress and diagnostics never go to stdout, so `--json` output stays parseable. */
function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Child processes

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const keepChars = 8_000;
/** USER_HZ: 100 on every mainstream Linux build. */
const clockTicksPerSecond = 100;

class ChildServer {
  private readonly proc: ChildProcessByStdio<null, Readable, Readable>;
  private readonly output = { stdoutHead: '', stdoutTail: '', stderrHead: '', stderrTail: '' };
  private exitInfo: ExitInfo | null = null;
  private readonly exited: Promise<ExitInfo>;

  constructor(
    readonly name: string,
    script: string,
    env: NodeJS.ProcessEnv,
  ) {
    // Its own process group: tsx runs the script in a grandchild, and a group signal reaches both.
    this.proc = spawn(tsxBin, [script], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.proc.once('error', (error) => {
        this.output.stderrTail += `\n[spawn error] ${error.message}`;
        this.exitInfo = { code: null, signal: null };
        resolve(this.exitInfo);
      });
    });
    // Drained continuously: a full pipe would block the server mid-benchmark.
    this.proc.stdout.setEncoding('utf8').on('data', (chunk: string) => this.record('stdout', chunk));
    this.proc.stderr.setEncoding('utf8').on('data', (chunk: string) => this.record('stderr', chunk));
    children.add(this);
  }

  private record(stream: 'stdout' | 'stderr', chunk: string): void {
    const head = `${stream}Head` as const;
    const tail = `${stream}Tail` as const;
    if (this.output[head].length < keepChars) this.output[head] += chunk.slice(0, keepChars - this.output[head].length);
    this.output[tail] = (this.output[tail] + chunk).slice(-keepChars);
  }

  /** CPU seconds of each process in the server's group. */
  async cpuSample(): Promise<CpuSample | null> {
    const pgid = this.proc.pid;
    if (pgid === undefined || process.platform !== 'linux') return null;
    const pids = (await readdir('/proc').catch(() => [] as string[])).filter((entry) => /^\d+$/.test(entry)).map(Number);
    return readCpu(pids, (stat) => stat.pgrp === pgid);
  }

  get exit(): ExitInfo | null {
    return this.exitInfo;
  }

  /** The start and the end of what the server wrote, for a report. */
  outputSummary(): { stdoutHead: string; stdoutTail: string; stderrHead: string; stderrTail: string } {
    return { ...this.output };
  }

  async stop(): Promise<void> {
    const pid = this.proc.pid;
    if (pid !== undefined && this.exitInfo === null) {
      signalGroup(pid, 'SIGTERM');
      const graceful = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!graceful) log(`  ${this.name}: no exit 10 s after SIGTERM, killing it`);
    }
    // The tsx wrapper may be gone while the script it started is still closing.
    if (pid !== undefined && groupAlive(pid)) {
      for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(100);
      if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
    }
    children.delete(this);
  }
}

/** pid -> user + system CPU seconds (Linux /proc). */
type CpuSample = Map<number, number>;

async function readCpu(pids: number[], accept: (stat: { pgrp: number; comm: string }) => boolean): Promise<CpuSample> {
  const sample: CpuSample = new Map();
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    // The command name may hold spaces and parentheses; fields are counted after its closing one.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    if (!accept({ pgrp: Number(fields[2]), comm })) continue;
    sample.set(pid, (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond);
  }
  return sample;
}

/** CPU used between two samples as a percentage of one core; processes that exited in between are not counted. */
function cpuPercent(before: CpuSample | null, after: CpuSample | null, wallSeconds: number): number | null {
  if (!before || !after || wallSeconds <= 0) return null;
  let used = 0;
  for (const [pid, seconds] of after) used += seconds - (before.get(pid) ?? 0);
  return Math.round((used / wallSeconds) * 100);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

const children = new Set<ChildServer>();

/** Only what a child needs: an inherited DATABASE_URL or REDIS_URL would change what is measured. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(DATABASE_URL|REDIS_URL|SMTP_|LEADGATE_|PORT$|HOST$|PUBLIC_URL$|LOG_LEVEL$|BENCH_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, NODE_ENV: 'production', ...extra };
}

async function waitForHealth(baseUrl: string, child: ChildServer, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exit) {
      const out = child.outputSummary();
      throw new Error(`${child.name} exited (${JSON.stringify(child.exit)}) before answering /healthz:\n${out.stderrTail || out.stdoutTail}`);
    }
    try {
      const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  throw new Error(`${child.name} did not answer /healthz within ${timeoutMs / 1000} s`);
}

// ---------------------------------------------------------------------------------------------
// Load

const runTag = randomBytes(3).toString('hex');
let sequence = 0;

/** Every body differs: the gateway treats identical content within ten minutes as one event. */
function nextBody(): string {
  const n = ++sequence;
  const digits = String(n % 10_000_000).padStart(7, '0');
  return JSON.stringify({
    name: `Lead ${n}`,
    email: `lead${n}.${runTag}@example.com`,
    phone: `+55 11 98${digits.slice(0, 3)}-${digits.slice(3)}`,
    message: 'Hello, I would like a quote for three units delivered to Sao Paulo. Please call me in the afternoon.',
    n,
  });
}

interface RunResult {
  phase: 'warmup' | 'max' | 'half-of-bare' | 'half-of-own' | 'half-of-fixed';
  /** Requests per second asked of autocannon; null when unlimited. */
  offeredRate: number | null;
  seconds: number;
  sent: number;
  responses: number;
  accepted: number;
  acceptedPerSecond: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  statusCounts: Record<string, number>;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Sent but never answered: still in flight when the run stopped, or timed out. */
  unanswered: number;
  firstUnexpectedResponses: string[];
  firstErrors: string[];
  /** CPU used by the server's processes during the run; 100 is one core busy. Null where /proc is missing. */
  serverCpuPercent: number | null;
  /** CPU used by the PostgreSQL backends serving the benchmark database, when PostgreSQL runs on this machine. */
  dbCpuPercent: number | null;
  /** CPU used by this process, the load generator. */
  clientCpuPercent: number;
}

const activeInstances = new Set<autocannon.Instance>();
const loadBefore = os.loadavg()[0] ?? 0;

interface SliceResult {
  result: autocannon.Result;
  /** Requests written. autocannon's own `requests.sent` overcounts rate-limited runs by about a second's quota. */
  sent: number;
  latencies: number[];
  unexpected: string[];
  /** Message -> count, for the first few distinct messages. */
  errors: Map<string, number>;
}

function runSlice(options: autocannon.Options, delayMs: number): Promise<SliceResult> {
  return sleep(delayMs).then(
    () =>
      new Promise<SliceResult>((resolve, reject) => {
        const latencies: number[] = [];
        const unexpected: string[] = [];
        const errors = new Map<string, number>();
        let sent = 0;
        // Called once per request written, including each connection's first.
        const request: autocannon.Request = {
          setupRequest: (req) => {
            sent++;
            return { ...req, body: nextBody() };
          },
          onResponse: (status, body) => {
            if (status !== acceptedStatus && unexpected.length < 5) unexpected.push(`${status} ${body.slice(0, 600)}`);
          },
        };
        const instance = autocannon({ ...options, requests: [request] }, (error: unknown, result) => {
          activeInstances.delete(instance);
          if (error) reject(error instanceof Error ? error : new Error(String(error)));
          else resolve({ result, sent, latencies, unexpected, errors });
        });
        activeInstances.add(instance);
        // Own histogram: autocannon's rate-limited correction assumes a 1 ms interval and skews percentiles.
        instance.on('response', (_client, status, _bytes, responseTime) => {
          if (status === acceptedStatus) latencies.push(responseTime);
        });
        instance.on('reqError', (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (errors.has(message) || errors.size < 5) errors.set(message, (errors.get(message) ?? 0) + 1);
        });
      }),
  );
}

function distribute(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * autocannon limits a rate per connection per wall-clock second: every connection fires its quota
 * as fast as it can at the start of each second, then waits. One instance at half load is thus a
 * full-load burst followed by silence. Slices started at even offsets within the second spread the
 * same overall rate across it.
 */
async function load(
  running: RunningTarget,
  url: string,
  headers: Record<string, string>,
  phase: RunResult['phase'],
  seconds: number,
  rate: number | null,
): Promise<RunResult> {
  const base: autocannon.Options = {
    url,
    method: 'POST',
    headers,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
  };
  const startedAt = performance.now();
  const clientCpu = process.cpuUsage();
  const serverCpu = await running.child.cpuSample();
  const dbCpu = (await running.dbCpuSample?.()) ?? null;
  let slices: SliceResult[];
  if (rate === null) {
    slices = [await runSlice({ ...base, connections: settings.connections }, 0)];
  } else {
    const count = Math.max(1, Math.min(settings.rateSlices, settings.connections, rate));
    const connections = distribute(settings.connections, count);
    const rates = distribute(rate, count);
    slices = await Promise.all(
      rates.map((sliceRate, i) =>
        runSlice({ ...base, connections: connections[i]!, overallRate: sliceRate, ignoreCoordinatedOmission: true }, (i * 1000) / count),
      ),
    );
  }

  const statusCounts: Record<string, number> = {};
  let sent = 0;
  let responses = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let acceptedPerSecond = 0;
  let duration = 0;
  const latencies: number[] = [];
  const unexpected: string[] = [];
  const errorCounts = new Map<string, number>();
  for (const slice of slices) {
    const r = slice.result;
    for (const [status, stats] of Object.entries(r.statusCodeStats ?? {})) {
      const count = stats.count ?? 0;
      statusCounts[status] = (statusCounts[status] ?? 0) + count;
      responses += count;
    }
    sent += slice.sent;
    non2xx += r.non2xx;
    errors += r.errors;
    timeouts += r.timeouts;
    duration = Math.max(duration, r.duration);
    acceptedPerSecond += (r.statusCodeStats?.[`${acceptedStatus}`]?.count ?? 0) / r.duration;
    for (const value of slice.latencies) latencies.push(value);
    for (const sample of slice.unexpected) if (unexpected.length < 5) unexpected.push(sample);
    for (const [message, count] of slice.errors) errorCounts.set(message, (errorCounts.get(message) ?? 0) + count);
  }
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const serverCpuAfter = await running.child.cpuSample();
  const dbCpuAfter = (await running.dbCpuSample?.()) ?? null;
  const clientCpuUsed = process.cpuUsage(clientCpu);
  latencies.sort((a, b) => a - b);
  return {
    phase,
    offeredRate: rate,
    seconds: duration,
    sent,
    responses,
    accepted: statusCounts[`${acceptedStatus}`] ?? 0,
    acceptedPerSecond: Math.round(acceptedPerSecond),
    p50Ms: percentile(latencies, 0.5),
    p90Ms: percentile(latencies, 0.9),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length ? round(latencies[latencies.length - 1]!) : null,
    statusCounts,
    non2xx,
    errors,
    timeouts,
    unanswered: Math.max(0, sent - responses),
    firstUnexpectedResponses: unexpected,
    firstErrors: [...errorCounts].slice(0, 5).map(([message, count]) => `${message} (x${count})`),
    serverCpuPercent: cpuPercent(serverCpu, serverCpuAfter, wallSeconds),
    dbCpuPercent: cpuPercent(dbCpu, dbCpuAfter, wallSeconds),
    clientCpuPercent: Math.round(((clientCpuUsed.user + clientCpuUsed.system) / 1e6 / wallSeconds) * 100),
  };
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function describeRun(target: TargetName, run: RunResult): string {
  const rate = run.offeredRate === null ? 'unlimited' : `${run.offeredRate}/s offered`;
  const others = Object.entries(run.statusCounts)
    .filter(([status]) => status !== `${acceptedStatus}`)
    .map(([status, count]) => `${status}×${count}`);
  return (
    `  ${target} ${run.phase} (${rate}): ${run.acceptedPerSecond} ${acceptedStatus}/s, p50 ${fmtMs(run.p50Ms)} p99 ${fmtMs(run.p99Ms)} ms` +
    (others.length ? `, other statuses ${others.join(' ')}` : '') +
    (run.errors ? `, ${run.errors} errors (${run.timeouts} timeouts)` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Verification {
  accepted: number;
  unanswered: number;
  rows: number;
  rejectedRows: number;
  byStatus: Record<string, number>;
  /** Rows a 202 promised that are not there. */
  missing: number;
  /** Rows beyond the 202s that unanswered requests cannot explain. */
  unexplained: number;
  ok: boolean;
}

interface TargetResult {
  target: TargetName;
  max: RunResult;
  halfLoads: RunResult[];
  warmup: RunResult;
  verification: Verification | { skipped: string } | null;
  serverOutput?: ReturnType<ChildServer['outputSummary']>;
  failure?: string;
}

interface Endpoint {
  url: string;
  headers: Record<string, string>;
}

interface RunningTarget {
  child: ChildServer;
  /** A fresh endpoint for each phase, so one phase's rate-limit bucket never carries into the next. */
  endpoint(): Promise<Endpoint>;
  dbCpuSample?: () => Promise<CpuSample | null>;
}

async function startBare(): Promise<RunningTarget> {
  const port = await freePort();
  const child = new ChildServer('bare', 'bench/bare-server.ts', childEnv({ PORT: String(port), HOST: '127.0.0.1' }));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(baseUrl, child);
  return {
    child,
    endpoint: async () => ({
      url: `${baseUrl}/hooks/forms/src_bare`,
      headers: { 'content-type': 'application/json', 'x-leadgate-token': 'wfs_bare' },
    }),
  };
}

async function startGateway(name: 'pglite' | 'postgres', dataDir: string, databaseUrl: string | null): Promise<RunningTarget> {
  const port = await freePort();
  const apiKey = `lgk_bench_${randomBytes(18).toString('base64url')}`;
  const env = childEnv({
    PORT: String(port),
    HOST: '127.0.0.1',
    LEADGATE_DATA_DIR: dataDir,
    LEADGATE_API_KEY: apiKey,
    LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const child = new ChildServer(name, 'src/server.ts', env);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(baseUrl, child);
  let phase = 0;
  return {
    child,
    endpoint: async () => {
      const response = await fetch(`${baseUrl}/api/v1/sources`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'webform', name: `bench ${++phase}`, rateLimitPerMinute: 100_000, autoReplyTemplate: null }),
      });
      const text = await response.text();
      if (response.status !== 201) throw new Error(`POST /api/v1/sources answered ${response.status}: ${text.slice(0, 1000)}`);
      const source = JSON.parse(text) as { id?: unknown; secret?: unknown };
      if (typeof source.id !== 'string' || typeof source.secret !== 'string') throw new Error(`POST /api/v1/sources: no id or secret in ${text.slice(0, 1000)}`);
      return {
        url: `${baseUrl}/hooks/forms/${source.id}`,
        headers: { 'content-type': 'application/json', 'x-leadgate-token': source.secret },
      };
    },
  };
}

async function measure(target: TargetName, running: RunningTarget, bareMax: number | null): Promise<Omit<TargetResult, 'verification'>> {
  log(`${target}: warm-up ${warmupSeconds} s`);
  const warmup = await load(running, ...(await endpointArgs(running)), 'warmup', Math.min(warmupSeconds, settings.seconds), null);
  log(describeRun(target, warmup));

  log(`${target}: max throughput ${settings.seconds} s, ${settings.connections} connections`);
  const max = await load(running, ...(await endpointArgs(running)), 'max', settings.seconds, null);
  log(describeRun(target, max));

  const halfLoads: RunResult[] = [];
  const referenceRate = settings.halfRateOverride ?? (bareMax !== null ? Math.max(1, Math.round(bareMax / 2)) : null);
  const referencePhase: RunResult['phase'] = settings.halfRateOverride !== undefined ? 'half-of-fixed' : 'half-of-bare';
  if (target === 'bare' || referenceRate === null) {
    const ownHalf = Math.max(1, Math.round(max.acceptedPerSecond / 2));
    log(`${target}: half load ${ownHalf}/s (half of its own max), ${settings.seconds} s`);
    const run = await load(running, ...(await endpointArgs(running)), target === 'bare' ? 'half-of-bare' : 'half-of-own', settings.seconds, ownHalf);
    log(describeRun(target, run));
    halfLoads.push(run);
  } else {
    log(`${target}: half load ${referenceRate}/s (${referencePhase}), ${settings.seconds} s`);
    const run = await load(running, ...(await endpointArgs(running)), referencePhase, settings.seconds, referenceRate);
    log(describeRun(target, run));
    halfLoads.push(run);
    if (max.acceptedPerSecond < referenceRate) {
      const ownHalf = Math.max(1, Math.round(max.acceptedPerSecond / 2));
      log(`${target}: max ${max.acceptedPerSecond}/s is below ${referenceRate}/s, so also half of its own max: ${ownHalf}/s, ${settings.seconds} s`);
      const own = await load(running, ...(await endpointArgs(running)), 'half-of-own', settings.seconds, ownHalf);
      log(describeRun(target, own));
      halfLoads.push(own);
    }
  }
  return { target, warmup, max, halfLoads };
}

async function endpointArgs(running: RunningTarget): Promise<[string, Record<string, string>]> {
  checkInterrupted();
  const endpoint = await running.endpoint();
  return [endpoint.url, endpoint.headers];
}

function allRuns(result: Pick<TargetResult, 'warmup' | 'max' | 'halfLoads'>): RunResult[] {
  return [result.warmup, result.max, ...result.halfLoads];
}

function needsServerOutput(runs: RunResult[]): boolean {
  return runs.some((run) => run.errors > 0 || Object.keys(run.statusCounts).some((status) => status !== `${acceptedStatus}`));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

interface BenchDatabase {
  name: string;
  url: string;
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: settings.adminUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createDatabase(): Promise<BenchDatabase> {
  const name = `lg_bench_${randomBytes(5).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  return { name, url: databaseUrl(settings.adminUrl, name) };
}

async function dropDatabase(database: BenchDatabase): Promise<void> {
  await withAdmin(async (client) => {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database.name]);
    await client.query(`DROP DATABASE IF EXISTS ${database.name}`);
  });
}

/** Only meaningful when PostgreSQL runs on this machine: the pids are read from the local /proc. */
async function backendCpuSample(database: BenchDatabase): Promise<CpuSample | null> {
  const host = new URL(database.url).hostname;
  if (process.platform !== 'linux' || !['', 'localhost', '127.0.0.1', '[::1]'].includes(host)) return null;
  const { rows } = await withAdmin((client) => client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database.name]));
  return readCpu(
    rows.map((row) => row.pid),
    ({ comm }) => comm === 'postgres',
  );
}

async function verifyRows(database: BenchDatabase, runs: RunResult[]): Promise<Verification> {
  const client = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM inbound_events GROUP BY status');
    const byStatus = Object.fromEntries(rows.map((row) => [row.status, row.n]));
    const rejectedRows = byStatus.rejected ?? 0;
    const total = rows.reduce((sum, row) => sum + row.n, 0) - rejectedRows;
    const accepted = runs.reduce((sum, run) => sum + run.accepted, 0);
    const unanswered = runs.reduce((sum, run) => sum + run.unanswered, 0);
    const missing = Math.max(0, accepted - total);
    const unexplained = Math.max(0, total - accepted - unanswered);
    return { accepted, unanswered, rows: total, rejectedRows, byStatus, missing, unexplained, ok: missing === 0 && unexplained === 0 };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup

const cleanups = new Set<() => Promise<void>>();
/** Steps already started elsewhere: the final cleanup must not exit before they finish. */
const startedCleanups = new Set<Promise<void>>();
let cleaning: Promise<void> | null = null;
let interrupted = false;

/** Registers a step for the final cleanup; calling the returned function runs it early, once. */
function onCleanup(step: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  const once = () => {
    cleanups.delete(once);
    if (!done) {
      done = step().catch((error: unknown) => log(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`));
      startedCleanups.add(done);
    }
    return done;
  };
  cleanups.add(once);
  return once;
}

function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const instance of activeInstances) instance.stop();
    for (const child of [...children]) await child.stop().catch((error: unknown) => log(`could not stop ${child.name}: ${String(error)}`));
    for (const step of [...cleanups].reverse()) await step();
    await Promise.all(startedCleanups);
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`\n${signal}: stopping servers and dropping the benchmark database`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function fmtMs(value: number | null): string {
  if (value === null) return '-';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

function ratioText(ratio: number): string {
  return ratio > 0 && ratio < 0.1 ? ratio.toFixed(3) : ratio.toFixed(2);
}

function fmtInt(value: number): string {
  return value.toLocaleString('en-US');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const line = (row: string[]) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join(' | ');
  return [line(rows[0]!), widths.map((width) => '-'.repeat(width)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}

function report(results: TargetResult[]): { text: string; verdict: string[] } {
  const bare = results.find((result) => result.target === 'bare');
  const bareMax = bare?.max.acceptedPerSecond ?? null;
  const main: string[][] = [['target', 'req/s', 'p50 ms', 'p99 ms', 'half-load p50', 'half-load p99', 'ratio vs bare']];
  for (const result of results) {
    const half = result.halfLoads[0];
    main.push([
      result.target,
      fmtInt(result.max.acceptedPerSecond),
      fmtMs(result.max.p50Ms),
      fmtMs(result.max.p99Ms),
      fmtMs(half?.p50Ms ?? null),
      fmtMs(half?.p99Ms ?? null),
      bareMax ? `${ratioText(result.max.acceptedPerSecond / bareMax)}x` : '-',
    ]);
  }

  const detail: string[][] = [['run', 'offered/s', '202/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-202', 'errors', 'unanswered', 'server CPU', 'db CPU', 'client CPU']];
  for (const result of results) {
    for (const run of [result.max, ...result.halfLoads]) {
      const non202 = Object.entries(run.statusCounts)
        .filter(([status]) => status !== `${acceptedStatus}`)
        .map(([status, count]) => `${status}:${count}`)
        .join(' ');
      detail.push([
        `${result.target} ${run.phase}`,
        run.offeredRate === null ? 'max' : fmtInt(run.offeredRate),
        fmtInt(run.acceptedPerSecond),
        fmtMs(run.p50Ms),
        fmtMs(run.p90Ms),
        fmtMs(run.p99Ms),
        fmtMs(run.maxMs),
        non202 || '0',
        String(run.errors),
        String(run.unanswered),
        run.serverCpuPercent === null ? '-' : `${run.serverCpuPercent}%`,
        run.dbCpuPercent === null ? '-' : `${run.dbCpuPercent}%`,
        `${run.clientCpuPercent}%`,
      ]);
    }
  }

  const verdict: string[] = [];
  for (const result of results) {
    if (result.target === 'bare') continue;
    if (result.failure) {
      verdict.push(`${result.target}: FAILED - ${result.failure.split('\n')[0]}`);
      continue;
    }
    const parts: string[] = [];
    if (bareMax) {
      const ratio = result.max.acceptedPerSecond / bareMax;
      parts.push(`throughput ${ratioText(ratio)}x bare (target >= ${targetThroughputRatio}x) ${ratio >= targetThroughputRatio ? 'PASS' : 'FAIL'}`);
    }
    const [reference, own] = result.halfLoads;
    if (reference) {
      const sustained = reference.offeredRate !== null && reference.acceptedPerSecond >= reference.offeredRate * 0.95;
      const p99Ok = reference.p99Ms !== null && reference.p99Ms < targetHalfLoadP99Ms && sustained;
      parts.push(
        `p99 ${fmtMs(reference.p99Ms)} ms at ${fmtInt(reference.offeredRate ?? 0)}/s (${reference.phase}, target < ${targetHalfLoadP99Ms} ms)` +
          `${sustained ? '' : `, only ${fmtInt(reference.acceptedPerSecond)}/s sustained`} ${p99Ok ? 'PASS' : 'FAIL'}`,
      );
    }
    if (own) parts.push(`at half its own max (${fmtInt(own.offeredRate ?? 0)}/s): p99 ${fmtMs(own.p99Ms)} ms`);
    const runs = allRuns(result);
    const non202 = runs.reduce((sum, run) => sum + run.responses - run.accepted, 0);
    const timeouts = runs.reduce((sum, run) => sum + run.timeouts, 0);
    const otherErrors = runs.reduce((sum, run) => sum + run.errors - run.timeouts, 0);
    if (non202 > 0) parts.push(`${non202} non-202 responses`);
    if (timeouts > 0) parts.push(`${timeouts} requests timed out (10 s)`);
    if (otherErrors > 0) parts.push(`${otherErrors} connection errors`);
    const check = result.verification;
    if (check && 'rows' in check) {
      parts.push(
        check.ok
          ? `rows ${fmtInt(check.rows)} match ${fmtInt(check.accepted)} 202s (+${check.rows - check.accepted} of ${check.unanswered} unanswered)`
          : `ROW MISMATCH: ${fmtInt(check.accepted)} 202s, ${fmtInt(check.rows)} rows, ${check.missing} missing, ${check.unexplained} unexplained`,
      );
    }
    verdict.push(`${result.target}: ${parts.join('; ')}`);
  }

  const lines = [
    '',
    `Capture benchmark: POST /hooks/forms/:sourceId, ${settings.connections} connections, ${settings.seconds} s runs, ${os.cpus().length} CPUs, Node ${process.versions.node}`,
    // Other work on the machine moves every figure; the 1-minute load average before the run shows it.
    `1-min load average before the run: ${loadBefore.toFixed(2)}; CPU columns: 100% = one core`,
    '',
    table(main),
    '',
    table(detail),
    '',
    'Verdict:',
    ...verdict.map((line) => `  ${line}`),
  ];
  for (const result of results) {
    const check = result.verification;
    if (check && 'rows' in check) {
      lines.push(`  ${result.target} inbound_events by status after stop: ${Object.entries(check.byStatus).map(([status, n]) => `${status} ${n}`).join(', ')}`);
    }
  }
  for (const result of results) {
    if (result.failure) lines.push('', `${result.target} failed: ${result.failure}`);
    for (const run of allRuns(result)) {
      if (run.firstUnexpectedResponses.length || run.firstErrors.length) {
        lines.push('', `${result.target} ${run.phase}: first unexpected responses / errors:`);
        for (const sample of [...run.firstUnexpectedResponses, ...run.firstErrors]) lines.push(`  ${sample}`);
      }
    }
    if (result.serverOutput) {
      const out = result.serverOutput;
      lines.push('', `${result.target} server stderr (head):`, indent(out.stderrHead || '(empty)'));
      if (out.stderrTail !== out.stderrHead) lines.push(`${result.target} server stderr (tail):`, indent(out.stderrTail));
      lines.push(`${result.target} server stdout (head):`, indent(out.stdoutHead || '(empty)'));
      if (out.stdoutTail !== out.stdoutHead) lines.push(`${result.target} server stdout (tail):`, indent(out.stdoutTail));
    }
  }
  return { text: lines.join('\n'), verdict };
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

function emptyRun(phase: RunResult['phase']): RunResult {
  return {
    phase,
    offeredRate: null,
    seconds: 0,
    sent: 0,
    responses: 0,
    accepted: 0,
    acceptedPerSecond: 0,
    p50Ms: null,
    p90Ms: null,
    p99Ms: null,
    maxMs: null,
    statusCounts: {},
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    unanswered: 0,
    firstUnexpectedResponses: [],
    firstErrors: [],
    serverCpuPercent: null,
    dbCpuPercent: null,
    clientCpuPercent: 0,
  };
}

async function runTarget(target: TargetName, bareMax: number | null): Promise<TargetResult> {
  let running: RunningTarget | null = null;
  let database: BenchDatabase | null = null;
  let removeDataDir: (() => Promise<void>) | null = null;
  let dropBenchDatabase: (() => Promise<void>) | null = null;
  try {
    if (target === 'bare') {
      running = await startBare();
    } else {
      const dir = await mkdtemp(path.join(os.tmpdir(), `leadgate-bench-${target}-`));
      removeDataDir = onCleanup(() => rm(dir, { recursive: true, force: true }));
      if (target === 'postgres') {
        const created = await createDatabase();
        database = created;
        dropBenchDatabase = onCleanup(() =>
          dropDatabase(created).then(
            () => log(`postgres: dropped database ${created.name}`),
            (error: unknown) => log(`postgres: could not drop ${created.name}: ${String(error)}`),
          ),
        );
        log(`postgres: created database ${created.name}`);
      }
      log(`${target}: starting the gateway`);
      const gateway = await startGateway(target, dir, database?.url ?? null);
      const benchDatabase = database;
      running = benchDatabase ? { ...gateway, dbCpuSample: () => backendCpuSample(benchDatabase) } : gateway;
    }
    const measured = await measure(target, running, bareMax);
    const runs = allRuns(measured);
    const serverExit = running.child.exit;
    // Counted after a graceful stop, when no batch is still being written.
    await running.child.stop();
    let verification: TargetResult['verification'] = null;
    if (database) verification = await verifyRows(database, runs);
    else if (target === 'pglite') verification = { skipped: 'the gateway process owns the PGlite data directory' };
    const result: TargetResult = { ...measured, verification };
    if (needsServerOutput(runs) || serverExit) result.serverOutput = running.child.outputSummary();
    if (serverExit) result.failure = `the server exited during the run: ${JSON.stringify(serverExit)}`;
    return result;
  } catch (error) {
    const message = interrupted ? 'interrupted' : error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`${target}: ${message}`);
    const result: TargetResult = { target, warmup: emptyRun('warmup'), max: emptyRun('max'), halfLoads: [], verification: null, failure: message };
    if (running) result.serverOutput = running.child.outputSummary();
    return result;
  } finally {
    await running?.child.stop();
    // Now rather than at exit, so a later target does not compete with this one's leftovers.
    await dropBenchDatabase?.();
    await removeDataDir?.();
  }
}

async function main(): Promise<number> {
  log(
    `leadgate capture benchmark: targets ${settings.targets.join(', ')}; ${settings.seconds} s runs, ${settings.connections} connections, ` +
      `${warmupSeconds} s warm-up; rate-limited runs in ${settings.rateSlices} staggered slices`,
  );
  const results: TargetResult[] = [];
  let bareMax: number | null = null;
  for (const target of settings.targets) {
    if (interrupted) break;
    const result = await runTarget(target, bareMax);
    if (target === 'bare' && !result.failure) bareMax = result.max.acceptedPerSecond;
    results.push(result);
  }
  if (interrupted) return 130;
  const { text, verdict } = report(results);
  if (settings.json) {
    log(text);
    process.stdout.write(
      `${JSON.stringify(
        {
          settings: { ...settings, adminUrl: withoutPassword(settings.adminUrl), warmupSeconds, targetThroughputRatio, targetHalfLoadP99Ms },
          machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, node: process.versions.node, platform: process.platform },
          results,
          verdict,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    process.stdout.write(`${text}\n`);
  }
  return results.some((result) => result.failure) ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  await cleanup();
}
process.exit(exitCode);
