/**
 * What the insight triggers add to the write path. One round is what processing a new lead and a
 * first stage change write: a contact, a lead, its product and inbound message in one transaction,
 * then a stage change (with its stage entry) in another. The baseline is the same rounds with the
 * tables' triggers disabled (`ALTER TABLE … DISABLE TRIGGER USER`), measured in the same run on the
 * same database, in alternating blocks; then the same with concurrent writers, whose leads all land
 * on the same day and channel (the rows a shared counter would have queued on).
 *
 *   npm run bench:insight-writes     BENCH_ROUNDS=400 (per mode and block), BENCH_WRITERS=8
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Database, openDatabase } from '../src/db/client.js';
import { newId } from '../src/ids.js';
import { systemActor } from '../src/leads/activities.js';
import { changeStage } from '../src/leads/pipeline.js';
import { createTestDatabase } from '../test/support/services.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 400);
const writers = Number(process.env.BENCH_WRITERS ?? 8);
const blocks = 2;
const tables = ['workspaces', 'leads', 'lead_products', 'stage_entries', 'messages', 'response_windows', 'contact_opt_outs', 'sequence_enrollments'];

async function setTriggers(db: Database, enabled: boolean): Promise<void> {
  for (const table of tables) await db.runner.exec(`ALTER TABLE ${table} ${enabled ? 'ENABLE' : 'DISABLE'} TRIGGER USER`);
}

async function round(db: Database, workspaceId: string, productId: string): Promise<void> {
  const leadId = newId('lead');
  const at = new Date();
  await db.prisma.$transaction(async (tx) => {
    const contactId = newId('ct');
    await tx.contact.create({ data: { id: contactId, workspaceId, name: 'Ana' } });
    await tx.lead.create({ data: { id: leadId, workspaceId, contactId, channel: 'webform', createdAt: at } });
    await tx.leadProduct.create({ data: { workspaceId, leadId, productId } });
    await tx.message.create({ data: { id: newId('msg'), workspaceId, leadId, direction: 'in', channel: 'webform', status: 'received', text: 'Olá', createdAt: at } });
  });
  await db.prisma.$transaction((tx) => changeStage(tx, { workspaceId, leadId, to: 'contacted', actor: systemActor }));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Per-round latency one at a time, and rounds a second with `concurrency` writers. */
async function measure(db: Database, workspaceId: string, productId: string, concurrency: number): Promise<{ p50: number; p95: number; perSecond: number }> {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < rounds) {
        next += 1;
        const t = performance.now();
        await round(db, workspaceId, productId);
        times.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95), perSecond: rounds / seconds };
}

async function run(kind: 'postgres' | 'pglite'): Promise<string[]> {
  const testDatabase = kind === 'postgres' ? await createTestDatabase() : undefined;
  const db = await openDatabase(kind === 'postgres' ? { kind, url: testDatabase!.url } : { kind, dataDir: 'memory://' });
  try {
    const workspaceId = newId('ws');
    await db.prisma.workspace.create({ data: { id: workspaceId, name: 'Bench', workingHours: {} } });
    const productId = newId('prod');
    await db.prisma.product.create({ data: { id: productId, workspaceId, name: 'Solar' } });
    // PGlite is one connection: concurrent writers only queue.
    const concurrencies = kind === 'postgres' ? [1, writers] : [1];
    const lines: string[] = [];
    for (const concurrency of concurrencies) {
      const results: Record<'off' | 'on', { p50: number; p95: number; perSecond: number }[]> = { off: [], on: [] };
      await round(db, workspaceId, productId);
      for (let block = 0; block < blocks; block++) {
        for (const mode of ['off', 'on'] as const) {
          await setTriggers(db, mode === 'on');
          results[mode].push(await measure(db, workspaceId, productId, concurrency));
          process.stderr.write(`${kind}, ${concurrency} writer(s), triggers ${mode}, block ${block + 1}: ${JSON.stringify(results[mode].at(-1))}\n`);
        }
      }
      await setTriggers(db, true);
      const mean = (mode: 'off' | 'on', key: 'p50' | 'p95' | 'perSecond') => results[mode].reduce((sum, r) => sum + r[key], 0) / results[mode].length;
      lines.push(
        `| ${kind} | ${concurrency} | ${mean('off', 'p50').toFixed(1)} | ${mean('on', 'p50').toFixed(1)} | ${(mean('on', 'p50') / mean('off', 'p50')).toFixed(2)}× | ` +
          `${mean('off', 'perSecond').toFixed(0)} | ${mean('on', 'perSecond').toFixed(0)} | ${(mean('on', 'perSecond') / mean('off', 'perSecond')).toFixed(2)}× |`,
      );
    }
    return lines;
  } finally {
    await db.close();
    await testDatabase?.drop();
  }
}

const lines = [...(await run('postgres')), ...(await run('pglite'))];
process.stdout.write(
  [
    `Insight triggers on the write path: ${rounds} rounds per block, ${blocks} blocks per mode, alternating (${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)})`,
    '',
    '| database | writers | p50 ms, triggers off | p50 ms, on | p50 on ÷ off | rounds/s, off | rounds/s, on | rounds/s on ÷ off |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...lines,
    '',
  ].join('\n'),
);
