/**
 * Messages per second through the outbound dispatcher (claim, send, record the result, its
 * activity and webhook deliveries) to a transport that does nothing, with Bull on Redis and
 * PostgreSQL, against Bull's own throughput for a job that does nothing, measured in the same run.
 *
 * Two backlogs: one message to each of BENCH_MESSAGES people (acknowledgements piling up), and
 * BENCH_CONVERSATION_MESSAGES to one person, which must leave in the order they were written.
 * Every message is woken through `Outbound.wake`, as inbound processing and the API do.
 *
 *   npm run bench:outbound            BENCH_MESSAGES=2000 BENCH_CONVERSATION_MESSAGES=200 BENCH_CONCURRENCY=4
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Bull from 'bull';
import { pino } from 'pino';
import { z } from 'zod';
import { builtInAdapters } from '../adapters/index.js';
import type { ChannelAdapter, SourceKindSpec } from '../src/channels/contract.js';
import { loadConfig } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { newId } from '../src/ids.js';
import { createTestDatabase, redisUrl } from '../test/support/services.js';

const messages = Number(process.env.BENCH_MESSAGES ?? 2000);
const conversationMessages = Number(process.env.BENCH_CONVERSATION_MESSAGES ?? 200);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);

/** A channel whose transport does nothing: what is left is the dispatcher's own cost. */
class NoopAdapter implements ChannelAdapter {
  readonly kind = 'noop';
  readonly sends = ['sms'] as const;
  readonly source: SourceKindSpec = {
    createSchema: z.object({}),
    updateSchema: z.object({}),
    prepare: () => ({ settings: {}, secrets: {} }),
    present: () => ({}),
  };
  async send(_connection: unknown, message: { id: string }): Promise<{ externalId: string }> {
    return { externalId: `noop-${message.id}` };
  }
}

async function bullBaseline(): Promise<number> {
  const queue = new Bull<{ n: number }>(`noop-${randomBytes(4).toString('hex')}`, redisUrl, { prefix: 'leadgate-bench' });
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  void queue.process(concurrency, async () => {
    if (++done === messages) finish();
  });
  const started = performance.now();
  await queue.addBulk(Array.from({ length: messages }, (_, n) => ({ data: { n }, opts: { removeOnComplete: true } })));
  await finished;
  const rate = messages / ((performance.now() - started) / 1000);
  await queue.obliterate({ force: true });
  await queue.close();
  return rate;
}

/** Sends `people × perPerson` queued messages; messages per second from the first wake-up to the last sent. */
async function dispatcher(people: number, perPerson: number): Promise<number> {
  const total = people * perPerson;
  const database = await createTestDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-bench-'));
  const config = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    LEADGATE_DATA_DIR: dataDir,
    LEADGATE_API_KEY: `lg_bench_${randomBytes(16).toString('hex')}`,
    LEADGATE_WORKER_CONCURRENCY: String(concurrency),
    // The per-connection rate limit would measure itself, not the dispatcher.
    LEADGATE_SEND_RATE_PER_MINUTE: '100000000',
    LOG_LEVEL: 'silent',
  });
  const gateway = await Gateway.create(config, {
    logger: pino({ level: 'silent' }),
    queuePrefix: `leadgate-bench-${randomBytes(4).toString('hex')}`,
    adapters: [...builtInAdapters({ connectionLeaseMs: config.connectionLeaseMs }), new NoopAdapter()],
  });
  try {
    const prisma = gateway.deps.db.prisma;
    const workspaceId = gateway.bootstrapResult.workspaceId;
    const sourceId = newId('src');
    await prisma.source.create({ data: { id: sourceId, workspaceId, kind: 'noop', name: 'bench', settings: {}, secrets: gateway.deps.box.seal({}) } });
    const leadIds: string[] = [];
    for (let i = 0; i < people; i += 500) {
      const chunk = Array.from({ length: Math.min(500, people - i) }, () => ({ contactId: newId('con'), leadId: newId('lead') }));
      await prisma.contact.createMany({ data: chunk.map(({ contactId }) => ({ id: contactId, workspaceId })) });
      await prisma.lead.createMany({ data: chunk.map(({ contactId, leadId }) => ({ id: leadId, workspaceId, contactId, channel: 'sms', sourceId })) });
      leadIds.push(...chunk.map(({ leadId }) => leadId));
    }
    // Written a millisecond apart, as messages written one after another are.
    const writtenFrom = Date.now() - people * perPerson;
    const rows = leadIds.flatMap((leadId) => Array.from({ length: perPerson }, () => ({ id: newId('msg'), leadId })));
    for (let i = 0; i < rows.length; i += 500) {
      await prisma.message.createMany({
        data: rows.slice(i, i + 500).map(({ id, leadId }, n) => ({
          id,
          workspaceId,
          leadId,
          sourceId,
          direction: 'out',
          channel: 'sms',
          status: 'queued',
          text: 'hi',
          toAddress: '+5511987654321',
          idempotencyKey: id,
          createdAt: new Date(writtenFrom + i + n),
        })),
      });
    }
    await gateway.startWorkers();
    const started = performance.now();
    for (const { id } of rows) gateway.deps.outbound.wake(id);
    for (;;) {
      const sent = await prisma.message.count({ where: { sourceId, status: 'sent' } });
      if (sent === total) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return total / ((performance.now() - started) / 1000);
  } finally {
    await gateway.close();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const loadBefore = os.loadavg();
const baseline = await bullBaseline();
const spread = await dispatcher(messages, 1);
const conversation = await dispatcher(1, conversationMessages);
const loadAfter = os.loadavg();
const row = (what: string, rate: number) => `${what.padEnd(52)} | ${rate.toFixed(0).padStart(10)} | ${(rate / baseline).toFixed(2)}x`;
console.log(`\nOutbound dispatch, concurrency ${concurrency}, Bull on Redis, PostgreSQL, ${os.cpus().length} cores`);
console.log(`load average (1, 5, 15 min): before ${loadBefore.map((n) => n.toFixed(2)).join(' ')}, after ${loadAfter.map((n) => n.toFixed(2)).join(' ')}\n`);
console.log(`${'what'.padEnd(52)} | messages/s | vs Bull no-op`);
console.log(`${'-'.repeat(52)}-|------------|--------------`);
console.log(row('Bull, a job that does nothing (baseline)', baseline));
console.log(row(`dispatcher, ${messages} people, one message each`, spread));
console.log(row(`dispatcher, one person, ${conversationMessages} messages in order`, conversation));
