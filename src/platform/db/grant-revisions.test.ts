import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coalescing } from './grant-revisions.ts';
import { StoreTimeoutError } from './db-errors.ts';

/** A store whose revisions the test moves, and whose fetches answer only when the test says so. */
function fakeStore() {
  const revisions = new Map<string, number>();
  const fetches: { ids: string[]; answer: () => void; fail: (e: Error) => void }[] = [];
  const fetch = (ids: string[]) => {
    // What the fetch sees is fixed when it starts, as a database read's snapshot is.
    const seen = new Map(ids.map((id) => [id, revisions.get(id) ?? 0]));
    return new Promise<Map<string, number>>((resolve, reject) => {
      fetches.push({ ids, answer: () => resolve(seen), fail: reject });
    });
  };
  return { revisions, fetches, fetch };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('grant revision reads share fetches, one under way at a time', () => {
  it('a read asked while a fetch is under way waits for the next one, which sees what committed before it was asked', async () => {
    const store = fakeStore();
    const reader = coalescing(store.fetch);
    store.revisions.set('a', 1);
    const first = reader.current('a');
    await turn();
    assert.equal(store.fetches.length, 1);
    // A change acknowledged now, then a read: the fetch under way started before it and must not answer it.
    store.revisions.set('a', 2);
    const second = reader.current('a');
    await turn();
    assert.equal(store.fetches.length, 1, 'no second fetch while one is under way');
    store.fetches[0]!.answer();
    assert.equal(await first, 1);
    await turn();
    assert.equal(store.fetches.length, 2, 'the next fetch starts once the last one answered');
    store.fetches[1]!.answer();
    assert.equal(await second, 2);
  });

  it('everything asked during one fetch shares the next: two fetches for 1 + 200 reads of three accounts', async () => {
    const store = fakeStore();
    const reader = coalescing(store.fetch);
    store.revisions.set('a', 5).set('b', 7);
    const first = reader.current('a');
    await turn();
    const later: Promise<number>[] = [];
    for (let i = 0; i < 200; i++) {
      later.push(reader.current(['a', 'b', 'c'][i % 3]!));
      if (i % 50 === 0) await turn();
    }
    store.fetches[0]!.answer();
    await first;
    await turn();
    assert.equal(store.fetches.length, 2);
    assert.deepEqual([...store.fetches[1]!.ids].sort(), ['a', 'b', 'c']);
    store.fetches[1]!.answer();
    const answers = await Promise.all(later);
    assert.deepEqual(answers.slice(0, 3), [5, 7, 0]);
    assert.equal(answers.filter((r) => r === 7).length, 67);
  });

  it('a failed fetch fails its own reads only; reads asked meanwhile get the next fetch', async () => {
    const store = fakeStore();
    const reader = coalescing(store.fetch);
    store.revisions.set('a', 3);
    const failing = reader.current('a');
    await turn();
    const next = reader.current('a');
    store.fetches[0]!.fail(new Error('connection lost'));
    await assert.rejects(failing, /connection lost/);
    await turn();
    assert.equal(store.fetches.length, 2);
    store.fetches[1]!.answer();
    assert.equal(await next, 3);
  });

  it('a fetch that never answers fails its reads at the bound; the next read gets a fresh fetch, and the late answer is dropped', async () => {
    const store = fakeStore();
    const reader = coalescing(store.fetch, 50);
    store.revisions.set('a', 1);
    const silent = reader.current('a');
    await turn();
    const next = reader.current('a');
    await assert.rejects(silent, StoreTimeoutError);
    await turn();
    assert.equal(store.fetches.length, 2, 'a new fetch once the silent one was given up');
    store.revisions.set('a', 2);
    store.fetches[0]!.answer();
    store.fetches[1]!.answer();
    assert.equal(await next, 1, 'the second fetch started before the change: it answers what it saw');
    const third = reader.current('a');
    await turn();
    store.fetches[2]!.answer();
    assert.equal(await third, 2);
  });
});
