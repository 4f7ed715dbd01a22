import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthFailureLimiter } from './auth-failure-limiter.ts';

/** A limiter on a clock the test moves. */
function limiterAt(perMinute: number) {
  let now = Date.parse('2026-11-27T12:00:00Z');
  return { limiter: createAuthFailureLimiter(perMinute, { now: () => new Date(now) }), pass: (ms: number) => { now += ms; } };
}

describe('auth failure limiter: the RateLimit fields it gives', () => {
  it('a 429 carries retry-after and Ratelimit t as the same whole seconds until one more failure is allowed', () => {
    const { limiter, pass } = limiterAt(3);
    for (let i = 0; i < 3; i++) assert.equal(limiter.fail('192.0.2.1'), null);
    const limited = limiter.fail('192.0.2.1')!;
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.headers, { 'retry-after': '20', ratelimit: '"failures";r=0;t=20', 'ratelimit-policy': '"failures";q=3;w=60' });
    pass(5_500);
    assert.deepEqual(limiter.fail('192.0.2.1')!.headers, { 'retry-after': '15', ratelimit: '"failures";r=0;t=15', 'ratelimit-policy': '"failures";q=3;w=60' }, 'rounded up, and a refused retry does not push it back');
    pass(14_500);
    assert.equal(limiter.fail('192.0.2.1'), null, 'at retry-after one more failure is allowed');
  });

  it('the default allowance (60 a minute) keeps retry-after at 1 s', () => {
    const { limiter } = limiterAt(60);
    for (let i = 0; i < 60; i++) limiter.fail('192.0.2.1');
    assert.equal(limiter.fail('192.0.2.1')!.headers['retry-after'], '1');
  });

  it('allowance: what is left of the client\'s own bucket, with the time until one more', () => {
    const { limiter, pass } = limiterAt(3);
    assert.deepEqual(limiter.allowance('192.0.2.1'), { ratelimit: '"failures";r=3', 'ratelimit-policy': '"failures";q=3;w=60' }, 'full: no reset time');
    limiter.fail('192.0.2.1');
    assert.deepEqual(limiter.allowance('192.0.2.1'), { ratelimit: '"failures";r=2;t=20', 'ratelimit-policy': '"failures";q=3;w=60' });
    limiter.fail('192.0.2.1');
    pass(15_000);
    assert.equal(limiter.allowance('192.0.2.1').ratelimit, '"failures";r=1;t=5', '1.75 left: 5 s until 2');
    pass(5_000);
    assert.equal(limiter.allowance('192.0.2.1').ratelimit, '"failures";r=2;t=20');
    assert.equal(limiter.allowance('::ffff:192.0.2.1').ratelimit, '"failures";r=2;t=20', 'the same client mapped into IPv6');
  });

  it('allowance never tells of another client or of a credential\'s bucket', () => {
    const { limiter } = limiterAt(3);
    for (let i = 0; i < 3; i++) limiter.fail('203.0.113.7', 'user:victim@example.com');
    assert.equal(limiter.allowance('198.51.100.9').ratelimit, '"failures";r=3', 'a neighbour sees its own full bucket');
    const limited = limiter.fail('198.51.100.9', 'user:victim@example.com')!;
    assert.equal(limited.status, 429, 'the credential is out of attempts wherever it comes from');
    assert.equal(limiter.allowance('198.51.100.9').ratelimit, '"failures";r=2;t=20', 'but the neighbour is shown only its own count');
    assert.equal(limiter.allowance('2001:db8:1:2::99').ratelimit, '"failures";r=3');
  });

  it('allowance only reads: asking does not use up attempts', () => {
    const { limiter } = limiterAt(2);
    for (let i = 0; i < 10; i++) limiter.allowance('192.0.2.1');
    assert.equal(limiter.fail('192.0.2.1'), null);
    assert.equal(limiter.fail('192.0.2.1'), null);
    assert.equal(limiter.fail('192.0.2.1')!.status, 429);
  });

  it('off (0 a minute): no 429 and no fields', () => {
    const { limiter } = limiterAt(0);
    for (let i = 0; i < 100; i++) assert.equal(limiter.fail('192.0.2.1', 'token:x'), null);
    assert.deepEqual(limiter.allowance('192.0.2.1'), {});
  });
});
