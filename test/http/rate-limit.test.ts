import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped } from '../helpers/test-app.ts';

describe('failed authentications are rate limited per client address', () => {
  it('after the allowance, 429 10429 with a small retry-after, even for a valid token; it refills', async () => {
    let now = Date.parse('2026-11-27T12:00:00Z');
    const t = await makeTestApp({ clock: { now: () => new Date(now) }, config: { authFailuresPerMinute: 3 } });
    try {
      const tenant = await t.tenant();
      const path = scoped('account', tenant.accountId, '/access/apps');
      assert.equal((await t.call('GET', path, { token: tenant.read })).status, 200, 'successes are not counted');
      for (let i = 0; i < 3; i++) assert.equal((await t.call('GET', path, { token: 'wrong-token' })).status, 403);
      const limited = await t.call('GET', path, { token: tenant.read });
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body.errors, [{ code: 10429, message: 'Rate limited' }]);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 20, `retry-after ${retryAfter}`);
      const verify = await t.call('GET', '/client/v4/user/tokens/verify', { token: tenant.read });
      assert.equal(verify.status, 429, 'token verify shares the limit');
      now += retryAfter * 1000;
      assert.equal((await t.call('GET', path, { token: tenant.read })).status, 200);
    } finally {
      await t.close();
    }
  });

  it('cert_sign counts refused tokens the same way and answers 429 {status, message} with retry-after', async () => {
    let now = Date.parse('2026-11-27T12:00:00Z');
    const t = await makeTestApp({ clock: { now: () => new Date(now) }, config: { authFailuresPerMinute: 2 } });
    try {
      const bad = { public_key: 'ssh-ed25519 AAAA', jwt: 'not.a.jwt' };
      for (let i = 0; i < 2; i++) assert.equal((await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad })).status, 401);
      const limited = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.status, 429);
      assert.match(limited.body.message, /too many refused requests from this address; retry in \d+ s/);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      now += 31_000;
      assert.equal((await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad })).status, 401, 'it refills');
    } finally {
      await t.close();
    }
  });
});
