import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../support/own-services.js';
import { freePort, type GatewayProcess, spawnGateway, spawnWorker, type WorkerProcess } from '../support/process.js';
import { scrape } from '../support/prometheus.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, eventually } from '../support/stack.js';

/**
 * The production topology on loopback: two API processes and two worker processes on a
 * PostgreSQL cluster and a Redis of the test's own. Under a steady load of form posts an API and a
 * worker are killed with SIGKILL, Redis is wiped, and PostgreSQL is stopped for ten seconds and
 * started again. Every acknowledged submission must become exactly one lead, every
 * acknowledgement go out once, and the processes left must recover without a restart.
 */
describe('chaos: the production topology under load while its parts fail', () => {
  let postgres: OwnPostgres;
  let redis: OwnRedis;
  let smtp: TestSmtpServer;
  const apis: GatewayProcess[] = [];
  const workers: WorkerProcess[] = [];
  const workerMetrics: number[] = [];
  const dirs: string[] = [];
  let apiKey: string;
  let form: { id: string; secret: string };

  beforeAll(async () => {
    // Not skipped without PostgreSQL's binaries: startOwnPostgres fails, saying what to install.
    [postgres, redis, smtp] = await Promise.all([startOwnPostgres(), startOwnRedis(), new TestSmtpServer().start()]);
    apiKey = `lg_chaos_${randomBytes(16).toString('hex')}`;
    const common = (): Record<string, string> => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
      dirs.push(dataDir);
      return {
        LEADGATE_DATA_DIR: dataDir,
        DATABASE_URL: postgres.url,
        REDIS_URL: redis.url,
        LEADGATE_SECRET_KEY: randomBytes(32).toString('base64url'),
        LEADGATE_API_KEY: apiKey,
        LEADGATE_ADMIN_EMAIL: 'owner@acme.test',
        LEADGATE_ADMIN_PASSWORD: 'correct horse battery',
        SMTP_URL: smtp.url,
        SMTP_FROM: 'Acme Vendas <vendas@acme.test>',
        LEADGATE_RETRY_BASE_MS: '200',
        LEADGATE_RETRY_MAX_MS: '1000',
        LEADGATE_SWEEP_INTERVAL_MS: '500',
        // A worker killed mid-send: its messages end send_interrupted after this, not 2 minutes.
        LEADGATE_SEND_LEASE_MS: '3000',
        LOG_LEVEL: 'info',
      };
    };
    const secret = common().LEADGATE_SECRET_KEY!;
    const env = (extra: Record<string, string>) => ({ ...common(), LEADGATE_SECRET_KEY: secret, ...extra });
    // One after another: on two cores, four processes loading at once each take four times as long.
    // A start is given more than the usual minute: the first one applies every migration.
    const startup = { startupMs: 120_000 };
    for (let i = 0; i < 2; i++) apis.push(await spawnGateway(env({ LEADGATE_WORKERS: 'false' }), await freePort(), startup));
    for (let i = 0; i < 2; i++) {
      workerMetrics.push(await freePort());
      workers.push(await spawnWorker(env({ LEADGATE_METRICS_PORT: String(workerMetrics[i]) }), startup));
    }
    const created = await apiRequest<{ id: string; secret: string }>(apis[0]!.baseUrl, apiKey, 'POST', '/api/v1/sources', {
      kind: 'webform',
      name: 'Website',
      // The load comes from one address, faster than the 30 a minute a form takes from one by default.
      rateLimitPerMinute: 100_000,
    });
    expect(created.status).toBe(201);
    form = created.body;
    // Five processes and their first migrations: minutes on a loaded two-core machine, seconds on an idle one.
  }, 480_000);

  afterAll(async () => {
    for (const child of [...apis, ...workers]) await child.kill();
    await redis?.stop();
    postgres?.destroy();
    await smtp?.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing, duplicates nothing, sends nothing twice, and recovers by itself', async () => {
    const acknowledged = new Map<string, string>();
    const answers = new Map<number | string, number>();
    const live = new Set([0, 1]);
    let loading = true;
    let sent = 0;
    const post = async (email: string) => {
      const api = [...live][sent++ % live.size]!;
      try {
        const response = await fetch(`${apis[api]!.baseUrl}/hooks/forms/${form.id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
          body: JSON.stringify({ name: 'Chaos Lead', email, message: 'Quero um orçamento' }),
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await response.json()) as { eventId?: string };
        answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
        if (response.status === 202) acknowledged.set(email, body.eventId!);
      } catch (error) {
        const name = (error as Error).name;
        answers.set(name, (answers.get(name) ?? 0) + 1);
      }
    };
    // Two clients posting one submission after another: a steady load that every phase sees.
    const load = Promise.all(
      [0, 1].map(async (client) => {
        for (let i = 0; loading; i++) {
          await post(`chaos-${client}-${i}@example.com`);
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      }),
    );
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    await pause(1_500);
    live.delete(0);
    await apis[0]!.kill();
    await pause(500);
    await workers[0]!.kill();
    await pause(1_000);
    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();
    await pause(1_500);
    postgres.stop();
    await pause(10_000);
    postgres.start();
    await pause(2_000);
    loading = false;
    await load;

    const api = apis[1]!;
    // Each phase was under load: some posts were acknowledged before the outage and after it.
    expect(acknowledged.size, JSON.stringify(Object.fromEntries(answers))).toBeGreaterThan(20);
    expect(answers.get(503), 'the database outage answered 503').toBeGreaterThan(0);

    // The processes left recover by themselves.
    await eventually(async () => {
      const readiness = await fetch(`${api.baseUrl}/readyz`);
      expect(((await readiness.json()) as { status: string }).status).toBe('ready');
    }, 20_000, 200);
    const after = await fetch(`${api.baseUrl}/hooks/forms/${form.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
      body: JSON.stringify({ name: 'After Chaos', email: 'after-chaos@example.com' }),
    });
    expect(after.status).toBe(202);
    acknowledged.set('after-chaos@example.com', ((await after.json()) as { eventId: string }).eventId);

    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    // A failure says what the processes left logged meanwhile.
    const logs = () => [api, workers[1]!].map((child) => child.output().split('\n').slice(-40).join('\n')).join('\n---\n');
    try {
      // Every acknowledged submission is exactly one lead, once the one worker left has caught up.
      await eventually(
        async () => {
          const { rows } = await db.query<{ email: string; leads: number; status: string }>(
            `SELECT e.payload->'from'->>'email' AS email, e.status, count(DISTINCT l.id)::int AS leads
             FROM inbound_events e
             LEFT JOIN contact_identities i ON i.kind = 'email' AND i.value = e.payload->'from'->>'email'
             LEFT JOIN leads l ON l."contactId" = i."contactId"
             WHERE e.id = ANY($1::text[]) GROUP BY 1, 2`,
            [[...acknowledged.values()]],
          );
          expect(rows.filter((row) => row.status !== 'processed' || row.leads !== 1)).toEqual([]);
          expect(rows).toHaveLength(acknowledged.size);
        },
        30_000,
        250,
      );
      // No person got two leads, acknowledged or not (a post whose answer was lost is stored too).
      const { rows: doubled } = await db.query(
        `SELECT i.value, count(*)::int FROM leads l JOIN contact_identities i ON i."contactId" = l."contactId" AND i.kind = 'email' GROUP BY 1 HAVING count(*) > 1`,
      );
      expect(doubled).toEqual([]);

      // Each acknowledgement went out once; one the killed worker had in hand when it died ends
      // send_interrupted, visible, and is not sent again.
      await eventually(
        async () => {
          const { rows } = await db.query<{ to: string; status: string; code: string | null }>(
            `SELECT m."toAddress" AS to, m.status, m."errorCode" AS code FROM messages m WHERE m.direction = 'out' AND m.automatic`,
          );
          const received = new Map<string, number>();
          for (const mail of smtp.received) for (const to of mail.envelope.to) received.set(to, (received.get(to) ?? 0) + 1);
          expect([...received].filter(([, count]) => count > 1)).toEqual([]);
          const unfinished = rows.filter((row) => row.status !== 'sent' && !(row.status === 'failed' && row.code === 'send_interrupted'));
          expect(unfinished).toEqual([]);
          for (const email of acknowledged.keys()) {
            const message = rows.find((row) => row.to === email);
            expect(message, email).toBeDefined();
            expect(received.get(email) ?? 0, email).toBe(message!.status === 'sent' ? 1 : 0);
          }
        },
        30_000,
        250,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n\nlogs of the processes left:\n${logs()}`, { cause: error });
    } finally {
      await db.end();
    }

    // The surviving worker tells its own story on its metrics listener.
    const metrics = await scrape(`http://127.0.0.1:${workerMetrics[1]}/metrics`);
    expect(metrics.sum('leadgate_info', { role: 'worker' })).toBe(1);
    expect(metrics.sum('leadgate_inbound_processed_total', { channel: 'webform', outcome: 'processed' })).toBeGreaterThan(0);
    expect(metrics.sum('leadgate_dependency_up', { dependency: 'database' })).toBe(1);
    expect(metrics.sum('leadgate_inbound_pending')).toBe(0);
  }, 180_000);
});
