import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import pg from 'pg';
import type { Logger } from 'pino';
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
export async function openDatabase(database: Config['database'], logger?: Logger): Promise<Database> {
  const db = database.kind === 'pglite' ? await openPglite(database.dataDir) : openPostgres(database.url, logger);
  try {
    await applyMigrations(db.runner);
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
}

/**
 * PGlite is PostgreSQL inside this process: a second process opening the same directory would
 * corrupt it. A lock file with our pid keeps it to one; a lock left by a dead process is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  // Beside the directory, not in it: PGlite wants its directory to itself.
  const lockFile = `${path.resolve(dataDir)}.lock`;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(lockFile, 'utf8'));
      if (holder && holder !== process.pid && processAlive(holder)) {
        throw new DatabaseInUseError(
          `the embedded database in ${dataDir} is in use by process ${holder}; ` +
            'run one process per data directory, or set DATABASE_URL to share a PostgreSQL server',
        );
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(dataDir)), { recursive: true });
  const unlock = inMemory ? () => undefined : lockDataDir(dataDir);
  let pglite: PGlite;
  try {
    // pg_trgm backs the inbox's substring search over message text (see the migration).
    pglite = new PGlite(dataDir, { extensions: { pg_trgm } });
    await pglite.waitReady;
  } catch (error) {
    unlock();
    throw error;
  }
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
      unlock();
    },
  };
}

function openPostgres(url: string, logger?: Logger): Database {
  // JIT compilation off: it pays only for queries that run for many seconds, while compiling one
  // costs from hundreds of milliseconds to seconds, and the planner turns it on for reports (the
  // insights) whose estimates are high but which run in a fraction of that.
  const pool = new pg.Pool({ connectionString: url, max: 10, options: '-c jit=off' });
  // An idle connection the server closes (restart, failover) must not take the process down;
  // the pool replaces it on the next query.
  pool.on('error', (error) => logger?.warn({ err: error }, 'an idle PostgreSQL connection failed'));
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
