/**
 * Writes the next migration offline: the SQL that takes the schema as last committed to the
 * schema in the working tree. `npm run migration:new -- add_follow_ups`
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: npm run migration:new -- <name_in_snake_case>');
  process.exit(1);
}
const previous = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'leadgate-schema-')), 'schema.prisma');
fs.writeFileSync(previous, execFileSync('git', ['show', 'HEAD:prisma/schema.prisma']));
const sql = execFileSync(
  'npx',
  ['prisma', 'migrate', 'diff', '--from-schema-datamodel', previous, '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
  { encoding: 'utf8' },
);
if (!/\b(CREATE|ALTER|DROP)\b/.test(sql)) {
  console.error('prisma/schema.prisma has no changes since the last commit; nothing to write');
  process.exit(1);
}
const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const dir = path.join('prisma', 'migrations', `${stamp}_${name}`);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'migration.sql'), sql);
console.log(`wrote ${dir}/migration.sql`);
