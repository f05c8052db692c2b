/**
 * The inbox's list endpoint, `GET /api/v1/conversations`, with 10,000 and 100,000 conversations,
 * on PGlite and on PostgreSQL: p50/p95 of the time each request takes, one request at a time
 * over loopback with the session cookie the page uses. The baseline, measured in the same run on
 * the same server, is `GET /api/v1/users?limit=50`: an authenticated list of a small table.
 *
 *   npm run bench:inbox
 *
 * BENCH_SIZES (10000,100000), BENCH_TARGETS (pglite,postgres), BENCH_REQUESTS (200 per case, or
 * what fits in 30 s, at least 20),
 * TEST_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres): where the PostgreSQL runs create
 * and drop their database, as the tests do.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { hashPassword } from '../src/security/tokens.js';
import { createTestDatabase } from '../test/support/services.js';

type Target = 'pglite' | 'postgres';

const numbers = (raw: string | undefined, fallback: number[]) => (raw?.trim() ? raw.split(',').map((item) => Number(item.trim())) : fallback);
const sizes = numbers(process.env.BENCH_SIZES, [10_000, 100_000]);
const targets = (process.env.BENCH_TARGETS?.split(',').map((item) => item.trim()) ?? ['pglite', 'postgres']) as Target[];
const requests = Number(process.env.BENCH_REQUESTS ?? 200);
const password = 'bench password 123';

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * n leads, each with a contact, an email and a phone, an inbound and an outbound message; five
 * reps own them in turn and one in ten is unassigned; one in five waits for a first response.
 */
async function seed(gateway: Gateway, n: number): Promise<void> {
  const prisma = gateway.deps.db.prisma;
  const workspaceId = gateway.bootstrapResult.workspaceId;
  const reps = Array.from({ length: 5 }, (_, i) => `usr_bench_${i}`);
  const passwordHash = await hashPassword(password);
  for (const [i, id] of reps.entries()) {
    await prisma.user.create({ data: { id, workspaceId, name: `Rep ${i}`, email: `rep${i}@bench.test`, role: 'rep', passwordHash } });
  }
  const run = (sql: string) => prisma.$executeRawUnsafe(sql);
  const batch = 20_000;
  for (let start = 1; start <= n; start += batch) {
    const end = Math.min(n, start + batch - 1);
    const series = `generate_series(${start}, ${end}) AS g`;
    await run(`INSERT INTO contacts (id, "workspaceId", name, "createdAt", "updatedAt")
      SELECT 'ct_' || g, '${workspaceId}', 'Contact ' || g, now() - g * interval '1 minute', now() FROM ${series}`);
    await run(`INSERT INTO contact_identities (id, "workspaceId", "contactId", kind, value)
      SELECT 'ci_e' || g, '${workspaceId}', 'ct_' || g, 'email', 'person' || g || '@example.com' FROM ${series}`);
    await run(`INSERT INTO contact_identities (id, "workspaceId", "contactId", kind, value)
      SELECT 'ci_p' || g, '${workspaceId}', 'ct_' || g, 'phone', '+55119' || lpad(g::text, 8, '0') FROM ${series}`);
    await run(`INSERT INTO leads (id, "workspaceId", "contactId", channel, stage, name, score, "ownerId", "createdAt", "updatedAt", "lastActivityAt", "conversationStatus")
      SELECT 'ld_' || g, '${workspaceId}', 'ct_' || g, (ARRAY['webform','email','whatsapp','sms','voice'])[1 + g % 5],
        (ARRAY['open','contacted','qualified','nurture'])[1 + g % 4], 'Contact ' || g, g % 100,
        CASE WHEN g % 10 = 0 THEN NULL ELSE 'usr_bench_' || (g % 5) END,
        now() - g * interval '1 minute', now(), now() - g * interval '1 minute',
        (ARRAY['open','open','pending','resolved'])[1 + g % 4]
      FROM ${series}`);
    await run(`INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, "createdAt", "updatedAt")
      SELECT 'mi_' || g, '${workspaceId}', 'ld_' || g, 'in', 'email', 'received', 'Olá, quero saber o preço do produto ' || g, now() - g * interval '1 minute' - interval '30 seconds', now() FROM ${series}`);
    await run(`INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, text, "createdAt", "updatedAt")
      SELECT 'mo_' || g, '${workspaceId}', 'ld_' || g, 'out', 'email', 'sent', 'Obrigado pelo contato, ' || g, now() - g * interval '1 minute', now() FROM ${series} WHERE g % 3 <> 0`);
    await run(`INSERT INTO response_windows (id, "workspaceId", "leadId", channel, "openedAt", "dueAt")
      SELECT 'rw_' || g, '${workspaceId}', 'ld_' || g, 'email', now() - g * interval '1 minute', now() - g * interval '1 minute' + interval '15 minutes' FROM ${series} WHERE g % 5 = 0`);
  }
  await run('ANALYZE');
}

async function signIn(baseUrl: string, email: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  if (response.status !== 201) throw new Error(`sign-in answered ${response.status}`);
  return (response.headers.get('set-cookie') ?? '').split(';')[0]!;
}

async function measure(baseUrl: string, cookie: string, url: string): Promise<{ p50: number; p95: number }> {
  const once = async () => {
    const started = performance.now();
    const response = await fetch(`${baseUrl}${url}`, { headers: { cookie } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
    return performance.now() - started;
  };
  for (let i = 0; i < 5; i++) await once();
  // BENCH_REQUESTS requests, or as many as fit in 30 s (at least 20) for the slow cases.
  const times: number[] = [];
  const deadline = performance.now() + 30_000;
  for (let i = 0; i < requests && (i < 20 || performance.now() < deadline); i++) times.push(await once());
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

interface Row {
  target: Target;
  size: number;
  name: string;
  p50: number;
  p95: number;
  ratio: number;
}

async function benchOne(target: Target, size: number): Promise<Row[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-bench-inbox-'));
  const database = target === 'postgres' ? await createTestDatabase() : undefined;
  const config = loadConfig({
    LEADGATE_DATA_DIR: dataDir,
    LEADGATE_ADMIN_EMAIL: 'owner@bench.test',
    LEADGATE_ADMIN_PASSWORD: password,
    LEADGATE_API_KEY: `lg_bench_${randomBytes(12).toString('hex')}`,
    LOG_LEVEL: 'silent',
    // Measures the endpoint, not the API's per-key throttle.
    LEADGATE_API_RATE_PER_KEY: '0',
    LEADGATE_API_RATE_PER_ADDRESS: '0',
    ...(database ? { DATABASE_URL: database.url } : {}),
  });
  const gateway = await Gateway.create(config, { logger: pino({ level: 'silent' }) });
  try {
    const started = Date.now();
    await seed(gateway, size);
    log(`${target} ${size}: seeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const port = await gateway.listen(0, '127.0.0.1');
    const baseUrl = `http://127.0.0.1:${port}`;
    const cookie = await signIn(baseUrl, 'owner@bench.test');
    const repCookie = await signIn(baseUrl, 'rep3@bench.test');
    const first = (await (await fetch(`${baseUrl}/api/v1/conversations?limit=50`, { headers: { cookie } })).json()) as { nextCursor: string | null };
    let cursor: string | null = first.nextCursor;
    for (let i = 0; i < 20 && cursor; i++) {
      const next = (await (await fetch(`${baseUrl}/api/v1/conversations?limit=50&cursor=${cursor}`, { headers: { cookie } })).json()) as { nextCursor: string | null };
      cursor = next.nextCursor;
    }
    const cases: [string, string, string?][] = [
      ['baseline: users, 50', '/api/v1/users?limit=50'],
      ['all, first page of 50', '/api/v1/conversations?limit=50'],
      ...(cursor ? [['all, page 22 (keyset cursor)', `/api/v1/conversations?limit=50&cursor=${cursor}`] as [string, string]] : []),
      ["a rep's own, signed in as the rep (view=mine)", '/api/v1/conversations?limit=50&view=mine', repCookie],
      ['unassigned, open', '/api/v1/conversations?limit=50&view=unassigned&status=open'],
      ['stage + channel filter', '/api/v1/conversations?limit=50&stage=qualified&channel=whatsapp'],
      ['SLA breached', '/api/v1/conversations?limit=50&slaBreached=true'],
      ['search a name', '/api/v1/conversations?limit=50&q=Contact%2042'],
      ['search message text', `/api/v1/conversations?limit=50&q=${encodeURIComponent(`produto ${Math.floor(size / 2)}`)}`],
    ];
    const rows: Row[] = [];
    let baseline = 1;
    for (const [name, url, as] of cases) {
      const figures = await measure(baseUrl, as ?? cookie, url);
      if (rows.length === 0) baseline = figures.p50;
      rows.push({ target, size, name, ...figures, ratio: figures.p50 / baseline });
      log(`${target} ${size}: ${name}: p50 ${figures.p50.toFixed(1)} ms, p95 ${figures.p95.toFixed(1)} ms`);
    }
    return rows;
  } finally {
    await gateway.close();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const all: Row[] = [];
for (const target of targets) for (const size of sizes) all.push(...(await benchOne(target, size)));
console.log('| database | conversations | request | p50 ms | p95 ms | p50 / baseline |');
console.log('|---|---:|---|---:|---:|---:|');
for (const row of all) {
  console.log(`| ${row.target} | ${row.size.toLocaleString('en')} | ${row.name} | ${row.p50.toFixed(1)} | ${row.p95.toFixed(1)} | ${row.ratio.toFixed(1)}× |`);
}
