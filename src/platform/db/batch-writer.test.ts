import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBatchWriter } from './batch-writer.ts';

describe('batch writer (group commit)', () => {
  it('writes what is submitted in one turn in one call, and resolves after it', async () => {
    const calls: number[][] = [];
    let written = false;
    const w = createBatchWriter<number>(async (items) => {
      calls.push(items);
      await new Promise((r) => setTimeout(r, 5));
      written = true;
    });
    const done = Promise.all([1, 2, 3].map((i) => w.submit(i)));
    assert.equal(written, false);
    await done;
    assert.equal(written, true);
    assert.deepEqual(calls, [[1, 2, 3]]);
  });

  it('caps a batch, and keeps writing what arrives during a write', async () => {
    const calls: number[][] = [];
    const w = createBatchWriter<number>(async (items) => void calls.push(items), { maxBatch: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((i) => w.submit(i)));
    assert.deepEqual(calls, [[1, 2], [3, 4], [5]]);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const w = createBatchWriter<number>(async (items) => {
      if (items.includes(13)) throw new Error('bad item');
    });
    const results = await Promise.allSettled([12, 13, 14].map((i) => w.submit(i)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  });
});
