import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { legendre25519 } from './jacobi-25519.ts';

const P = 2n ** 255n - 19n;

/** Euler's criterion: the definition, slow and plainly right. */
function euler(a: bigint): number {
  let result = 1n;
  let b = a % P;
  for (let e = (P - 1n) / 2n; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result === 0n ? 0 : result === 1n ? 1 : -1;
}

describe('the Legendre symbol modulo 2^255 − 19', () => {
  it('agrees with Euler\'s criterion on edge values', () => {
    for (const a of [0n, 1n, 2n, 3n, 4n, 19n, 2n ** 26n - 1n, 2n ** 26n, 2n ** 52n, 2n ** 254n, P - 1n, P - 2n, (P - 1n) / 2n, 486662n]) {
      assert.equal(legendre25519(a), euler(a), `a = ${a}`);
    }
  });

  it('agrees with Euler\'s criterion on squares, non-squares and random values', () => {
    const seen = { square: 0, nonSquare: 0 };
    for (let i = 0; i < 300; i++) {
      const r = BigInt(`0x${randomBytes(32).toString('hex')}`) % P;
      const sq = (r * r) % P;
      assert.equal(legendre25519(sq), sq === 0n ? 0 : 1, `square of ${r}`);
      const expected = euler(r);
      assert.equal(legendre25519(r), expected, `a = ${r}`);
      if (expected === 1) seen.square++;
      if (expected === -1) seen.nonSquare++;
      // 2 is a non-square mod p (p ≡ 5 mod 8), so 2·r² is one too.
      if (sq !== 0n) assert.equal(legendre25519((2n * sq) % P), -1);
    }
    assert.ok(seen.square > 100 && seen.nonSquare > 100, JSON.stringify(seen));
  });

  it('refuses values outside [0, p) instead of answering for a truncated one', () => {
    for (const bad of [-1n, P, P + 1n, 2n ** 260n + 4n]) assert.throws(() => legendre25519(bad), RangeError);
  });
});
