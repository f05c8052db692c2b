import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, type GatewayProcess, spawnGateway } from '../support/process.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, eventually, mainBackends, stackEnv } from '../support/stack.js';

interface EventRow {
  id: string;
  status: string;
  leadId: string | null;
}

describe.each(mainBackends)('a gateway killed with SIGKILL on $db with the $queue queue', ({ db, queue }) => {
  let processes: GatewayProcess[] = [];
  let database: TestDatabase | undefined;
  let dataDir: string;

  afterEach(async () => {
    for (const process of processes) await process.kill();
    processes = [];
    await database?.drop();
    database = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function setup() {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-crash-'));
    database = db === 'postgres' ? await createTestDatabase() : undefined;
    const env: Record<string, string> = {
      ...stackEnv({ db, queue }, dataDir, database),
      LEADGATE_QUEUE_PREFIX: `lgcrash-${randomBytes(4).toString('hex')}`,
      LOG_LEVEL: 'warn',
    };
    const port = await freePort();
    const start = async (extra: Record<string, string> = {}) => {
      const started = await spawnGateway({ ...env, ...extra }, port);
      processes.push(started);
      return started;
    };
    const api = <T>(gateway: GatewayProcess, method: string, urlPath: string, body?: unknown) =>
      apiRequest<T>(gateway.baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);
    return { start, api };
  }

  async function createForm(api: <T>(method: string, urlPath: string, body?: unknown) => Promise<{ body: T }>) {
    const { body } = await api<{ id: string; secret: string }>('POST', '/api/v1/sources', { kind: 'webform', name: 'Site', rateLimitPerMinute: 100_000 });
    return body;
  }

  function submit(baseUrl: string, form: { id: string; secret: string }, n: number) {
    return fetch(`${baseUrl}/hooks/forms/${form.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
      body: JSON.stringify({ name: `Lead ${n}`, email: `lead${n}@example.com`, message: `submission ${n}` }),
    });
  }

  async function allEvents(gateway: GatewayProcess, api: Awaited<ReturnType<typeof setup>>['api']): Promise<EventRow[]> {
    const rows: EventRow[] = [];
    let cursor: string | null = null;
    do {
      const { body }: { body: { data: EventRow[]; nextCursor: string | null } } = await api(gateway, 'GET', `/api/v1/inbound-events?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      rows.push(...body.data);
      cursor = body.nextCursor;
    } while (cursor);
    return rows;
  }

  it('processes after a restart what it acknowledged before being killed, before processing', async () => {
    const { start, api } = await setup();
    const apiOnly = await start({ LEADGATE_WORKERS: 'false' });
    const form = await createForm((method, urlPath, body) => api(apiOnly, method, urlPath, body));
    const acknowledged: string[] = [];
    for (let n = 0; n < 20; n++) {
      const response = await submit(apiOnly.baseUrl, form, n);
      expect(response.status).toBe(202);
      acknowledged.push(((await response.json()) as { eventId: string }).eventId);
    }
    await apiOnly.kill();

    const restarted = await start();
    const events = await eventually(async () => {
      const rows = await allEvents(restarted, api);
      expect(rows.filter((row) => row.status === 'processed'), restarted.output()).toHaveLength(20);
      return rows;
    }, 30_000);
    expect(events.map((row) => row.id).sort()).toEqual([...acknowledged].sort());
    const { body } = await api<{ data: unknown[] }>(restarted, 'GET', '/api/v1/leads?limit=200');
    expect(body.data).toHaveLength(20);
  });

  it('loses nothing and duplicates nothing when killed in the middle of a burst', async () => {
    const { start, api } = await setup();
    const first = await start();
    const form = await createForm((method, urlPath, body) => api(first, method, urlPath, body));
    const acknowledged = new Set<string>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < 200 && !killed) {
        const n = next++;
        try {
          const response = await submit(first.baseUrl, form, n);
          if (response.status === 202) acknowledged.add(((await response.json()) as { eventId: string }).eventId);
        } catch (error) {
          // Requests in flight when the process dies get no answer: they were never acknowledged.
          if (!killed) throw error;
        }
        if (acknowledged.size >= 60 && !killed) {
          killed = true;
          await first.kill();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(killed).toBe(true);

    const restarted = await start();
    const events = await eventually(async () => {
      const rows = await allEvents(restarted, api);
      expect(rows.filter((row) => row.status !== 'processed')).toEqual([]);
      return rows;
    }, 60_000);
    const stored = new Set(events.map((row) => row.id));
    for (const eventId of acknowledged) expect(stored.has(eventId)).toBe(true);
    // One submission, one person, one lead, one inbound message: nothing was processed twice.
    const leads: { id: string }[] = [];
    let cursor: string | null = null;
    do {
      const { body }: { body: { data: { id: string }[]; nextCursor: string | null } } = await api(restarted, 'GET', `/api/v1/leads?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      leads.push(...body.data);
      cursor = body.nextCursor;
    } while (cursor);
    expect(leads).toHaveLength(events.length);
    expect(new Set(events.map((row) => row.leadId)).size).toBe(events.length);
    for (const lead of leads.slice(0, 10)) {
      const { body } = await api<{ data: { direction: string }[] }>(restarted, 'GET', `/api/v1/leads/${lead.id}/messages`);
      expect(body.data.filter((m) => m.direction === 'in')).toHaveLength(1);
    }
  }, 150_000);
});

describe('the embedded database', () => {
  it('refuses a second process on the same data directory instead of corrupting it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-lock-'));
    const env = { ...stackEnv({ db: 'pglite', queue: 'embedded' }, dataDir), LOG_LEVEL: 'warn' };
    const first = await spawnGateway(env, await freePort());
    try {
      await expect(spawnGateway(env, await freePort())).rejects.toThrow(/in use by process \d+/);
    } finally {
      await first.kill();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a worker killed between handing a message to the provider and recording it', () => {
  it('leaves the message failed as interrupted, and never sends it twice', async () => {
    const smtp = await new TestSmtpServer().start();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-send-'));
    const env: Record<string, string> = {
      ...stackEnv({ db: 'pglite', queue: 'embedded', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } }, dataDir),
      LEADGATE_SEND_LEASE_MS: '1500',
      LOG_LEVEL: 'warn',
    };
    const port = await freePort();
    const api = <T>(gateway: GatewayProcess, method: string, urlPath: string, body?: unknown) => apiRequest<T>(gateway.baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);
    let gateway = await spawnGateway(env, port);
    try {
      const { body: form } = await api<{ id: string; secret: string }>(gateway, 'POST', '/api/v1/sources', { kind: 'webform', name: 'Site' });
      const arrived = smtp.holdNext();
      await fetch(`${gateway.baseUrl}/hooks/forms/${form.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
        body: JSON.stringify({ name: 'Ana', email: 'ana@example.com' }),
      });
      // The SMTP server has the whole acknowledgement; the gateway is waiting for its answer.
      await arrived;
      await gateway.kill();
      gateway = await spawnGateway(env, port);
      const { body: leads } = await api<{ data: { id: string }[] }>(gateway, 'GET', '/api/v1/leads');
      const message = await eventually(async () => {
        const { body } = await api<{ data: { direction: string; status: string; errorCode?: string; attempts: number }[] }>(gateway, 'GET', `/api/v1/leads/${leads.data[0]!.id}/messages`);
        const outbound = body.data.find((m) => m.direction === 'out')!;
        expect(outbound.status).toBe('failed');
        return outbound;
      }, 20_000);
      expect(message).toMatchObject({ errorCode: 'send_interrupted', attempts: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(smtp.received.filter((m) => m.envelope.to.includes('ana@example.com'))).toHaveLength(1);
    } finally {
      await gateway.kill();
      await smtp.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
