import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisSendPace } from '../../src/messaging/send-pace.js';
import { freePort, type GatewayProcess, spawnGateway } from '../support/process.js';
import { createTestDatabase, redisUrl, type TestDatabase } from '../support/services.js';
import { TestSmtpServer } from '../support/smtp.js';
import { apiRequest, createWebform, eventually, mainBackends, postForm, stackEnv, startStack } from '../support/stack.js';

describe.each(mainBackends)('a paced send on $db with the $queue queue', ({ db, queue }) => {
  it('goes out when its turn comes, with no sweeper to find it', async () => {
    const smtp = await new TestSmtpServer().start();
    // Six a minute; the sweeper looks only once, at start, so nothing but the send's own
    // wake-up can send what waits.
    const stack = await startStack({
      db,
      queue,
      smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' },
      env: { LEADGATE_SEND_RATE_PER_MINUTE: '6', LEADGATE_SWEEP_INTERVAL_MS: '600000' },
    });
    try {
      const form = await createWebform(stack);
      if (queue === 'bull') {
        // Redis counts the pace in fixed windows of a minute, opened by a connection's first send.
        // Here one is already open with twenty seconds left, so what waits goes out then rather
        // than a whole minute after the first send.
        const redis = new Redis(redisUrl);
        try {
          // 'system:email': the gateway's own SMTP connection, six a minute.
          await redis.set(RedisSendPace.windowKey(stack.queuePrefix, 'system:email', 6), 0, 'PX', 20_000);
        } finally {
          redis.disconnect();
        }
      }
      // Past six, some wait. On Redis thirteen: wherever that window ends among them, more than
      // six are left for the next one, so at least one waits its turn there too.
      const people = queue === 'bull' ? 13 : 10;
      for (let n = 0; n < people; n++) await postForm(stack, form, { name: `Paced ${n}`, email: `paced${n}@example.com` });
      await eventually(() => expect(smtp.received.length).toBeGreaterThanOrEqual(6), 30_000);
      const prisma = stack.gateway.deps.db.prisma;
      // An acknowledgement past the pace waits its turn, queued, with the time it is due.
      const waiting = await eventually(async () => {
        const row = await prisma.message.findFirst({ where: { direction: 'out', status: 'queued', nextAttemptAt: { not: null } }, orderBy: { nextAttemptAt: 'asc' } });
        expect(row).not.toBeNull();
        return row!;
      });
      expect(waiting.attempts).toBe(0);
      const due = waiting.nextAttemptAt!.getTime();
      await eventually(() => expect(smtp.received.some((mail) => mail.envelope.to.includes(waiting.toAddress!))).toBe(true), 90_000, 100);
      const sent = await eventually(async () => {
        const row = await prisma.message.findUniqueOrThrow({ where: { id: waiting.id } });
        expect(row.status).toBe('sent');
        return row;
      });
      expect(sent.attempts).toBe(1);
      // Not before its turn, and woken by its own job: the sweep, the only other way it could go,
      // comes ten minutes later. (How soon after its turn it goes is for a benchmark to say.)
      expect(sent.sentAt!.getTime()).toBeGreaterThanOrEqual(due);
      expect(sent.sentAt!.getTime() - due).toBeLessThan(60_000);
    } finally {
      await stack.close();
      await smtp.stop();
    }
  }, 150_000);
});

describe('two worker processes sharing Redis', () => {
  const processes: GatewayProcess[] = [];
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let smtp: TestSmtpServer | undefined;

  afterEach(async () => {
    for (const process of processes.splice(0)) await process.kill();
    await database?.drop();
    await smtp?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keep one pace per connection between them, never twice the configured rate', async () => {
    smtp = await new TestSmtpServer().start();
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-pace-'));
    const env: Record<string, string> = {
      ...stackEnv({ db: 'postgres', queue: 'bull', smtp: { url: smtp.url, from: 'Acme <vendas@acme.test>' } }, dataDir, database),
      LEADGATE_QUEUE_PREFIX: `lgpace-${randomBytes(4).toString('hex')}`,
      LEADGATE_SEND_RATE_PER_MINUTE: '4',
      LOG_LEVEL: 'warn',
    };
    const first = await spawnGateway(env, await freePort());
    processes.push(first);
    const second = await spawnGateway(env, await freePort());
    processes.push(second);
    const api = <T>(gateway: GatewayProcess, method: string, urlPath: string, body?: unknown) => apiRequest<T>(gateway.baseUrl, env.LEADGATE_API_KEY!, method, urlPath, body);
    const { body: form } = await api<{ id: string; secret: string }>(first, 'POST', '/api/v1/sources', { kind: 'webform', name: 'Site', rateLimitPerMinute: 10_000 });

    // Sixteen people write, through both processes; each gets an acknowledgement from the
    // gateway's one SMTP connection, sent by whichever process the queue hands the work to.
    for (let n = 0; n < 16; n++) {
      const through = n % 2 === 0 ? first : second;
      const response = await fetch(`${through.baseUrl}/hooks/forms/${form.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-leadgate-token': form.secret },
        body: JSON.stringify({ name: `Person ${n}`, email: `person${n}@example.com` }),
      });
      expect(response.status).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const acknowledgements = async () => {
      const { body } = await api<{ data: { id: string }[] }>(first, 'GET', '/api/v1/leads?limit=50');
      const all = await Promise.all(
        body.data.map(async (lead) => (await api<{ data: { direction: string; status: string; attempts: number }[] }>(first, 'GET', `/api/v1/leads/${lead.id}/messages`)).body.data),
      );
      return all.flat().filter((message) => message.direction === 'out');
    };
    await eventually(async () => expect(await acknowledgements()).toHaveLength(16), 30_000);
    await eventually(() => expect(smtp!.received.length).toBe(4), 15_000);
    // Both processes have had their chances: still four, well inside the minute.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(smtp.received.length).toBe(4);
    const messages = await acknowledgements();
    expect(messages.filter((m) => m.status === 'sent')).toHaveLength(4);
    // The rest wait their turn: queued, never tried, not failed.
    expect(messages.filter((m) => m.status !== 'sent')).toEqual(Array(12).fill(expect.objectContaining({ status: 'queued', attempts: 0 })));
  }, 120_000);
});
