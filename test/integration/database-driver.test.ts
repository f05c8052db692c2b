import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

const root = path.resolve(import.meta.dirname, '..', '..');

describe('the database driver', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database?.drop());

  it('runs the reads one transaction starts at once one after another, with nothing for pg to warn about', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/scripts/concurrent-transaction-reads.ts', database.url],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } },
    );
    expect(stdout.trim()).toBe('done');
    expect(stderr).not.toMatch(/DeprecationWarning/);
  });
});
