import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Gateway } from '../../src/gateway.js';
import { freePort, type GatewayProcess, spawnGateway } from '../support/process.js';
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

describe('operations: stopping with a deadline', () => {
  const started: GatewayProcess[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const gateway of started) await gateway.kill();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A gateway process with a request in flight that never finishes sending its body. */
  const gatewayWithSlowClient = async (env: Record<string, string>) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
    dirs.push(dataDir);
    const gateway = await spawnGateway({ ...stackEnv({ db: 'pglite', queue: 'embedded' }, dataDir), LOG_LEVEL: 'info', ...env }, await freePort());
    started.push(gateway);
    const { port } = new URL(gateway.baseUrl);
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.on('error', () => undefined);
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
    slow.write('POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":');
    // Let the server take the request in before the signal.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => gateway.child.once('exit', (code) => resolve({ code, at: Date.now() })));
    return { gateway, slow, exited };
  };

  it('exits when LEADGATE_SHUTDOWN_TIMEOUT_MS has passed, naming what was still open', async () => {
    const { gateway, slow, exited } = await gatewayWithSlowClient({ LEADGATE_SHUTDOWN_TIMEOUT_MS: '1000' });
    const signalled = Date.now();
    gateway.child.kill('SIGTERM');
    const { code, at } = await exited;
    slow.destroy();
    // Before the server's own 5 s cut-off of open connections (exiting a loaded machine's
    // process with its database thread takes a moment of its own).
    expect(at - signalled).toBeLessThan(4_500);
    expect(code).toBe(1);
    const line = gateway
      .output()
      .split('\n')
      .filter((text) => text.startsWith('{'))
      .map((text) => JSON.parse(text) as { msg: string; stillOpen?: string[] })
      .find((entry) => entry.msg.startsWith('stopping took too long'));
    expect(line?.stillOpen?.[0]).toBe('http server');
    expect(line?.stillOpen).toContain('database');
  });

  it('exits within the deadline with a WhatsApp number that cannot reach WhatsApp, naming what was open if anything was', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-test-'));
    dirs.push(dataDir);
    const env: Record<string, string> = { ...stackEnv({ db: 'pglite', queue: 'embedded' }, dataDir), LOG_LEVEL: 'info', LEADGATE_SHUTDOWN_TIMEOUT_MS: '2000' };
    const gateway = await spawnGateway(env, await freePort(), { startupMs: 150_000 });
    started.push(gateway);
    // The real WhatsApp library, which cannot reach WhatsApp's servers from here: it keeps retrying.
    const created = await apiRequest<{ id: string }>(gateway.baseUrl, env.LEADGATE_API_KEY!, 'POST', '/api/v1/sources', { kind: 'whatsapp', name: 'Sem rede', autoReplyTemplate: null });
    expect(created.status).toBe(201);
    await eventually(async () => {
      const { body } = await apiRequest<{ status: { state: string } }>(gateway.baseUrl, env.LEADGATE_API_KEY!, 'GET', `/api/v1/sources/${created.body.id}`);
      // Trying: connecting, or waiting to try again after a failure.
      expect(['connecting', 'reconnecting']).toContain(body.status.state);
    }, 60_000, 200);
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => gateway.child.once('exit', (code) => resolve({ code, at: Date.now() })));
    const signalled = Date.now();
    gateway.child.kill('SIGTERM');
    const { code, at } = await exited;
    // The deadline, and a moment for a loaded machine to run the timer and exit.
    expect(at - signalled).toBeLessThan(2_000 + 2_500);
    const lines = gateway
      .output()
      .split('\n')
      .filter((text) => text.startsWith('{'))
      .map((text) => JSON.parse(text) as { msg: string; stillOpen?: string[] });
    expect(lines.some((line) => line.msg === 'stopping')).toBe(true);
    // Closed in time (0), or out of time (1) with what was still open named.
    if (code !== 0) {
      expect(code).toBe(1);
      expect(lines.find((line) => line.msg.startsWith('stopping took too long'))?.stillOpen?.length).toBeGreaterThan(0);
    }
    // Starting a gateway process and its first WhatsApp attempt take a while on a loaded machine.
  }, 300_000);

  it('exits at once on a second signal while stopping', async () => {
    const { gateway, slow, exited } = await gatewayWithSlowClient({});
    gateway.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = Date.now();
    gateway.child.kill('SIGTERM');
    const { at } = await exited;
    slow.destroy();
    // Without waiting for the 5 s cut-off of the request in flight.
    expect(at - second).toBeLessThan(3_000);
    expect(gateway.output()).toContain('second signal while stopping');
  });
});
