import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { build } from 'esbuild';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/client.js';
import { createMigratedTemplate, postgresAdminUrl, redisUrl } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PGlite data directory with every migration applied: copied into a test's data directory. */
    pgliteTemplate: string;
    /** A dump (tar) of a PGlite data directory fresh from initdb, with nothing applied. */
    pgliteEmptyDump: string;
    /** A PostgreSQL database with every migration applied: each test database is created from it. */
    postgresTemplate: string;
    /** src/ and adapters/ compiled to JavaScript, for the gateway processes tests start (process.ts). */
    compiledGateway: string;
  }
}

/**
 * The suite runs against a real PostgreSQL and a real Redis. When either is missing the run
 * fails here, at once and by name, instead of skipping what needs it.
 *
 * Creating a PGlite database runs initdb, which takes seconds; opening an existing one does not.
 * So the database is created and migrated once here, and each test starts from a copy of it
 * (`seedEmbeddedDatabase` in stack.ts). Tests that are about creating or migrating a database
 * (test/integration/migrations.test.ts) start from nothing.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  await Promise.all([checkPostgres(), checkRedis()]);
  buildWebPageIfStale();
  project.provide('compiledGateway', await compileGateway());
  // Only then: PGlite's runtime, once loaded in this process, would set its exit code back to 0
  // after vitest had set it to 1 for the failure above.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-template-'));
  let postgresTemplate: Awaited<ReturnType<typeof createMigratedTemplate>> | undefined;
  try {
    const [{ template, emptyDump }, migrated] = await Promise.all([buildTemplates(root), createMigratedTemplate()]);
    postgresTemplate = migrated;
    project.provide('pgliteTemplate', template);
    project.provide('pgliteEmptyDump', emptyDump);
    project.provide('postgresTemplate', migrated.name);
  } catch (error) {
    fs.rmSync(root, { recursive: true, force: true });
    await postgresTemplate?.drop();
    throw error;
  }
  return async () => {
    fs.rmSync(root, { recursive: true, force: true });
    await postgresTemplate?.drop();
  };
}

/**
 * src/ and adapters/ compiled file by file with esbuild (what tsx does to each module as it loads),
 * into node_modules/.cache so that packages and the project root (package.json) are found from
 * there as from the sources. Takes about a second; each gateway process started from it saves one.
 */
async function compileGateway(): Promise<string> {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const out = path.join(root, 'node_modules', '.cache', 'leadgate-gateway');
  fs.rmSync(out, { recursive: true, force: true });
  const sources = ['src', 'adapters'].flatMap((dir) =>
    fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' }).map((file) => path.join(dir, file)),
  );
  await build({
    entryPoints: sources.filter((file) => file.endsWith('.ts')).map((file) => path.join(root, file)),
    outdir: out,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    tsconfig: path.join(root, 'tsconfig.json'),
    logLevel: 'error',
  });
  // Plain JavaScript modules (the embedded database's thread) are copied as they are.
  for (const file of sources.filter((name) => name.endsWith('.mjs'))) fs.cpSync(path.join(root, file), path.join(out, file));
  return out;
}

/**
 * The inbox page the gateways serve (web/dist), built once for the whole run when its sources are
 * newer than it. Built by each browser test file instead, one file's build emptied web/dist while
 * another file's page was loading it.
 */
function buildWebPageIfStale(): void {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const built = path.join(root, 'web', 'dist', 'index.html');
  const newest = (dir: string): number =>
    fs.readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'dist' || entry.name === 'node_modules' ? latest : Math.max(latest, newest(full));
      return Math.max(latest, fs.statSync(full).mtimeMs);
    }, 0);
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest(path.join(root, 'web'))) return;
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'error'], { cwd: root, stdio: 'inherit' });
}

async function buildTemplates(root: string): Promise<{ template: string; emptyDump: string }> {
  const empty = new PGlite({ extensions: { pg_trgm } });
  const dump = await empty.dumpDataDir('none');
  await empty.close();
  const emptyDump = path.join(root, 'empty.tar');
  fs.writeFileSync(emptyDump, Buffer.from(await dump.arrayBuffer()));
  const template = path.join(root, 'migrated');
  const db = await openDatabase({ kind: 'pglite', dataDir: template });
  await db.close();
  return { template, emptyDump };
}

async function checkPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`PostgreSQL is required for the tests and does not answer at ${postgresAdminUrl} (set TEST_DATABASE_URL): ${String(error)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function checkRedis(): Promise<void> {
  const { hostname, port } = new URL(redisUrl);
  const pong = await new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) }, () => socket.write('PING\r\n'));
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out')));
    socket.once('data', (data) => {
      socket.end();
      resolve(data.toString());
    });
    socket.once('error', reject);
  }).catch((error: unknown) => {
    throw new Error(`Redis is required for the tests and does not answer at ${redisUrl} (set TEST_REDIS_URL): ${String(error)}`);
  });
  if (!pong.startsWith('+PONG')) throw new Error(`Redis at ${redisUrl} answered PING with ${pong.trim()}`);
}
