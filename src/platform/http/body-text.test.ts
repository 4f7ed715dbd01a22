import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_BODY_DEPTH, unsafeBodyText } from './body-text.ts';

describe('text at the edge: every string and key of a JSON body', () => {
  it('refuses NUL, C0 and C1 controls, DEL and unpaired surrogates anywhere, naming the field', () => {
    const bad = ['\u0000', '\u0001', '\u0007', '\u0008', '\u000b', '\u000c', '\u001b[31m', '\u001f', '\u007f', '\u0080', '\u009b', '\ud800', 'a\udfffb', '\udc00\ud800'];
    for (const c of bad) {
      assert.deepEqual(unsafeBodyText({ name: `x${c}` })?.pointer, '/name', JSON.stringify(c));
      assert.equal(unsafeBodyText({ config: { claims: [`ok`, `x${c}`] } })?.pointer, '/config/claims/1', JSON.stringify(c));
      assert.equal(unsafeBodyText({ [`k${c}`]: 1 })?.pointer, '/', JSON.stringify(c));
      assert.equal(unsafeBodyText(`x${c}`)?.pointer, '/', JSON.stringify(c));
    }
    assert.equal(unsafeBodyText({ 'a/b~c': { x: '\u0000' } })?.pointer, '/a~1b~0c/x');
  });

  it('takes ordinary text: tab, newline, accents, CJK, emoji, numbers, booleans', () => {
    for (const ok of [{ public_key: 'ssh-ed25519 AAAA me@laptop\n' }, { name: 'Серверы 🚀 "prod"\t東京' }, [1, true, null, { a: [] }], 'x']) {
      assert.equal(unsafeBodyText(ok), null, JSON.stringify(ok));
    }
  });

  it('refuses nesting past the bound without recursing', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.match(unsafeBodyText(deep)!.reason, new RegExp(`deeper than ${MAX_BODY_DEPTH}`));
    let fine: unknown = 'leaf';
    for (let i = 0; i < MAX_BODY_DEPTH; i++) fine = { a: fine };
    assert.equal(unsafeBodyText(fine), null);
  });
});
