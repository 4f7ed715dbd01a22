import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pageOffset, pageRequest, resultInfo } from './pagination.ts';

describe('pagination', () => {
  it('defaults to page 1 of 100 and computes offsets and result_info', () => {
    assert.deepEqual(pageRequest({}), { page: 1, perPage: 100 });
    const p = pageRequest({ page: '3', per_page: '20' });
    assert.equal(pageOffset(p), 40);
    assert.deepEqual(resultInfo(p, 5, 45), { page: 3, per_page: 20, count: 5, total_count: 45, total_pages: 3 });
    assert.deepEqual(resultInfo(pageRequest({}), 0, 0), { page: 1, per_page: 100, count: 0, total_count: 0, total_pages: 0 });
  });

  it('refuses what is not a page', () => {
    for (const q of [{ page: '0' }, { per_page: '1001' }, { page: '1e3' }, { page: ' 1' }, { per_page: '-5' }, { page: '9'.repeat(12) }]) {
      assert.throws(() => pageRequest(q), (e: { code?: number }) => e.code === 12130, JSON.stringify(q));
    }
  });
});
