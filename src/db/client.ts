import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import pg from 'pg';
import type { Config } from '../config.js';
import { applyMigrations, type SqlRunner } from './migrate.js';
import { pgliteAdapter } from './pglite-adapter.js';

export type Db = PrismaClient;

export interface Database {
  prisma: PrismaClient;
  kind: 'pglite' | 'postgres';
  /** Runs raw SQL outside Prisma: migrations and health checks. */
  runner: SqlRunner;
  close(): Promise<void>;
}

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(database: Config['database']): Promise<Database> {
  const db = database.kind === 'pglite' ? await openPglite(database.dataDir) : openPostgres(database.url);
  try {
    await applyMigrations(db.runner);
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  if (!dataDir.startsWith('memory://')) fs.mkdirSync(dataDir, { recursive: true });
  const pglite = new PGlite(dataDir);
  await pglite.waitReady;
  const prisma = new PrismaClient({ adapter: pgliteAdapter(pglite) });
  return {
    prisma,
    kind: 'pglite',
    runner: {
      exec: async (sql) => {
        await pglite.exec(sql);
      },
      query: async <Row>(sql: string, params: unknown[] = []) => (await pglite.query<Row>(sql, params)).rows,
      // PGlite is one connection in this process: there is no one else to lock out.
      withLock: (fn) => fn(),
    },
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
    },
  };
}

function openPostgres(url: string): Database {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    kind: 'postgres',
    runner: {
      exec: async (sql) => {
        await pool.query(sql);
      },
      query: async <Row>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as Row[],
      withLock: async (fn) => {
        const client = await pool.connect();
        try {
          // The same advisory lock key `prisma migrate` takes, so both never run at once.
          await client.query('SELECT pg_advisory_lock(72707369)');
          return await fn();
        } finally {
          await client.query('SELECT pg_advisory_unlock(72707369)').catch(() => undefined);
          client.release();
        }
      },
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
