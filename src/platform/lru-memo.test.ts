import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lruMemo } from './lru-memo.ts';

describe('lruMemo', () => {
  it('computes an input once, keeps the inputs in use, and drops the least recently used', () => {
    const computed: string[] = [];
    const memo = lruMemo((s: string) => {
      computed.push(s);
      return { s };
    }, { maxEntries: 2, maxInputLength: 10 });
    const a = memo('a');
    assert.equal(memo('a'), a, 'the same result object');
    memo('b');
    memo('a'); // a is now the most recent
    memo('c'); // b goes
    memo('a');
    memo('b');
    assert.deepEqual(computed, ['a', 'b', 'c', 'b']);
  });

  it('never remembers a throw or an input over the length bound', () => {
    let calls = 0;
    const memo = lruMemo((s: string) => {
      calls++;
      if (s === 'bad') throw new Error('bad input');
      return s.length;
    }, { maxEntries: 10, maxInputLength: 3 });
    assert.throws(() => memo('bad'), /bad input/);
    assert.throws(() => memo('bad'), /bad input/);
    memo('long input');
    memo('long input');
    assert.equal(calls, 4);
  });
});
