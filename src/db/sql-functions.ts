import fs from 'node:fs';
import path from 'node:path';
import { funnelPath } from '../leads/stages.js';
import { projectPath } from '../paths.js';
import type { SqlRunner } from './migrate.js';

/**
 * The database's functions and triggers (prisma/sql/*.sql) are not migrations: they are the code
 * that keeps derived columns and counts, read and changed like any other, and re-applied on every
 * start after the migrations with CREATE OR REPLACE. A migration changes tables; when a function's
 * arguments or result change (which CREATE OR REPLACE refuses), the migration drops the old one.
 */
export interface SqlFile {
  name: string;
  sql: string;
}

export function readSqlFiles(dir = projectPath('prisma', 'sql')): SqlFile[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: fs.readFileSync(path.join(dir, name), 'utf8') }));
}

/**
 * funnel_rank(stage): a stage's place on the main path (1 for "open"), NULL for a side road.
 * Written from funnelPath, so SQL and TypeScript rank the stages from one list.
 */
export function funnelRankSql(): string {
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const ranks = funnelPath.map((stage, index) => `WHEN ${quote(stage)} THEN ${index + 1}`).join(' ');
  return `CREATE OR REPLACE FUNCTION funnel_rank(stage text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE stage ${ranks} END $$;`;
}

/**
 * Applies the generated functions, then the files in name order (a SQL-language function must come
 * after those it calls), as one transaction: one query string of many statements is one
 * transaction. Under the migrations' lock, so processes starting together do not race.
 */
export async function applySqlFunctions(runner: SqlRunner, files = readSqlFiles()): Promise<void> {
  const sql = [funnelRankSql(), ...files.map((file) => `-- prisma/sql/${file.name}\n${file.sql}`)].join('\n;\n');
  await runner.withLock(() => runner.exec(sql));
}
