/**
 * The account's gateway CA (Cloudflare's `/access/gateway_ca`): one per account, `{id, public_key}`,
 * rotated with overlap like an application's CA, audited, and never another account's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, READ, scoped, WRITE, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { parsePublicKeyLine } from '../helpers/gateway-ca-keys.ts';

describe('the gateway CA', () => {
  let t: TestApp;
  let tenant: Tenant;
  let other: Tenant;
  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    other = await t.tenant();
  });
  after(async () => t.close());

  const call = (method: string, path: string, who: Tenant = tenant, token: string = who.write) => t.call(method, scoped('account', who.accountId, path), { token });
  const events = async (accountId: string) => (await t.db.selectFrom('audit_events').select('type').where('account_id', '=', accountId).where('type', 'like', 'gateway_ca.%').orderBy('created_at').execute()).map((e) => e.type);

  it('is made once per account, {id, public_key}; a second create is refused with Cloudflare\'s 12131', async () => {
    assert.deepEqual((await call('GET', '/access/gateway_ca')).body.result, [], 'none before it is made');
    const made = await call('POST', '/access/gateway_ca');
    assert.equal(made.status, 200, made.raw);
    const ca = made.body.result;
    assert.match(ca.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(parsePublicKeyLine(ca.public_key).type, 'ecdsa-sha2-nistp256');
    assert.deepEqual(ca.keys.map((k: { state: string }) => k.state), ['active']);
    assert.equal(ca.keys[0].public_key, ca.public_key);
    const again = await call('POST', '/access/gateway_ca');
    assert.equal(again.status, 409, again.raw);
    assert.equal(again.body.errors[0].code, 12131);
    const listed = await call('GET', '/access/gateway_ca', tenant, tenant.read);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.result.map((c: { id: string; public_key: string }) => [c.id, c.public_key]), [[ca.id, ca.public_key]]);
    // Another account sees none of it, and cannot delete it.
    assert.deepEqual((await call('GET', '/access/gateway_ca', other)).body.result, []);
    const theirs = await call('DELETE', `/access/gateway_ca/${ca.id}`, other);
    assert.equal(theirs.status, 404, theirs.raw);
    assert.equal((await call('GET', '/access/gateway_ca')).body.result.length, 1);
    // A read token may list, not make.
    const readOnly = await call('POST', '/access/gateway_ca', other, other.read);
    assert.equal(readOnly.status, 403);
    assert.deepEqual(await events(tenant.accountId), ['gateway_ca.created']);
  });

  it('rotates with overlap: next is trusted beside the active key, activate moves signing, retire drops the old key; steps out of order are 409 12136', async () => {
    const [ca] = (await call('GET', '/access/gateway_ca')).body.result;
    const first = ca.public_key;
    const rotated = await call('POST', '/access/gateway_ca/rotate');
    assert.equal(rotated.status, 200, rotated.raw);
    assert.equal(rotated.body.result.state, 'next');
    const twice = await call('POST', '/access/gateway_ca/rotate');
    assert.equal(twice.status, 409);
    assert.equal(twice.body.errors[0].code, 12136);
    assert.match(twice.body.errors[0].message, /the gateway CA already has a next key/);
    const early = await call('POST', '/access/gateway_ca/rotate/retire');
    assert.equal(early.status, 409);
    const during = (await call('GET', '/access/gateway_ca')).body.result[0];
    assert.deepEqual(during.keys.map((k: { state: string }) => k.state), ['active', 'next']);
    assert.equal(during.public_key, first, 'the active key still signs');
    const activated = await call('POST', '/access/gateway_ca/rotate/activate');
    assert.equal(activated.status, 200, activated.raw);
    assert.equal(activated.body.result.public_key, rotated.body.result.public_key);
    const after = (await call('GET', '/access/gateway_ca')).body.result[0];
    assert.equal(after.public_key, rotated.body.result.public_key);
    assert.deepEqual(after.keys.map((k: { state: string; public_key: string }) => [k.state, k.public_key]), [['active', rotated.body.result.public_key], ['previous', first]]);
    const retired = await call('POST', '/access/gateway_ca/rotate/retire');
    assert.equal(retired.status, 200, retired.raw);
    assert.deepEqual((await call('GET', '/access/gateway_ca')).body.result[0].keys.map((k: { state: string }) => k.state), ['active']);
    assert.deepEqual(await events(tenant.accountId), ['gateway_ca.created', 'gateway_ca.rotated', 'gateway_ca.activated', 'gateway_ca.retired']);
    const none = await call('POST', '/access/gateway_ca/rotate', other);
    assert.equal(none.status, 404);
    assert.match(none.raw, /the account has no gateway CA/);
  });

  it('delete takes it and its keys; a wrong or malformed id is refused; it can be made again', async () => {
    const [ca] = (await call('GET', '/access/gateway_ca')).body.result;
    assert.equal((await call('DELETE', '/access/gateway_ca/0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f')).status, 404);
    assert.equal((await call('DELETE', '/access/gateway_ca/not-a-uuid')).status, 400);
    const gone = await call('DELETE', `/access/gateway_ca/${ca.id}`);
    assert.equal(gone.status, 200, gone.raw);
    assert.deepEqual(gone.body.result, { id: ca.id });
    assert.deepEqual((await call('GET', '/access/gateway_ca')).body.result, []);
    assert.equal((await t.db.selectFrom('gateway_ca_keys').select('id').where('account_id', '=', tenant.accountId).execute()).length, 0);
    const again = await call('POST', '/access/gateway_ca');
    assert.equal(again.status, 200);
    assert.notEqual(again.body.result.id, ca.id);
    assert.notEqual(again.body.result.public_key, ca.public_key);
  });
});
