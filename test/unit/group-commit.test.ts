import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/capture/group-commit.js';

describe('group commit', () => {
  it('writes requests that arrive together as one batch, and answers each with its own result', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number, string>(
      async (items) => {
        batches.push(items);
        return items.map((n) => `done ${n}`);
      },
      { maxBatch: 100, maxConcurrentBatches: 1 },
    );
    const results = await Promise.all([1, 2, 3].map((n) => commit.submit(n)));
    expect(results).toEqual(['done 1', 'done 2', 'done 3']);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('queues what arrives during a write for the next batch, never more than maxBatch at once', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const commit = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await firstWrite;
        return items;
      },
      { maxBatch: 2, maxConcurrentBatches: 1 },
    );
    const first = commit.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = [2, 3, 4, 5].map((n) => commit.submit(n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('fails every request of a failed batch, and keeps serving later ones', async () => {
    let fail = true;
    const commit = new GroupCommit<number, number>(
      async (items) => {
        if (fail) throw new Error('database down');
        return items;
      },
      { maxBatch: 10, maxConcurrentBatches: 1 },
    );
    const failed = await Promise.allSettled([commit.submit(1), commit.submit(2)]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await commit.submit(3)).toBe(3);
  });

  it('writes each request of a failed batch again on its own, so only the one the database refuses fails', async () => {
    const batches: number[][] = [];
    const commit = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        if (items.includes(13)) throw new Error('invalid byte sequence');
        return items;
      },
      { maxBatch: 10, maxConcurrentBatches: 1 },
    );
    const results = await Promise.allSettled([12, 13, 14].map((n) => commit.submit(n)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([12, 'rejected', 14]);
    expect(batches).toEqual([[12, 13, 14], [12], [13], [14]]);
  });
});
