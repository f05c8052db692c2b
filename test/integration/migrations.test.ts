import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/client.js';
import { applyMigrations, readMigrations, type SqlRunner } from '../../src/db/migrate.js';
import { applySqlFunctions } from '../../src/db/sql-functions.js';
import { furthestOnPath, funnelPath, stages } from '../../src/leads/stages.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

const run = promisify(execFile);

/**
 * An empty PGlite database, as `new PGlite()` makes it: loaded from the dump of one fresh from
 * initdb (test/support/global-setup.ts) instead of running initdb again, which takes seconds.
 */
async function emptyPglite(): Promise<PGlite> {
  const dump = new Blob([fs.readFileSync(inject('pgliteEmptyDump'))]);
  const pglite = new PGlite({ extensions: { pg_trgm }, loadDataDir: dump });
  await pglite.waitReady;
  return pglite;
}

function pgliteRunner(pglite: PGlite): SqlRunner {
  return {
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    query: async <Row>(sql: string, params: unknown[] = []) => (await pglite.query<Row>(sql, params)).rows,
    withLock: (fn) => fn(),
  };
}

/** Everything about the schema that a query could notice, in a stable order. */
async function describeSchema(runner: SqlRunner): Promise<unknown> {
  const columns = await runner.query(`
    SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, character_maximum_length, numeric_precision, numeric_scale, datetime_precision
    FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
    ORDER BY table_name, column_name`);
  const constraints = await runner.query(`
    SELECT conrelid::regclass::text AS table_name, conname, contype, pg_get_constraintdef(oid) AS definition
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations'
    ORDER BY 1, 2`);
  const indexes = await runner.query(`
    SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
    ORDER BY 1, 2`);
  return { columns, constraints, indexes };
}

/** The functions and triggers prisma/sql keeps, as the database holds them. */
async function describeFunctions(runner: SqlRunner): Promise<unknown> {
  const functions = await runner.query(`
    SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments, pg_get_functiondef(p.oid) AS definition
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1, 2`);
  const triggers = await runner.query(`
    SELECT tgrelid::regclass::text AS table_name, tgname, pg_get_triggerdef(oid) AS definition
    FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`);
  return { functions, triggers };
}

describe('migrations', () => {
  let database: TestDatabase | undefined;
  afterAll(async () => database?.drop());

  it('produce exactly the schema in prisma/schema.prisma', async () => {
    // What Prisma itself would create from the schema, from nothing (Prisma's CLI takes a few
    // seconds: the databases are made meanwhile).
    const [{ stdout: fromSchema }, expected, migrated] = await Promise.all([
      run('npx', ['prisma', 'migrate', 'diff', '--from-empty', '--to-schema-datamodel', 'prisma/schema.prisma', '--script'], { maxBuffer: 10 * 1024 * 1024 }),
      emptyPglite(),
      emptyPglite().then(async (pglite) => {
        await applyMigrations(pgliteRunner(pglite));
        return pglite;
      }),
    ]);
    await expected.exec(fromSchema);
    expect(await describeSchema(pgliteRunner(migrated))).toEqual(await describeSchema(pgliteRunner(expected)));
    await Promise.all([expected.close(), migrated.close()]);
  });

  it('apply to PostgreSQL the same schema as to PGlite, recorded as Prisma records them', async () => {
    database = await createTestDatabase({ empty: true });
    // A data directory that does not exist yet, as on a gateway's first start: the other tests
    // start from a copy of one migrated before the run.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-first-start-'));
    const [postgres, embedded] = await Promise.all([
      openDatabase({ kind: 'postgres', url: database.url }),
      openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'db') }),
    ]);
    try {
      expect(await describeSchema(postgres.runner)).toEqual(await describeSchema(embedded.runner));
      const recorded = await postgres.runner.query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
        'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
      );
      expect(recorded.map(({ migration_name, checksum, applied_steps_count }) => ({ migration_name, checksum, applied_steps_count }))).toEqual(
        readMigrations().map((m) => ({ migration_name: m.name, checksum: m.checksum, applied_steps_count: 1 })),
      );
      expect(recorded.every((row) => row.finished_at !== null)).toBe(true);
      // The functions and triggers of prisma/sql are the same on both.
      const functions = await describeFunctions(postgres.runner);
      expect(functions).toEqual(await describeFunctions(embedded.runner));
      expect(JSON.stringify(functions)).toContain('insight_counts_on_leads_inserted');
      // A second start applies no migration and leaves the functions as they were.
      expect(await applyMigrations(postgres.runner)).toEqual([]);
      await applySqlFunctions(postgres.runner);
      expect(await describeFunctions(postgres.runner)).toEqual(functions);
    } finally {
      await postgres.close();
      await embedded.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('mark the response windows written before as reopenings when they are not their lead\'s first', async () => {
    const pglite = await emptyPglite();
    const runner = pgliteRunner(pglite);
    const migrations = readMigrations();
    const added = migrations.findIndex((m) => m.name.endsWith('_response_window_reopening'));
    expect(added).toBeGreaterThan(0);
    await applyMigrations(runner, migrations.slice(0, added));
    await runner.exec(`
      INSERT INTO workspaces (id, name, "workingHours", "updatedAt") VALUES ('ws_1', 'Acme', '{}', now());
      INSERT INTO contacts (id, "workspaceId", "updatedAt") VALUES ('ct_1', 'ws_1', now()), ('ct_2', 'ws_1', now());
      INSERT INTO leads (id, "workspaceId", "contactId", channel, "createdAt", "updatedAt") VALUES
        ('lead_1', 'ws_1', 'ct_1', 'email', '2026-01-05T10:00:00Z', now()), ('lead_2', 'ws_1', 'ct_2', 'sms', '2026-01-06T10:00:00Z', now());
      INSERT INTO response_windows (id, "workspaceId", "leadId", channel, "openedAt", "dueAt") VALUES
        ('rw_b', 'ws_1', 'lead_1', 'email', '2026-01-05T10:00:00Z', '2026-01-05T10:15:00Z'),
        ('rw_a', 'ws_1', 'lead_1', 'email', '2026-01-09T10:00:00Z', '2026-01-09T10:15:00Z'),
        ('rw_c', 'ws_1', 'lead_1', 'email', '2026-01-12T10:00:00Z', '2026-01-12T10:15:00Z'),
        ('rw_d', 'ws_1', 'lead_2', 'sms', '2026-01-06T10:00:00Z', '2026-01-06T10:15:00Z');`);
    await applyMigrations(runner, migrations);
    expect(await runner.query(`SELECT id, reopening FROM response_windows ORDER BY id`)).toEqual([
      { id: 'rw_a', reopening: true },
      { id: 'rw_b', reopening: false },
      { id: 'rw_c', reopening: true },
      { id: 'rw_d', reopening: false },
    ]);
    await pglite.close();
  });

  it('give the sequence step messages written before their enrolment and step', async () => {
    const pglite = await emptyPglite();
    const runner = pgliteRunner(pglite);
    const migrations = readMigrations();
    const added = migrations.findIndex((m) => m.name.endsWith('_sequence_step_columns'));
    expect(added).toBeGreaterThan(0);
    await applyMigrations(runner, migrations.slice(0, added));
    await runner.exec(`
      INSERT INTO workspaces (id, name, "workingHours", "updatedAt") VALUES ('ws_1', 'Acme', '{}', now());
      INSERT INTO contacts (id, "workspaceId", "updatedAt") VALUES ('ct_1', 'ws_1', now());
      INSERT INTO leads (id, "workspaceId", "contactId", channel, "createdAt", "updatedAt") VALUES ('lead_1', 'ws_1', 'ct_1', 'email', now(), now());
      INSERT INTO messages (id, "workspaceId", "leadId", direction, channel, status, automatic, "idempotencyKey", "updatedAt") VALUES
        ('msg_1', 'ws_1', 'lead_1', 'out', 'email', 'sent', true, 'sequence:enr_1:2', now()),
        ('msg_2', 'ws_1', 'lead_1', 'out', 'email', 'sent', true, 'auto-reply:evt_1', now()),
        ('msg_3', 'ws_1', 'lead_1', 'out', 'email', 'sent', false, 'msg_3', now());`);
    await applyMigrations(runner, migrations);
    expect(await runner.query(`SELECT id, "sequenceEnrollmentId", "sequenceStep" FROM messages ORDER BY id`)).toEqual([
      { id: 'msg_1', sequenceEnrollmentId: 'enr_1', sequenceStep: 2 },
      { id: 'msg_2', sequenceEnrollmentId: null, sequenceStep: null },
      { id: 'msg_3', sequenceEnrollmentId: null, sequenceStep: null },
    ]);
    await pglite.close();
  });

  it('rank the stages in SQL as src/leads/stages.ts does', async () => {
    const pglite = await emptyPglite();
    const runner = pgliteRunner(pglite);
    await applyMigrations(runner);
    await applySqlFunctions(runner);
    const ranks = await runner.query<{ stage: string; rank: number | null }>(`SELECT s AS stage, funnel_rank(s) AS rank FROM unnest($1::text[]) s`, [[...stages]]);
    expect(ranks).toEqual(stages.map((stage) => ({ stage, rank: funnelPath.includes(stage) ? funnelPath.indexOf(stage) + 1 : null })));
    // Every set of stages a lead can have entered: the furthest on the main path is the same.
    const sets = Array.from({ length: 2 ** stages.length }, (_, bits) => stages.filter((_, i) => bits & (1 << i)));
    const furthest = await runner.query<{ i: number; furthest: string }>(
      `SELECT i::int, furthest_on_path(ARRAY(SELECT jsonb_array_elements_text(set))) AS furthest FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t (set, i) ORDER BY i`,
      [JSON.stringify(sets)],
    );
    expect(furthest.map((row) => row.furthest)).toEqual(sets.map((set) => furthestOnPath(set)));
    await pglite.close();
  });

  it('refuse to run over a migration that was edited after it was applied', async () => {
    const pglite = await emptyPglite();
    const runner = pgliteRunner(pglite);
    const migrations = readMigrations();
    await applyMigrations(runner, migrations);
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, checksum: 'f'.repeat(64) } : m));
    await expect(applyMigrations(runner, edited)).rejects.toThrow(/was changed after it was applied/);
    await pglite.close();
  });

  it('roll back a migration that fails halfway, leaving nothing recorded', async () => {
    const pglite = await emptyPglite();
    const runner = pgliteRunner(pglite);
    await applyMigrations(runner);
    const broken = { name: '99990101000000_broken', sql: 'CREATE TABLE half_done (id int);\nSELECT no_such_function();', checksum: '0'.repeat(64) };
    await expect(applyMigrations(runner, [...readMigrations(), broken])).rejects.toThrow(/99990101000000_broken failed/);
    const tables = await runner.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'half_done'`);
    expect(tables[0]!.n).toBe(0);
    const recorded = await runner.query<{ n: number }>(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = $1`, [broken.name]);
    expect(recorded[0]!.n).toBe(0);
    await pglite.close();
  });
});
