import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type GatewayProcess, spawnGateway, spawnWorker, type WorkerProcess } from '../support/process.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, eventually, stackEnv } from '../support/stack.js';

/**
 * Production's shape: an API process that only stores and acknowledges, and worker processes
 * that turn events into leads, sharing PostgreSQL and Bull on Redis.
 */
describe('inbound processing by two worker processes on PostgreSQL with Bull', () => {
  let database: TestDatabase;
  let dataDir: string;
  let env: Record<string, string>;
  let smtp: TestSmtpServer;
  let api: GatewayProcess;
  let workers: WorkerProcess[] = [];
  let sql: pg.Client;
  let form: { id: string; secret: string };

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-pipeline-'));
    smtp = await new TestSmtpServer().start();
    env = {
      ...stackEnv({ db: 'postgres', queue: 'bull', smtp: { url: smtp.url, from: 'vendas@acme.test' } }, dataDir, database),
      LEADGATE_QUEUE_PREFIX: `lgpipe-${randomBytes(4).toString('hex')}`,
      // One batch at a time per worker: a second batch running at once is the other worker's.
      LEADGATE_WORKER_CONCURRENCY: '1',
      LEADGATE_SEND_RATE_PER_MINUTE: '100000',
      LOG_LEVEL: 'warn',
    };
    api = await spawnGateway({ ...env, LEADGATE_WORKERS: 'false' }, await freePort());
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const { body } = await request<{ id: string; secret: string }>('POST', '/api/v1/sources', { kind: 'webform', name: 'Site', rateLimitPerMinute: 100_000 });
    form = body;
  });

  afterEach(async () => {
    for (const worker of workers) await worker.kill();
    workers = [];
  });

  afterAll(async () => {
    await sql?.end();
    await api?.kill();
    await smtp?.stop();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const request = <T>(method: string, urlPath: string, body?: unknown) => apiRequest<T>(api.baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);

  async function submit(fields: Record<string, string>): Promise<string> {
    const response = await fetch(`${api.baseUrl}/hooks/forms/${form.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
      body: JSON.stringify(fields),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { eventId: string }).eventId;
  }

  async function startWorkers(count: number): Promise<void> {
    for (let n = 0; n < count; n++) workers.push(await spawnWorker(env));
  }

  const statusOf = async (eventId: string) => (await sql.query<{ status: string }>('SELECT status FROM inbound_events WHERE id = $1', [eventId])).rows[0]?.status;
  const pendingCount = async () => Number((await sql.query<{ n: string }>(`SELECT count(*) AS n FROM inbound_events WHERE status = 'pending'`)).rows[0]!.n);
  /** Backends of this database waiting for a lock another transaction holds. */
  const waitingOnLocks = async () =>
    Number((await sql.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n);
  const contactOf = async (email: string) =>
    (await sql.query<{ contactId: string }>(`SELECT "contactId" FROM contact_identities WHERE kind = 'email' AND value = $1`, [email])).rows[0]?.contactId;

  describe('with two workers running', () => {
    // Both cases leave the workers idle and well: they share two processes instead of starting
    // two each (a worker takes seconds to start).
    let shared: WorkerProcess[] = [];
    beforeAll(async () => {
      await Promise.all([0, 1].map(async () => shared.push(await spawnWorker(env))));
    });
    afterAll(async () => {
      for (const worker of shared) await worker.kill();
      shared = [];
    });

    it("processes other people's events in one worker while a batch of the other waits for a person", async () => {
      const first = await submit({ name: 'Ana Lima', email: 'ana@pipeline.test', message: 'Orçamento, por favor' });
      await eventually(async () => expect(await statusOf(first)).toBe('processed'));
      const ana = (await contactOf('ana@pipeline.test'))!;

      // Someone holds Ana's contact (as a merge of her contact would): a batch with her next
      // message stops there, holding its worker's only slot.
      const holder = new pg.Client({ connectionString: database.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [ana]);
        const second = await submit({ name: 'Ana Lima', email: 'ana@pipeline.test', message: 'Alguma novidade?' });
        await eventually(async () => expect(await waitingOnLocks()).toBe(1));

        // The other worker takes Bruno's event and finishes it while that batch still waits.
        const bruno = await submit({ name: 'Bruno Reis', email: 'bruno@pipeline.test', message: 'Quero saber o preço' });
        await eventually(async () => expect(await statusOf(bruno)).toBe('processed'));
        expect(await statusOf(second)).toBe('pending');
        expect(await waitingOnLocks()).toBe(1);

        await holder.query('ROLLBACK');
        await eventually(async () => expect(await statusOf(second)).toBe('processed'));
      } finally {
        await holder.end();
      }
      const leads = await sql.query<{ id: string; messages: string }>(
        `SELECT l.id, (SELECT count(*) FROM messages m WHERE m."leadId" = l.id AND m.direction = 'in') AS messages FROM leads l WHERE l."contactId" = $1`,
        [ana],
      );
      expect(leads.rows).toEqual([{ id: expect.any(String), messages: '2' }]);
    });

    it('never makes two contacts of one person whose submissions arrive together, with different emails and one phone', async () => {
      const people = 40;
      const eventIds = await Promise.all(
        Array.from({ length: people }, (_, n) => [
          submit({ name: `Pessoa ${n}`, telefone: `(11) 97${String(n).padStart(3, '0')}-1234`, email: `pessoa${n}@casa.test` }),
          submit({ name: `Pessoa ${n}`, telefone: `+55 11 97${String(n).padStart(3, '0')}1234`, email: `pessoa${n}@trabalho.test` }),
        ]).flat(),
      );
      await eventually(async () => expect(await pendingCount()).toBe(0), 60_000);
      const statuses = await sql.query<{ status: string }>('SELECT DISTINCT status FROM inbound_events WHERE id = ANY($1)', [eventIds]);
      expect(statuses.rows).toEqual([{ status: 'processed' }]);

      const contacts = await sql.query<{ n: string }>(`SELECT count(DISTINCT "contactId") AS n FROM contact_identities WHERE value LIKE 'pessoa%'`);
      expect(contacts.rows[0]!.n).toBe(String(people));
      const byPhone = await sql.query<{ emails: string; leads: string }>(
        `SELECT (SELECT count(*) FROM contact_identities e WHERE e."contactId" = p."contactId" AND e.kind = 'email') AS emails,
           (SELECT count(*) FROM leads l WHERE l."contactId" = p."contactId") AS leads
         FROM contact_identities p WHERE p.kind = 'phone' AND p.value LIKE '+551197%'`,
      );
      expect(byPhone.rows).toHaveLength(people);
      for (const person of byPhone.rows) expect(person).toEqual({ emails: '2', leads: '1' });
    });

  });

  it('loses nothing and sends nothing twice when a worker is killed in the middle of a batch', async () => {
    const known = await submit({ name: 'Carla Dias', email: 'carla@pipeline.test', message: 'Primeira mensagem' });
    await startWorkers(1);
    await eventually(async () => expect(await statusOf(known)).toBe('processed'));
    const mailsTo = (pattern: RegExp) => smtp.received.flatMap((mail) => mail.envelope.to).filter((address) => pattern.test(address));
    // Her acknowledgement is sent and recorded before the worker goes.
    await eventually(async () => {
      const ack = await sql.query(`SELECT 1 FROM messages WHERE "toAddress" = 'carla@pipeline.test' AND status = 'sent'`);
      expect(ack.rows).toHaveLength(1);
    });
    await workers.pop()!.kill();
    const carla = (await contactOf('carla@pipeline.test'))!;

    // A backlog: Carla writes again, and thirty new people.
    const backlog = [await submit({ name: 'Carla Dias', email: 'carla@pipeline.test', message: 'Segunda mensagem' })];
    for (let n = 0; n < 30; n++) backlog.push(await submit({ name: `Novo ${n}`, email: `novo${n}@pipeline.test`, message: 'Olá' }));

    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [carla]);
      // The worker claims the whole backlog in one batch, and stops inside it at Carla's contact.
      const doomed = await spawnWorker(env);
      workers.push(doomed);
      await eventually(async () => expect(await waitingOnLocks()).toBe(1));
      await doomed.kill();
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    expect(await pendingCount()).toBe(backlog.length);

    await startWorkers(1);
    await eventually(async () => expect(await pendingCount()).toBe(0), 60_000);
    const outcome = await sql.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM inbound_events WHERE id = ANY($1) GROUP BY status', [backlog]);
    expect(outcome.rows).toEqual([{ status: 'processed', n: String(backlog.length) }]);
    const leads = await sql.query<{ n: string }>(`SELECT count(*) AS n FROM leads l JOIN contact_identities i ON i."contactId" = l."contactId" WHERE i.value LIKE 'novo%@pipeline.test'`);
    expect(leads.rows[0]!.n).toBe('30');
    expect((await sql.query('SELECT id FROM leads WHERE "contactId" = $1', [carla])).rows).toHaveLength(1);

    // Each new person is acknowledged once, and Carla (whose lead was open) not again.
    await eventually(() => expect(mailsTo(/^novo\d+@pipeline\.test$/)).toHaveLength(30), 30_000);
    expect(new Set(mailsTo(/^novo\d+@pipeline\.test$/)).size).toBe(30);
    expect(mailsTo(/^carla@/)).toHaveLength(1);
    await eventually(async () => {
      const outbound = await sql.query<{ status: string; n: string }>(
        `SELECT status, count(*) AS n FROM messages WHERE direction = 'out' AND ("toAddress" LIKE 'novo%' OR "toAddress" = 'carla@pipeline.test') GROUP BY status`,
      );
      expect(outbound.rows).toEqual([{ status: 'sent', n: '31' }]);
    });
  });
});
