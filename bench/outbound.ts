/**
 * Messages per second through the outbound dispatcher (claim the row, send, record the result and
 * its activity) to a transport that does nothing, with Bull on Redis and PostgreSQL, against Bull's
 * own throughput for a job that does nothing, measured in the same run.
 *
 *   npm run bench:outbound            BENCH_MESSAGES=2000 BENCH_CONCURRENCY=4
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

async function dispatcher(): Promise<number> {
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
    const contactId = newId('con');
    await prisma.contact.create({ data: { id: contactId, workspaceId } });
    const leadId = newId('lead');
    await prisma.lead.create({ data: { id: leadId, workspaceId, contactId, channel: 'sms', sourceId } });
    const ids = Array.from({ length: messages }, () => newId('msg'));
    for (let i = 0; i < ids.length; i += 500) {
      await prisma.message.createMany({
        data: ids.slice(i, i + 500).map((id) => ({ id, workspaceId, leadId, sourceId, direction: 'out', channel: 'sms', status: 'queued', text: 'hi', toAddress: '+5511987654321', idempotencyKey: id })),
      });
    }
    await gateway.startWorkers();
    const started = performance.now();
    await Promise.all(ids.map((id) => gateway.deps.queue.add('outbound', id)));
    for (;;) {
      const sent = await prisma.message.count({ where: { leadId, status: 'sent' } });
      if (sent === messages) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return messages / ((performance.now() - started) / 1000);
  } finally {
    await gateway.close();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const baseline = await bullBaseline();
const rate = await dispatcher();
console.log(`\nOutbound dispatch, ${messages} messages, concurrency ${concurrency}, Bull on Redis, PostgreSQL\n`);
console.log('what                                    | messages/s | vs Bull no-op');
console.log('----------------------------------------|------------|--------------');
console.log(`Bull, a job that does nothing (baseline) | ${baseline.toFixed(0).padStart(10)} | 1.00x`);
console.log(`dispatcher to a no-op transport          | ${rate.toFixed(0).padStart(10)} | ${(rate / baseline).toFixed(2)}x`);
