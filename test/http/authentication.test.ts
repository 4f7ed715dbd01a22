import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, READ, scoped, WRITE, type Tenant, type TestApp } from '../helpers/test-app.ts';

describe('authentication and authorization (CONTRACT §3, §8)', () => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  let list: string;
  before(async () => {
    t = await makeTestApp();
    a = await t.tenant();
    b = await t.tenant();
    list = scoped('account', a.accountId, '/access/apps');
  });
  after(() => t.close());

  const expect = async (headers: Record<string, string>, status: number, code: number | null, path = list, method = 'GET') => {
    const r = await t.call(method, path, { headers });
    assert.equal(r.status, status, `${JSON.stringify(headers)} → ${r.raw}`);
    if (code !== null) assert.equal(r.body.errors[0].code, code, JSON.stringify(headers));
    return r;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('no credential headers: 400 9106', async () => {
    const r = await expect({}, 400, 9106);
    assert.equal(r.body.errors[0].message, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers');
  });

  it('a malformed Authorization header: 400 6003 with chain 6111', async () => {
    for (const value of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'bearer abc', 'Bearer a b', `Bearer ${'x'.repeat(257)}`, 'Bearer é']) {
      const r = await expect({ authorization: value }, 400, 6003);
      assert.deepEqual(r.body.errors[0], { code: 6003, message: 'Invalid request headers', error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] });
    }
  });

  it('malformed or lone X-Auth-Email / X-Auth-Key: 400 6003 with chain 6102 / 6103', async () => {
    const chain = async (headers: Record<string, string>, code: number) =>
      assert.equal((await expect(headers, 400, 6003)).body.errors[0].error_chain[0].code, code, JSON.stringify(headers));
    await chain({ 'x-auth-email': a.email }, 6103);
    await chain({ 'x-auth-key': a.apiKey }, 6102);
    await chain({ 'x-auth-email': 'no-at-sign', 'x-auth-key': a.apiKey }, 6102);
    await chain({ 'x-auth-email': 'two@@example.com', 'x-auth-key': a.apiKey }, 6102);
    await chain({ 'x-auth-email': a.email, 'x-auth-key': 'has space' }, 6103);
  });

  it('an unknown email/key pair: 403 9103; a known one works on its account only', async () => {
    await expect({ 'x-auth-email': a.email, 'x-auth-key': b.apiKey }, 403, 9103);
    await expect({ 'x-auth-email': 'nobody@example.com', 'x-auth-key': a.apiKey }, 403, 9103);
    await expect({ 'x-auth-email': a.email, 'x-auth-key': a.apiKey }, 200, null);
    await expect({ 'x-auth-email': a.email.toUpperCase(), 'x-auth-key': a.apiKey }, 200, null);
    await expect({ 'x-auth-email': b.email, 'x-auth-key': b.apiKey }, 403, 10000);
  });

  it('unknown, revoked, expired and not-yet-valid tokens: 403 9109 "Invalid access token"', async () => {
    const expired = await t.identity.createToken({ accountId: a.accountId, permissions: [WRITE], expiresOn: '2020-01-01T00:00:00Z' });
    const pending = await t.identity.createToken({ accountId: a.accountId, permissions: [WRITE], notBefore: '2999-01-01T00:00:00Z' });
    const revoked = await t.identity.createToken({ accountId: a.accountId, permissions: [WRITE] });
    await expect(bearer(revoked.value), 200, null);
    await t.identity.revokeToken(revoked.id);
    for (const token of ['unknown-token', expired.value, pending.value, revoked.value]) {
      const r = await expect(bearer(token), 403, 9109);
      assert.equal(r.body.errors[0].message, 'Invalid access token');
    }
  });

  it('a valid token without the permission group: 403 9109 "Unauthorized to access requested resource"', async () => {
    const r = await expect(bearer(a.read), 403, 9109, list, 'POST');
    assert.equal(r.body.errors[0].message, 'Unauthorized to access requested resource: the token needs one of the permission groups "Access: Apps and Policies Write"');
    await expect(bearer(a.read), 200, null);
  });

  it('another account\'s id, or one that does not exist: the same 403 10000', async () => {
    const other = await expect(bearer(a.write), 403, 10000, scoped('account', b.accountId, '/access/apps'));
    const none = await expect(bearer(a.write), 403, 10000, scoped('account', '0'.repeat(32), '/access/apps'));
    assert.deepEqual(other.body, none.body);
    assert.equal(other.body.errors[0].message, 'Authentication error');
  });

  it('zone tokens work on their zone\'s routes only; account tokens also on their zones', async () => {
    await expect(bearer(a.zoneWrite), 403, 10000);
    await expect(bearer(a.zoneWrite), 200, null, scoped('zone', a.zoneId, '/access/apps'));
    await expect(bearer(b.zoneWrite), 403, 10000, scoped('zone', a.zoneId, '/access/apps'));
    await expect(bearer(a.write), 200, null, scoped('zone', a.zoneId, '/access/apps'));
    await expect(bearer(a.write), 403, 10000, scoped('zone', b.zoneId, '/access/apps'));
    await expect(bearer(a.write), 403, 10000, scoped('zone', 'f'.repeat(32), '/access/apps'));
    const sibling = await t.identity.createZone(a.accountId, 'sibling.example.net');
    await expect(bearer(a.zoneWrite), 403, 10000, scoped('zone', sibling.id, '/access/apps'));
  });

  it('with several credentials, any one that authorizes is enough; else the email+key failure first', async () => {
    const good = { 'x-auth-email': a.email, 'x-auth-key': a.apiKey };
    const badPair = { 'x-auth-email': a.email, 'x-auth-key': b.apiKey };
    await expect({ ...good, ...bearer('unknown-token') }, 200, null);
    await expect({ ...good, authorization: 'Basic abc' }, 200, null);
    await expect({ ...badPair, ...bearer(a.write) }, 200, null);
    await expect({ 'x-auth-email': 'broken', ...bearer(a.write) }, 200, null);
    await expect({ ...badPair, ...bearer('unknown-token') }, 403, 9103);
    await expect({ 'x-auth-email': 'broken', 'x-auth-key': 'k', ...bearer('unknown-token') }, 400, 6003);
    await expect({ ...badPair, authorization: 'Basic abc' }, 403, 9103);
    await expect({ ...bearer(b.write), ...badPair }, 403, 9103);
  });

  it('route shape is checked before credentials, credentials before permission, permission before lookup', async () => {
    await expect({}, 400, 7003, scoped('account', 'bad', '/access/apps/ca'));
    await expect({}, 400, 9106, scoped('account', a.accountId, '/access/apps/not-a-uuid/ca'));
    await expect(bearer(a.read), 403, 9109, scoped('account', a.accountId, '/access/apps/f174e90a-fafe-4643-bbbc-4a0ed4fc8415/ca'), 'POST');
    await expect(bearer(b.write), 403, 10000, scoped('account', a.accountId, '/access/apps/not-a-uuid/ca'));
  });

  it('GET /user/tokens/verify: 200 {id, status, expires_on} for a live token, 401 1000 for a bad one', async () => {
    const token = await t.identity.createToken({ accountId: a.accountId, permissions: [READ], expiresOn: '2999-01-01T00:00:00Z' });
    const ok = await t.call('GET', '/client/v4/user/tokens/verify', { token: token.value });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.result, { id: token.id, status: 'active', expires_on: '2999-01-01T00:00:00Z' });
    const expired = await t.identity.createToken({ accountId: a.accountId, permissions: [READ], expiresOn: '2020-01-01T00:00:00Z' });
    for (const bad of ['nope', expired.value]) {
      const r = await t.call('GET', '/client/v4/user/tokens/verify', { token: bad });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body.errors, [{ code: 1000, message: 'Invalid API Token' }]);
    }
    assert.equal((await t.call('GET', '/client/v4/user/tokens/verify')).body.errors[0].code, 9106);
    assert.equal((await t.call('GET', '/client/v4/user/tokens/verify', { headers: { authorization: 'Token x' } })).body.errors[0].code, 6003);
  });

  it('GET /accounts/{id}/tokens/verify: only a token of that account', async () => {
    const path = (id: string) => `/client/v4/accounts/${id}/tokens/verify`;
    const ok = await t.call('GET', path(a.accountId), { token: a.zoneWrite });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.result.status, 'active');
    const other = await t.call('GET', path(b.accountId), { token: a.write });
    assert.equal(other.status, 403);
    assert.equal(other.body.errors[0].code, 10000);
    assert.equal((await t.call('GET', path('nothex'), { token: a.write })).body.errors[0].code, 7003);
    assert.equal((await t.call('GET', path(a.accountId), { token: 'nope' })).status, 401);
  });
});
