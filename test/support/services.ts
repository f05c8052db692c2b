import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase } from '../../src/db/client.js';

/** The PostgreSQL server the suite creates its databases on (trust auth on this machine and in CI). */
export const postgresAdminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A database for one test file, dropped afterwards. Inside the suite it starts as a copy of the
 * migrated template made in test/support/global-setup.ts (what a gateway has after its first
 * start; the gateway still checks the migrations when it opens it); `empty` gives one with nothing
 * applied, for tests about applying migrations, and so does a run outside vitest (a benchmark).
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const template = options.empty || !process.env.VITEST ? undefined : inject('postgresTemplate');
  return createDatabase(`lg_test_${randomBytes(6).toString('hex')}`, template);
}

/** A database with every migration and SQL function applied, for createTestDatabase to copy. */
export async function createMigratedTemplate(): Promise<TestDatabase & { name: string }> {
  const name = `lg_template_${randomBytes(6).toString('hex')}`;
  const database = await createDatabase(name);
  try {
    const opened = await openDatabase({ kind: 'postgres', url: database.url });
    await opened.close();
  } catch (error) {
    await database.drop();
    throw error;
  }
  return { ...database, name };
}

async function createDatabase(name: string, template?: string): Promise<TestDatabase> {
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: postgresAdminUrl });
      await client.connect();
      try {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await client.end();
      }
    },
  };
}
