import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { DatabaseAvailability } from './availability.js';
import { applyMigrations, type SqlRunner } from './migrate.js';
import type { PgliteThreadData, PgliteThreadMessage } from './pglite-thread-protocol.js';
import { SerialClient } from './serial-client.js';
import { applySqlFunctions } from './sql-functions.js';

export type Db = PrismaClient;

export interface Database {
  prisma: PrismaClient;
  kind: 'pglite' | 'postgres';
  /** Runs raw SQL outside Prisma: migrations and health checks. */
  runner: SqlRunner;
  /** The driver's pool, shared with Prisma: plain SQL transactions on the hot paths take a client from it. */
  pool: pg.Pool;
  /** Whether the database answers; an outage is logged once, not per failing request. */
  availability: DatabaseAvailability;
  close(): Promise<void>;
}

/** Opens the configured database and brings its schema, then its functions and triggers, up to date. */
export async function openDatabase(database: Config['database'], logger?: Logger): Promise<Database> {
  const db = database.kind === 'pglite' ? await openPglite(database.dataDir, logger) : openPostgres(database.url, logger);
  try {
    await applyMigrations(db.runner);
    await applySqlFunctions(db.runner);
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

/**
 * PGlite runs in a thread of its own (src/db/pglite-thread.mjs) and is reached over the
 * PostgreSQL protocol on a private Unix socket: SQL never runs on the thread that answers HTTP,
 * and the rest of the gateway talks to it exactly as it talks to a PostgreSQL server.
 */
async function openPglite(dataDir: string, logger?: Logger): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(dataDir)), { recursive: true });
  const unlock = inMemory ? () => undefined : lockDataDir(dataDir);
  removeSocketDirsOfDeadProcesses();
  // mkdtemp makes the directory readable by this user only: nobody else can reach the socket.
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), `leadgate-db-${process.pid}-`));
  const cleanUp = () => {
    fs.rmSync(socketDir, { recursive: true, force: true });
    unlock();
  };
  let thread: Worker;
  try {
    thread = await startPgliteThread({
      dataDir: inMemory ? dataDir : path.resolve(dataDir),
      socketPath: path.join(socketDir, '.s.PGSQL.5432'),
      maxConnections: pgliteConnections + 1,
    });
  } catch (error) {
    cleanUp();
    throw error;
  }
  // One connection: PGlite is one PostgreSQL backend, and the socket server hands it the protocol
  // messages of all its connections in turn, so two connections' statements could interleave in
  // one session. Queries wait for the connection in the pool's order instead: a capture that
  // arrives during a batch goes before the next batch.
  const pool = new pg.Pool({ host: socketDir, user: 'postgres', database: 'postgres', max: pgliteConnections, Client: SerialClient });
  const availability = new DatabaseAvailability(logger, { socketPath: path.join(socketDir, '.s.PGSQL.5432') }, async () => {
    await pool.query('SELECT 1');
  });
  pool.on('error', (error) => {
    if (!availability.noteError(error)) logger?.warn({ err: error }, 'an idle connection to the embedded database failed');
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    kind: 'pglite',
    pool,
    availability,
    runner: {
      exec: async (sql) => {
        await pool.query(sql);
      },
      query: async <Row>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as Row[],
      // One process owns the data directory (the lock file): there is no one else to lock out.
      withLock: (fn) => fn(),
    },
    close: async () => {
      availability.close();
      await prisma.$disconnect();
      await pool.end();
      await stopPgliteThread(thread);
      cleanUp();
    },
  };
}

const pgliteConnections = 1;

/** A process killed outright leaves its socket's directory behind; the next start clears it. */
function removeSocketDirsOfDeadProcesses(): void {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const pid = Number(/^leadgate-db-(\d+)-/.exec(entry)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
}

function startPgliteThread(data: PgliteThreadData): Promise<Worker> {
  return new Promise((resolve, reject) => {
    // No execArgv: a thread inherits the process's by default, and with it `--import tsx`, a
    // TypeScript loader this plain JavaScript thread does not need and would pay for at each start.
    const thread = new Worker(new URL('./pglite-thread.mjs', import.meta.url), { workerData: data, execArgv: [] });
    const fail = (error: Error) => {
      void thread.terminate();
      reject(error);
    };
    thread.once('error', fail);
    thread.once('exit', (code) => fail(new Error(`the embedded database stopped while starting (exit code ${code})`)));
    thread.once('message', (message: PgliteThreadMessage) => {
      thread.removeAllListeners('exit');
      thread.removeAllListeners('error');
      if (message.type === 'ready') resolve(thread);
      else fail(new Error(`the embedded database could not start: ${message.type === 'failed' ? message.message : message.type}`));
    });
  });
}

async function stopPgliteThread(thread: Worker): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    thread.once('message', (message: PgliteThreadMessage) => message.type === 'closed' && resolve());
    thread.once('exit', () => resolve());
  });
  thread.postMessage('close');
  await closed;
  await thread.terminate();
}

function openPostgres(url: string, logger?: Logger): Database {
  // JIT compilation off: it pays only for queries that run for many seconds, while compiling one
  // costs from hundreds of milliseconds to seconds, and the planner turns it on for reports (the
  // insights) whose estimates are high but which run in a fraction of that.
  const pool = new pg.Pool({ connectionString: url, max: 10, options: '-c jit=off', Client: SerialClient });
  // An idle connection the server closes (restart, failover) must not take the process down;
  // the pool replaces it on the next query.
  // A server that goes away fails every idle connection at once: one outage, logged once.
  const availability = new DatabaseAvailability(logger, { port: Number(new URL(url).port || 5432) }, async () => {
    await pool.query('SELECT 1');
  });
  pool.on('error', (error) => {
    if (!availability.noteError(error)) logger?.warn({ err: error }, 'an idle PostgreSQL connection failed');
  });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    kind: 'postgres',
    pool,
    availability,
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
      availability.close();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
