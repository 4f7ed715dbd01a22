import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createTokenPeeks } from './token-peeks.ts';
import { TokenRejected } from '../identity-providers/jwt-verifier.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const token = (claims: Record<string, unknown>, alg = 'ES256') => `${b64({ alg, typ: 'JWT' })}.${b64(claims)}.${'s'.repeat(86)}`;

describe('token peeks', () => {
  it('reads issuer, audiences and the digest; the same token again is answered from memory', () => {
    const peeks = createTokenPeeks();
    const jwt = token({ iss: 'https://idp.example.com', aud: ['a', 7, 'b'] });
    const first = peeks.peek(jwt);
    assert.equal(first.iss, 'https://idp.example.com');
    assert.deepEqual(first.auds, ['a', 'b']);
    assert.equal(first.digest, createHash('sha256').update(jwt).digest('base64url'));
    assert.equal(peeks.peek(`${jwt}`), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.auds), 'what is shared between requests cannot be changed by one');
    assert.deepEqual(peeks.peek(token({ aud: 'x', iss: 5 })), { iss: undefined, auds: ['x'], digest: peeks.peek(token({ aud: 'x', iss: 5 })).digest });
  });

  it('refuses malformed tokens and algorithms it does not accept, every time', () => {
    const peeks = createTokenPeeks();
    for (const bad of ['nope', 'a.b.c', token({ aud: 'x' }, 'none'), token({ aud: 'x' }, 'HS256')]) {
      assert.throws(() => peeks.peek(bad), TokenRejected);
      assert.throws(() => peeks.peek(bad), TokenRejected);
    }
  });

  it('is bounded: oldest out, and long tokens are peeked but never kept', () => {
    const peeks = createTokenPeeks({ maxEntries: 2, maxTokenLength: 400 });
    const [a, b, c] = ['a', 'b', 'c'].map((aud) => token({ aud }));
    const pa = peeks.peek(a!);
    peeks.peek(b!);
    peeks.peek(c!);
    assert.notEqual(peeks.peek(a!), pa, 'the least recently used was dropped');
    // A token in use stays: b is used again, then d arrives; a (not b) goes.
    const pb = peeks.peek(b!);
    peeks.peek(token({ aud: 'd' }));
    assert.equal(peeks.peek(b!), pb);
    const long = token({ aud: 'x', pad: 'p'.repeat(500) });
    const pl = peeks.peek(long);
    assert.deepEqual(pl.auds, ['x']);
    assert.notEqual(peeks.peek(long), pl);
  });
});
