/**
 * What assignment adds to the processing of a new lead, in a workspace with 50 reps and 200
 * assignment rules where only the last rule matches (the worst case: every rule is tried). Each
 * round is one transaction, as in processing; the baseline is the same transaction with no rules,
 * where the fallback picks a rep in turn, measured in the same run on the same database.
 *
 *   npm run bench:assignment          BENCH_ROUNDS=300
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Database } from '../src/db/client.js';
import { openDatabase } from '../src/db/client.js';
import { newId } from '../src/ids.js';
import { chooseOwner } from '../src/leads/assignment.js';
import { createTestDatabase } from '../test/support/services.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 300);
const reps = 50;
const rules = 200;

async function seed(db: Database, withRules: boolean): Promise<{ workspaceId: string; productId: string }> {
  const prisma = db.prisma;
  const workspaceId = newId('ws');
  await prisma.workspace.create({ data: { id: workspaceId, name: 'Bench', workingHours: {} } });
  const users = Array.from({ length: reps }, (_, n) => ({
    id: newId('usr'),
    workspaceId,
    name: `Rep ${n}`,
    email: `rep${n}@bench.test`,
    role: 'rep',
    workingHours: { mon: [['00:00', '24:00']], tue: [['00:00', '24:00']], wed: [['00:00', '24:00']], thu: [['00:00', '24:00']], fri: [['00:00', '24:00']], sat: [['00:00', '24:00']], sun: [['00:00', '24:00']] },
  }));
  await prisma.user.createMany({ data: users });
  const productId = newId('prd');
  await prisma.product.create({ data: { id: productId, workspaceId, name: 'Wanted', keywords: [] } });
  if (withRules) {
    await prisma.assignmentRule.createMany({
      data: Array.from({ length: rules }, (_, n) => ({
        id: newId('rule'),
        workspaceId,
        name: `Rule ${n}`,
        priority: n,
        // Only the last rule names the product the bench's leads ask about.
        match: n === rules - 1 ? { productId } : { productId: `other-${n}` },
        strategy: (['round_robin', 'least_open', 'fixed'] as const)[n % 3],
        userIds: users.slice(n % 40, (n % 40) + 10).map((user) => user.id),
      })),
    });
  }
  return { workspaceId, productId };
}

async function measure(db: Database, withRules: boolean): Promise<number[]> {
  const { workspaceId, productId } = await seed(db, withRules);
  const facts = { sourceId: null, sourceOwnerId: null, productIds: [productId], productOwnerId: null, channel: 'webform', timeZone: 'America/Sao_Paulo' };
  const times: number[] = [];
  for (let round = 0; round < rounds + 20; round++) {
    const started = performance.now();
    const decision = await db.prisma.$transaction((tx) => chooseOwner(tx, workspaceId, facts));
    const elapsed = performance.now() - started;
    if (!decision.ownerId) throw new Error('nobody was assigned');
    if (withRules && decision.ruleId === null) throw new Error('the matching rule did not assign');
    if (round >= 20) times.push(elapsed);
  }
  return times;
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

async function run(label: string, db: Database): Promise<void> {
  const baseline = await measure(db, false);
  const withRules = await measure(db, true);
  const [b50, r50, r95] = [quantile(baseline, 0.5), quantile(withRules, 0.5), quantile(withRules, 0.95)];
  console.log(
    `${label}: ${reps} reps, ${rules} rules (last one matches): p50 ${r50.toFixed(2)} ms, p95 ${r95.toFixed(2)} ms per assignment; ` +
      `baseline without rules p50 ${b50.toFixed(2)} ms; rules add ${(r50 - b50).toFixed(2)} ms (${(r50 / b50).toFixed(2)}x)`,
  );
}

const database = await createTestDatabase();
const postgres = await openDatabase({ kind: 'postgres', url: database.url });
try {
  await run('PostgreSQL', postgres);
} finally {
  await postgres.close();
  await database.drop();
}
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-bench-'));
const pglite = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'db') });
try {
  await run('PGlite', pglite);
} finally {
  await pglite.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
