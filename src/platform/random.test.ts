import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cryptoRandom, publicRandomBytes, recordId } from './random.ts';

describe('random values', () => {
  it('a record id is 32 hex digits: the millisecond, then 80 random bits', () => {
    const at = Date.UTC(2026, 10, 28, 12, 0, 0, 123);
    const id = recordId(at);
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(parseInt(id.slice(0, 12), 16), at);
    assert.notEqual(recordId(at).slice(12), recordId(at).slice(12), 'the random part differs within one millisecond');
  });

  it('record ids sort by the time they were made, so the store appends them', () => {
    const ids = [recordId(1_000), recordId(1_001), recordId(2 ** 40), recordId(2 ** 47 - 1)];
    assert.deepEqual([...ids].sort(), ids);
    assert.match(cryptoRandom.recordId(), /^[0-9a-f]{32}$/);
  });

  it('pooled bytes are never handed out twice, across refills of the pool', () => {
    const seen = new Set<string>();
    // 4 KiB pool: 300 draws of 32 bytes cross two refills.
    for (let i = 0; i < 300; i++) {
      const b = publicRandomBytes(32);
      assert.equal(b.length, 32);
      seen.add(b.toString('hex'));
    }
    assert.equal(seen.size, 300);
    const a = publicRandomBytes(8);
    a.fill(0);
    assert.notDeepEqual(publicRandomBytes(8), a, 'what a caller does with its bytes does not reach the pool');
    assert.equal(publicRandomBytes(4096).length, 4096, 'a draw larger than the pool is its own');
  });
});
