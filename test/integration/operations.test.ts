import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { createTestDatabase, redisUrl, type TestDatabase } from '../support/services.js';
import { apiRequest, createWebform, eventually, postForm, type Stack, stackEnv, type WebformSource } from '../support/stack.js';
import { startTcpProxy, type TcpProxy, throughProxy } from '../support/tcp-proxy.js';

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * A gateway on PostgreSQL and Redis, each reached through a relay the test can take down: what
 * an operator sees (readiness, answers, logs) while one of them is gone, and after it is back.
 */
describe('operations: a dependency goes away and comes back', () => {
  let database: TestDatabase;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let gateway: Gateway;
  let stack: Pick<Stack, 'baseUrl' | 'apiKey' | 'api'>;
  let form: WebformSource;
  const logs: LogLine[] = [];
  let dataDir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    pgProxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(database.url).port || 5432) });
    redisProxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(redisUrl).port || 6379) });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
    const env: Record<string, string> = {
      ...stackEnv({ db: 'postgres', queue: 'bull' }, dataDir),
      DATABASE_URL: throughProxy(database.url, pgProxy),
      REDIS_URL: throughProxy(redisUrl, redisProxy),
      LOG_LEVEL: 'info',
    };
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    gateway = await Gateway.create(loadConfig(env), { logger: pino({ level: 'info' }, sink), queuePrefix: `lgtest-ops-${process.pid}` });
    await gateway.startWorkers();
    const port = await gateway.listen(0, '127.0.0.1');
    const baseUrl = `http://127.0.0.1:${port}`;
    const apiKey = env.LEADGATE_API_KEY!;
    stack = { baseUrl, apiKey, api: (method, urlPath, body) => apiRequest(baseUrl, apiKey, method, urlPath, body) };
    form = await createWebform(stack as Stack);
  });
  afterAll(async () => {
    await pgProxy?.up();
    await redisProxy?.up();
    await gateway?.close();
    await pgProxy?.close();
    await redisProxy?.close();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const readyz = async () => {
    const response = await fetch(`${stack.baseUrl}/readyz`);
    return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, string> } };
  };

  it('stays ready, and says it is degraded, while Redis is down: submissions are still stored', async () => {
    expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready' } });
    await redisProxy.down();
    try {
      const degraded = await readyz();
      expect(degraded.status).toBe(200);
      expect(degraded.body).toMatchObject({ status: 'degraded', checks: { database: 'ok', queue: 'bull: down' } });
      const stored = await postForm(stack as Stack, form, { name: 'Sem Redis', email: 'sem-redis@example.com' });
      expect(stored.status).toBe(202);
    } finally {
      await redisProxy.up();
    }
    await eventually(async () => expect(await readyz()).toMatchObject({ status: 200, body: { status: 'ready' } }), 20_000, 200);
    // The submission made while Redis was away becomes a lead once it is back.
    await eventually(async () => {
      const { body } = await stack.api<{ data: unknown[] }>('GET', '/api/v1/leads?q=sem-redis');
      expect(body.data).toHaveLength(1);
    }, 30_000, 200);
  });

  it('answers 503 with Retry-After while the database is down, logs the outage once, and serves again when it is back', async () => {
    logs.length = 0;
    await pgProxy.down();
    try {
      const answers = [];
      for (let i = 0; i < 10; i++) {
        answers.push(await fetch(`${stack.baseUrl}/api/v1/leads`, { headers: { authorization: `Bearer ${stack.apiKey}` } }));
        answers.push(
          await fetch(`${stack.baseUrl}/hooks/forms/${form.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
            body: JSON.stringify({ name: `Sem Banco ${i}`, email: `sem-banco${i}@example.com` }),
          }),
        );
      }
      for (const answer of answers) {
        expect(answer.status, answer.url).toBe(503);
        expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(((await answer.json()) as { type: string }).type).toBe('https://leadgate.dev/problems/database-unavailable');
      }
      const notReady = await readyz();
      expect(notReady.status).toBe(503);
      expect(notReady.body.checks.database).toBe('down');
    } finally {
      await pgProxy.up();
    }
    await eventually(async () => expect((await stack.api('GET', '/api/v1/leads')).status).toBe(200), 20_000, 200);
    expect((await postForm(stack as Stack, form, { name: 'De Volta', email: 'de-volta@example.com' })).status).toBe(202);
    await eventually(() => expect(logs.filter((line) => line.msg === 'database available again')).toHaveLength(1), 10_000);
    // One line when it went, one when it came back; no error per request or per connection.
    expect(logs.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual(['database unavailable']);
  });
});
