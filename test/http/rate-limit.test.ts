import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { makeTestApp, scoped } from '../helpers/test-app.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

describe('failed authentications are rate limited per client address', () => {
  it('after the allowance a client\'s refusals become 429 10429 with a small retry-after; it refills', async () => {
    let now = Date.parse('2026-11-27T12:00:00Z');
    const t = await makeTestApp({ clock: { now: () => new Date(now) }, config: { authFailuresPerMinute: 3 } });
    try {
      const tenant = await t.tenant();
      const path = scoped('account', tenant.accountId, '/access/apps');
      assert.equal((await t.call('GET', path, { token: tenant.read })).status, 200, 'successes are not counted');
      for (let i = 0; i < 3; i++) assert.equal((await t.call('GET', path, { token: 'wrong-token' })).status, 403);
      const limited = await t.call('GET', path, { token: 'wrong-token' });
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body.errors, [{ code: 10429, message: 'Rate limited' }]);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 20, `retry-after ${retryAfter}`);
      const verify = await t.call('GET', '/client/v4/user/tokens/verify', { token: 'another-wrong-token' });
      assert.equal(verify.status, 429, 'token verify shares the limit');
      assert.equal((await t.call('GET', path, { token: tenant.read })).status, 200, 'a valid token is never refused for failures');
      now += retryAfter * 1000;
      assert.equal((await t.call('GET', path, { token: 'wrong-token' })).status, 403, 'it refills');
    } finally {
      await t.close();
    }
  });

  it('two clients: one misbehaves, the other keeps working, with a valid token or a valid identity token', async () => {
    const t = await makeTestApp({ config: { authFailuresPerMinute: 5 } });
    try {
      const tenant = await t.tenant();
      const path = scoped('account', tenant.accountId, '/access/apps');
      const attacker = '203.0.113.7';
      for (let i = 0; i < 20; i++) await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage-token-value' }, remoteAddress: attacker });
      const bad = await t.app.inject({ method: 'POST', url: '/cdn-cgi/access/cert_sign', remoteAddress: attacker, payload: { public_key: 'ssh-ed25519 AAAA', jwt: 'not.a.jwt' } });
      assert.equal(bad.statusCode, 429, 'the attacker is slowed down');
      for (const client of [attacker, '198.51.100.9']) {
        const ok = await t.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${tenant.read}` }, remoteAddress: client });
        assert.equal(ok.statusCode, 200, `${client}: a valid token still works`);
      }
      const neighbour = await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage-token-value-2' }, remoteAddress: '198.51.100.9' });
      assert.equal(neighbour.statusCode, 403, 'another client\'s first failure is an ordinary refusal');
      const v6 = (n: number) => `2001:db8:1:2::${n}`;
      for (let i = 0; i < 6; i++) await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage' }, remoteAddress: v6(i + 1) });
      const sameSlash64 = await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage' }, remoteAddress: v6(99) });
      assert.equal(sameSlash64.statusCode, 429, 'IPv6 clients are counted by /64');
      const otherSlash64 = await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage-3' }, remoteAddress: '2001:db8:1:3::1' });
      assert.equal(otherSlash64.statusCode, 403);
      const sameCredentialElsewhere = await t.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer garbage' }, remoteAddress: '192.0.2.200' });
      assert.equal(sameCredentialElsewhere.statusCode, 429, 'a credential that keeps failing is counted wherever it comes from');
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
      assert.match(limited.body.message, /too many refused tokens from this address; retry in \d+ s/);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      now += 31_000;
      assert.equal((await t.call('POST', '/cdn-cgi/access/cert_sign', { body: bad })).status, 401, 'it refills');
    } finally {
      await t.close();
    }
  });

  it('a verified person refused again and again gets 429, and the store gets no more audit rows', async () => {
    const t = await makeTestApp({ config: { authFailuresPerMinute: 3 } });
    const idp = await makeTestIdp('https://replay.example');
    try {
      const tenant = await t.tenant();
      const admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] })).value;
      await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } } });
      const app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'r', domain: `r-${randomUUID()}.example.com` } })).body.result;
      await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: admin });
      const body = { public_key: authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey)), jwt: await idp.sign({ aud: [app.aud], email: 'eve@example.com' }) };
      const statuses = [];
      for (let i = 0; i < 8; i++) statuses.push((await t.call('POST', '/cdn-cgi/access/cert_sign', { body })).status);
      assert.deepEqual(statuses, [403, 403, 403, 429, 429, 429, 429, 429]);
      const audited = await t.db.selectFrom('audit_events').select('id').where('type', '=', 'ssh_certificate.refused').execute();
      assert.equal(audited.length, 3);
    } finally {
      await t.close();
      await idp.close();
    }
  });
});
