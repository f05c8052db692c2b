/**
 * Insights at size: every `/api/v1/insights/*` endpoint against a PostgreSQL workspace of
 * 1,000,000 leads with a year of history (scripts/seed-insights.ts seeds it first when needed),
 * through HTTP on loopback, one request at a time. Baselines measured in the same run: a plain
 * `SELECT count(*)` of the workspace's leads, and the leads list (`GET /api/v1/leads`).
 *
 *   npm run bench:insights            # table on stdout, progress on stderr
 *
 * SEED_DATABASE_URL (postgres://postgres@127.0.0.1:5432/leadgate_insights_seed), SEED_LEADS
 * (1000000), BENCH_ITERATIONS (30), BENCH_WARMUP (3), BENCH_PERIODS (30,90,365: days), BENCH_ONLY (a
 * regular expression: only the requests whose name matches, besides the baselines), BENCH_JSON (a
 * file to write the figures to).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { defaultSeedUrl, seedApiKey, seedInsights, seedWorkspaceId } from '../scripts/seed-insights.js';

const url = process.env.SEED_DATABASE_URL ?? defaultSeedUrl;
const leads = Number(process.env.SEED_LEADS ?? 1_000_000);
const iterations = Number(process.env.BENCH_ITERATIONS ?? 30);
const warmup = Number(process.env.BENCH_WARMUP ?? 3);
const goalMs = 200;

const log = (line: string) => process.stderr.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

async function measure(run: () => Promise<void>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

await seedInsights({ url, leads, log });

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-bench-insights-'));
const config = loadConfig({ DATABASE_URL: url, LEADGATE_DATA_DIR: dataDir, LEADGATE_WORKERS: 'false', LEADGATE_API_KEY: seedApiKey, LOG_LEVEL: 'silent', LEADGATE_API_RATE_PER_KEY: '0', LEADGATE_API_RATE_PER_ADDRESS: '0' });
const gateway = await Gateway.create(config, { logger: pino({ level: 'silent' }) });
const port = await gateway.listen(0, '127.0.0.1');
const base = `http://127.0.0.1:${port}/api/v1`;
const client = new pg.Client({ connectionString: url });
await client.connect();

const get = async (pathAndQuery: string) => {
  const response = await fetch(`${base}${pathAndQuery}`, { headers: { authorization: `Bearer ${seedApiKey}` } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`${pathAndQuery} answered ${response.status}: ${body.slice(0, 300)}`);
};

// The periods a business owner looks at: the last 30 days by day (the default), the last quarter
// by week and the last year by month; BENCH_PERIODS picks some (in days).
const periods = (process.env.BENCH_PERIODS ?? '30,90,365').split(',').map(Number);
const groupBy: Record<number, string> = { 30: 'day', 90: 'week', 365: 'month' };
const cases: [string, () => Promise<void>][] = [
  ['baseline: SELECT count(*) of the workspace\'s leads', async () => {
    await client.query('SELECT count(*) FROM leads WHERE "workspaceId" = $1', [seedWorkspaceId]);
  }],
  ['baseline: GET /leads (first page of 50)', () => get('/leads')],
];
for (const days of periods) {
  const by = groupBy[days] ?? 'week';
  // The default period is 30 days, local midnight to now: say so by not naming it.
  const period = days === 30 ? '' : `from=${new Date(Date.now() - days * 86_400_000).toISOString()}&groupBy=${by}`;
  const q = (extra = '') => [period, extra].filter(Boolean).join('&');
  const label = `${days} days by ${by}`;
  cases.push(
    [`${label}: GET /insights/summary`, () => get(`/insights/summary?${q()}`)],
    [`${label}: GET /insights/leads-created`, () => get(`/insights/leads-created?${q()}`)],
    [`${label}: GET /insights/leads-created?by=channel`, () => get(`/insights/leads-created?${q('by=channel')}`)],
    [`${label}: GET /insights/arrivals`, () => get(`/insights/arrivals?${q()}`)],
    [`${label}: GET /insights/speed-to-lead`, () => get(`/insights/speed-to-lead?${q()}`)],
    [`${label}: GET /insights/speed-to-lead?by=rep&businessHours=true`, () => get(`/insights/speed-to-lead?${q('by=rep&businessHours=true')}`)],
    [`${label}: GET /insights/follow-up-rate`, () => get(`/insights/follow-up-rate?${q()}`)],
    [`${label}: GET /insights/funnel`, () => get(`/insights/funnel?${q()}`)],
    [`${label}: GET /insights/quotas`, () => get(`/insights/quotas?${q()}`)],
    [`${label}: GET /insights/sequences`, () => get(`/insights/sequences?${q()}`)],
  );
}
cases.push(
  // Filters: the figures then read each fact's lead.
  ['30 days, one rep\'s leads: GET /insights/speed-to-lead?ownerId=', () => get('/insights/speed-to-lead?ownerId=usr_seed_1')],
  ['30 days, one channel: GET /insights/funnel?channel=whatsapp', () => get('/insights/funnel?channel=whatsapp')],
  ['GET /insights/leads (drill-down: one day, first 50)', () => get(`/insights/leads?groupBy=day&bucket=${new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10)}`)],
);

const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : null;
const chosen = cases.filter(([name], index) => index < 2 || !only || only.test(name));
const results: { name: string; p50: number; p95: number }[] = [];
try {
  for (const [name, run] of chosen) {
    const result = await measure(run);
    log(`${name}: p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms`);
    results.push({ name, ...result });
  }
  // The lead export streams every lead of the period: measured once, as rows a second.
  const started = performance.now();
  const response = await fetch(`${base}/insights/leads?format=csv`, { headers: { authorization: `Bearer ${seedApiKey}` } });
  const rows = (await response.text()).split('\r\n').length - 2;
  const exportSeconds = (performance.now() - started) / 1000;

  const baseline = results[1]!;
  const lines = [
    `Insights on PostgreSQL, ${leads.toLocaleString('en')} leads, ${iterations} sequential requests each after ${warmup} warm-up (${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)})`,
    '',
    '| endpoint | p50 ms | p95 ms | p50 vs leads list | under 200 ms |',
    '|---|---:|---:|---:|---|',
    ...results.map((r) => `| ${r.name} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${(r.p50 / baseline.p50).toFixed(1)}× | ${r.p95 < goalMs ? 'yes' : r.p50 < goalMs ? 'p50 only' : 'no'} |`),
    '',
    `Lead export (CSV, last 30 days): ${rows.toLocaleString('en')} rows in ${exportSeconds.toFixed(1)} s (${Math.round(rows / exportSeconds).toLocaleString('en')} rows/s)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  // The figures as JSON too, to put two runs (before and after a change) side by side.
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ results, exportRows: rows, exportSeconds }, null, 2));
} finally {
  await client.end();
  await gateway.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
