import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Reply } from '../helpers/test-app.ts';

/** The three rate-limit headers of an answer, as sent. */
const limitHeaders = (r: Reply) => ({ 'retry-after': r.headers['retry-after'], ratelimit: r.headers['ratelimit'], 'ratelimit-policy': r.headers['ratelimit-policy'] });

/** What a 429 says after `perMinute` failures in the same instant: one more failure in 60/perMinute s. */
const limited429 = (perMinute: number) => {
  const wait = String(Math.ceil(60 / perMinute));
  return { 'retry-after': wait, ratelimit: `"failures";r=0;t=${wait}`, 'ratelimit-policy': `"failures";q=${perMinute};w=60` };
};

/** An app on a clock that stands still unless the test moves it. */
async function frozenApp(perMinute: number) {
  let now = Date.now();
  const t = await makeTestApp({ clock: { now: () => new Date(now) }, config: { authFailuresPerMinute: perMinute } });
  return { t, pass: (ms: number) => { now += ms; } };
}

describe('rate-limit headers as Cloudflare sends them (Ratelimit, Ratelimit-Policy, retry-after)', () => {
  it('v4: every 429 carries retry-after, Ratelimit and Ratelimit-Policy; they move with the clock', async () => {
    const { t, pass } = await frozenApp(3);
    try {
      const tenant = await t.tenant();
      const path = scoped('account', tenant.accountId, '/access/apps');
      for (let i = 0; i < 3; i++) {
        const refused = await t.call('GET', path, { token: 'wrong-token' });
        assert.equal(refused.status, 403);
        // A counted refusal says what is left of the client's own allowance: 2, 1, 0 more failures.
        assert.equal(limitHeaders(refused).ratelimit, i === 2 ? '"failures";r=0;t=20' : `"failures";r=${2 - i};t=20`);
      }
      const limited = await t.call('GET', path, { token: 'wrong-token' });
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body.errors, [{ code: 10429, message: 'Rate limited' }]);
      assert.deepEqual(limitHeaders(limited), limited429(3));
      pass(8_000);
      const verify = await t.call('GET', '/client/v4/user/tokens/verify', { token: 'another-wrong-token' });
      assert.equal(verify.status, 429);
      assert.deepEqual(limitHeaders(verify), { 'retry-after': '12', ratelimit: '"failures";r=0;t=12', 'ratelimit-policy': '"failures";q=3;w=60' });
      const ok = await t.call('GET', path, { token: tenant.read });
      assert.equal(ok.status, 200, 'a valid token is never refused for failures');
      assert.deepEqual(limitHeaders(ok), { 'retry-after': undefined, ratelimit: undefined, 'ratelimit-policy': undefined }, 'a success uses up nothing and is told nothing');
    } finally {
      await t.close();
    }
  });

  it('cloudflared\'s cert_sign: a refused token that was counted says what is left; the 429 carries the same three headers as v4', async () => {
    const { t, pass } = await frozenApp(2);
    try {
      const bad = { public_key: 'ssh-ed25519 AAAA', jwt: 'not.a.jwt' };
      const first = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad });
      assert.equal(first.status, 401);
      assert.deepEqual(limitHeaders(first), { 'retry-after': undefined, ratelimit: '"failures";r=1;t=30', 'ratelimit-policy': '"failures";q=2;w=60' });
      pass(10_000);
      const second = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad });
      assert.equal(second.status, 401);
      // 1⅓ left after 10 s, ⅓ after this failure: 20 s until a whole one.
      assert.deepEqual(limitHeaders(second), { 'retry-after': undefined, ratelimit: '"failures";r=0;t=20', 'ratelimit-policy': '"failures";q=2;w=60' });
      const limited = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad });
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body, { status: 429, message: 'too many refused tokens from this address; retry in 20 s' });
      assert.deepEqual(limitHeaders(limited), { 'retry-after': '20', ratelimit: '"failures";r=0;t=20', 'ratelimit-policy': '"failures";q=2;w=60' });
      const neighbour = await t.app.inject({ method: 'POST', url: '/cdn-cgi/access/cert_sign', payload: bad, remoteAddress: '198.51.100.9' });
      assert.equal(neighbour.statusCode, 401);
      assert.equal(neighbour.headers['ratelimit'], '"failures";r=1;t=30', 'another client is shown its own bucket, not the one it shares a server with');
    } finally {
      await t.close();
    }
  });

  it('a host route: a refused host credential\'s 429 carries the same three headers', async () => {
    const { t } = await frozenApp(2);
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await t.call('GET', '/client/v4/host', { token: 'not-a-host-credential' })));
      assert.deepEqual(statuses.map((r) => r.status), [403, 403, 429]);
      assert.deepEqual(limitHeaders(statuses[2]!), limited429(2));
    } finally {
      await t.close();
    }
  });
});
