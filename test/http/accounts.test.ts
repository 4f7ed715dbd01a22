import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';

describe('GET /accounts and /zones: where a credential finds its account id and the names delegated to it', () => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  before(async () => {
    t = await makeTestApp();
    a = await t.tenant();
    b = await t.tenant();
  });
  after(() => t.close());

  it('an account token lists its own account, with Cloudflare\'s fields, and nothing of another', async () => {
    const r = await t.call('GET', 'accounts', { token: a.read });
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.body.result.length, 1);
    const [only] = r.body.result;
    assert.equal(only.id, a.accountId);
    assert.equal(only.type, 'standard');
    assert.match(only.name, /^acct-/);
    assert.match(only.created_on, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.deepEqual(r.body.result_info, { page: 1, per_page: 100, count: 1, total_count: 1, total_pages: 1 });
  });

  it('a user\'s global key lists every account it belongs to, paged; a page past the end is empty', async () => {
    const user = await t.identity.createUser(`both${Date.now()}@example.com`, a.accountId);
    await t.db.insertInto('account_members').values({ account_id: b.accountId, user_id: user.id, created_at: new Date().toISOString() }).execute();
    const headers = { 'x-auth-email': user.email, 'x-auth-key': user.api_key };
    const all = await t.call('GET', 'accounts', { headers });
    assert.deepEqual(all.body.result.map((x: { id: string }) => x.id).sort(), [a.accountId, b.accountId].sort());
    const second = await t.call('GET', 'accounts?per_page=1&page=2', { headers });
    assert.equal(second.body.result.length, 1);
    assert.equal(second.body.result_info.total_count, 2);
    assert.deepEqual((await t.call('GET', 'accounts?page=3&per_page=1', { headers })).body.result, []);
    assert.equal((await t.call('GET', 'accounts?per_page=0', { headers })).status, 400);
  });

  it('a zone token acts on its zone alone, so it lists no account', async () => {
    const r = await t.call('GET', 'accounts', { token: a.zoneWrite });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.result, []);
  });

  it('no credential, a malformed one or an unknown token is refused as on every route', async () => {
    assert.equal((await t.call('GET', 'accounts')).body.errors[0].code, 9106);
    assert.equal((await t.call('GET', 'zones?page=0')).body.errors[0].code, 9106, 'the credential before the query');
    const bad = await t.call('GET', 'accounts', { headers: { authorization: 'Basic x' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].code, 6003);
    const unknown = await t.call('GET', 'accounts', { token: 'x'.repeat(40) });
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body.errors[0].code, 9109);
  });

  it('GET /zones lists the zones of the credential\'s accounts (a zone token: its own), by name too', async () => {
    const r = await t.call('GET', 'zones', { token: a.read });
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual(r.body.result.map((z: { id: string }) => z.id), [a.zoneId]);
    const [zone] = r.body.result;
    assert.equal(zone.name, a.zoneName);
    assert.equal(zone.status, 'active');
    assert.equal(zone.account.id, a.accountId);
    assert.match(zone.account.name, /^acct-/);
    assert.deepEqual((await t.call('GET', `zones?name=${a.zoneName.toUpperCase()}`, { token: a.read })).body.result.map((z: { id: string }) => z.id), [a.zoneId]);
    assert.deepEqual((await t.call('GET', `zones?name=${b.zoneName}`, { token: a.read })).body.result, [], 'another account\'s zone, even by name');
    const extra = await t.identity.createZone(a.accountId, `extra${Date.now().toString(36)}.example.org`);
    assert.deepEqual((await t.call('GET', 'zones', { token: a.zoneWrite })).body.result.map((z: { id: string }) => z.id), [a.zoneId], 'a zone token sees its zone alone');
    const all = await t.call('GET', 'zones?per_page=1&page=2', { token: a.read });
    assert.deepEqual(all.body.result.map((z: { id: string }) => z.id), [extra.id]);
    assert.equal(all.body.result_info.total_count, 2);
  });

  it('GET /zones/{id}: its own zone with any group, or with its zone token; another account\'s is 403 10000', async () => {
    for (const token of [a.read, a.zoneWrite]) {
      const own = await t.call('GET', scoped('zone', a.zoneId, ''), { token });
      assert.equal(own.status, 200, own.raw);
      assert.equal(own.body.result.name, a.zoneName);
    }
    const other = await t.call('GET', scoped('zone', b.zoneId, ''), { token: a.read });
    assert.equal(other.status, 403);
    assert.equal(other.body.errors[0].code, 10000);
    assert.equal((await t.call('GET', 'zones', { token: 'y'.repeat(40) })).body.errors[0].code, 9109);
  });

  it('GET /accounts/{id}: its own account with any permission group; another\'s is 403 10000, a malformed id 400 7003', async () => {
    const own = await t.call('GET', scoped('account', a.accountId, ''), { token: a.read });
    assert.equal(own.status, 200, own.raw);
    assert.equal(own.body.result.id, a.accountId);
    const signer = (await t.identity.createToken({ accountId: a.accountId, permissions: ['Access: SSH Certificates Sign'] })).value;
    assert.equal((await t.call('GET', scoped('account', a.accountId, ''), { token: signer })).status, 200);
    const other = await t.call('GET', scoped('account', b.accountId, ''), { token: a.read });
    assert.equal(other.status, 403);
    assert.equal(other.body.errors[0].code, 10000);
    assert.equal((await t.call('GET', 'accounts/nothex', { token: a.read })).body.errors[0].code, 7003);
  });
});
