import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createSqliteAppendWriter, type AppendWriter } from './sqlite-append-writer.ts';

/**
 * A stand-in for the writer thread that speaks its protocol: each message is one commit, answered after
 * 30 ms (so the next inserts arrive while it is in flight); a row for the table "die" ends the thread.
 */
const FAKE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (message) => {
  const batch = JSON.parse(message);
  if (batch.some((r) => r.rows.some((x) => x.table === 'die'))) process.exit(3);
  setTimeout(() => parentPort.postMessage({ ids: batch.map((r) => r.id), failed: [], commit: { size: batch.length, seconds: 0.03 } }), 30);
});`;

/** Every stand-in thread made, ended after each test whatever its outcome. */
const threads: Worker[] = [];

function fakeWriter(): { writer: AppendWriter; commits: number[]; spawned: () => number } {
  const commits: number[] = [];
  let spawned = 0;
  const writer = createSqliteAppendWriter('unused', new SharedArrayBuffer(4), {
    spawn: () => {
      spawned++;
      const w = new Worker(FAKE, { eval: true });
      threads.push(w);
      return w;
    },
  });
  writer.observe((size) => commits.push(size));
  return { writer, commits, spawned: () => spawned };
}

const row = (table = 'audit_events') => [{ table, row: { id: 'x' } }];
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('SQLite append writer (the main thread\'s side)', () => {
  // A regression that leaves a write waiting fails its test instead of holding the run open.
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((w) => w.terminate()));
  });

  it('keeps one commit in flight: what arrives meanwhile, over several turns, goes as the next commit', async () => {
    const { writer, commits } = fakeWriter();
    const first = writer.insert(row());
    await nextTurn();
    await nextTurn();
    const later = [writer.insert(row())];
    await nextTurn();
    later.push(writer.insert(row()));
    await nextTurn();
    later.push(writer.insert(row()));
    await Promise.all([first, ...later]);
    assert.deepEqual(commits, [1, 3]);
    await writer.close();
  });

  it('a thread that dies fails its writes, those waiting behind its commit too; the next write starts a new one', async () => {
    const { writer, spawned } = fakeWriter();
    const doomed = writer.insert(row('die'));
    await nextTurn();
    await nextTurn();
    const waiting = [writer.insert(row()), writer.insert(row())];
    for (const p of [doomed, ...waiting]) await assert.rejects(p, (e: { code?: string }) => e.code === 'WRITER_STOPPED');
    const after = await Promise.race([writer.insert(row()).then(() => 'written'), new Promise((r) => setTimeout(() => r('stuck'), 2_000))]);
    assert.equal(after, 'written');
    assert.equal(spawned(), 2);
    await writer.close();
  });
});
