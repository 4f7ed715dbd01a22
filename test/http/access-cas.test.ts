import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';

const KEY_PREFIX = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB';

describe('CA routes (HTTP, SQLite)', () => {
  let t: TestApp;
  let tenant: Tenant;
  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
  });
  after(() => t.close());

  async function newApp(kind: 'account' | 'zone' = 'account', token = tenant.write) {
    const id = kind === 'account' ? tenant.accountId : tenant.zoneId;
    const r = await t.call('POST', scoped(kind, id, '/access/apps'), { token, body: { name: 'ssh', domain: `ssh-${randomUUID()}.${tenant.zoneName}` } });
    assert.equal(r.status, 201, r.raw);
    return r.body.result as { id: string; aud: string };
  }

  it('creates a CA: 200 with {id, aud, public_key} in Cloudflare\'s form', async () => {
    const app = await newApp();
    const r = await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: tenant.write });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(Object.keys(r.body).sort(), ['errors', 'messages', 'result', 'success']);
    assert.equal(r.body.success, true);
    assert.deepEqual(Object.keys(r.body.result).sort(), ['aud', 'id', 'public_key']);
    assert.match(r.body.result.id, /^[0-9a-f]{48}$/);
    assert.equal(r.body.result.aud, app.aud);
    assert.ok(r.body.result.public_key.startsWith(KEY_PREFIX), r.body.result.public_key);
    assert.match(r.body.result.public_key, /^ecdsa-sha2-nistp256 [A-Za-z0-9+/]+=* open-ssh-ca@cloudflareaccess\.org$/);
  });

  it('gets the same CA, and a second create is 409 12131 with x-should-retry: false', async () => {
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const created = await t.call('POST', path, { token: tenant.write });
    const got = await t.call('GET', path, { token: tenant.read });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.result, created.body.result);
    const again = await t.call('POST', path, { token: tenant.write });
    assert.equal(again.status, 409);
    assert.equal(again.headers['x-should-retry'], 'false');
    assert.deepEqual(again.body, { success: false, errors: [{ code: 12131, message: 'access.api.error.certificate_authority_already_exists' }], messages: [], result: null });
  });

  it('deletes with 202 {id}; then 404 12135; a new create yields a new key pair', async () => {
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const first = (await t.call('POST', path, { token: tenant.write })).body.result;
    const del = await t.call('DELETE', path, { token: tenant.write });
    assert.equal(del.status, 202);
    assert.deepEqual(del.body.result, { id: first.id });
    const gone = await t.call('GET', path, { token: tenant.write });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.errors[0].code, 12135);
    assert.equal((await t.call('DELETE', path, { token: tenant.write })).status, 404);
    const second = (await t.call('POST', path, { token: tenant.write })).body.result;
    assert.notEqual(second.id, first.id);
    assert.notEqual(second.public_key, first.public_key);
    const keys = await t.db.selectFrom('ssh_ca_keys').select('ca_id').where('ca_id', '=', first.id).execute();
    assert.equal(keys.length, 0, 'the deleted CA\'s key is gone with it');
  });

  it('deleting the app deletes its CA and key', async () => {
    const app = await newApp();
    const ca = (await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: tenant.write })).body.result;
    const del = await t.call('DELETE', scoped('account', tenant.accountId, `/access/apps/${app.id}`), { token: tenant.write });
    assert.equal(del.status, 202);
    assert.deepEqual(del.body.result, { id: app.id });
    assert.equal((await t.db.selectFrom('ssh_cas').selectAll().where('id', '=', ca.id).execute()).length, 0);
    assert.equal((await t.db.selectFrom('ssh_ca_keys').selectAll().where('ca_id', '=', ca.id).execute()).length, 0);
    const r = await t.call('GET', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: tenant.write });
    assert.equal(r.status, 404);
  });

  it('accepts the three body forms clients send, and refuses others with 12130', async () => {
    const forms: { headers?: Record<string, string>; payload?: string }[] = [
      {},
      { headers: { 'content-type': 'application/json' }, payload: '' },
      { headers: { 'content-type': 'application/json' }, payload: '{}' },
    ];
    for (const form of forms) {
      const app = await newApp();
      const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
      const r = await t.call('POST', path, { token: tenant.write, ...form });
      assert.equal(r.status, 200, `${JSON.stringify(form)} → ${r.raw}`);
      const d = await t.call('DELETE', path, { token: tenant.write, ...form });
      assert.equal(d.status, 202, `${JSON.stringify(form)} → ${d.raw}`);
    }
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const unknown = await t.call('POST', path, { token: tenant.write, body: { rotate: true } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.errors[0].source, { pointer: '/rotate' });
    assert.equal(unknown.body.errors[0].code, 12130);
    const broken = await t.call('POST', path, { token: tenant.write, headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.errors[0].code, 12130);
    const array = await t.call('POST', path, { token: tenant.write, body: [] });
    assert.equal(array.status, 400);
    const text = await t.call('POST', path, { token: tenant.write, headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    assert.equal(text.status, 415);
    assert.equal(text.body.errors[0].code, 10415);
    assert.equal((await t.call('GET', path, { token: tenant.write })).status, 404, 'no refused request made a CA');
  });

  it('ignores api-version, x-stainless-* and user-agent; takes a charset on the JSON type', async () => {
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const headers = { 'api-version': '2099-12-31', 'x-stainless-lang': 'js', 'x-stainless-retry-count': '0', 'user-agent': 'Cloudflare/JS 7.3.0', 'content-type': 'application/json; charset=utf-8' };
    const r = await t.call('POST', path, { token: tenant.write, headers, payload: '{}' });
    assert.equal(r.status, 200, r.raw);
  });

  it('50 concurrent creates for one app: exactly one 200, 49 × 409, one row, one key', async () => {
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const replies = await Promise.all(Array.from({ length: 50 }, () => t.call('POST', path, { token: tenant.write })));
    const statuses = replies.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 200).length, 1);
    assert.equal(statuses.filter((s) => s === 409).length, 49);
    const rows = await t.db.selectFrom('ssh_cas').select('id').where('app_id', '=', app.id).execute();
    assert.equal(rows.length, 1);
    const keys = await t.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', '=', rows[0]!.id).execute();
    assert.equal(keys.length, 1);
  });

  it('keeps account-level and zone-level CAs in separate namespaces', async () => {
    const acctApp = await newApp('account');
    const zoneApp = await newApp('zone');
    await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${acctApp.id}/ca`), { token: tenant.write });
    const zoneCa = await t.call('POST', scoped('zone', tenant.zoneId, `/access/apps/${zoneApp.id}/ca`), { token: tenant.write });
    assert.equal(zoneCa.status, 200);
    assert.equal(zoneCa.body.result.aud, zoneApp.aud);
    const viaZoneToken = await t.call('GET', scoped('zone', tenant.zoneId, `/access/apps/${zoneApp.id}/ca`), { token: tenant.zoneWrite });
    assert.deepEqual(viaZoneToken.body.result, zoneCa.body.result);
    const acctList = await t.call('GET', scoped('account', tenant.accountId, '/access/apps/ca?per_page=1000'), { token: tenant.read });
    assert.ok(!acctList.body.result.some((c: { id: string }) => c.id === zoneCa.body.result.id), 'zone CA absent from account list');
    const zoneList = await t.call('GET', scoped('zone', tenant.zoneId, '/access/apps/ca'), { token: tenant.read });
    assert.deepEqual(zoneList.body.result, [zoneCa.body.result]);
    const crossed = await t.call('GET', scoped('account', tenant.accountId, `/access/apps/${zoneApp.id}/ca`), { token: tenant.write });
    assert.equal(crossed.status, 404);
    const crossed2 = await t.call('POST', scoped('zone', tenant.zoneId, `/access/apps/${acctApp.id}/ca`), { token: tenant.write });
    assert.equal(crossed2.status, 404);
  });

  it('pages the list: 1-based, per_page default 100, max 1000, empty page past the end', async () => {
    const own = await t.tenant();
    for (let i = 0; i < 5; i++) {
      const a = await t.call('POST', scoped('account', own.accountId, '/access/apps'), { token: own.write, body: { name: `a${i}`, domain: `x${i}-${randomUUID()}.${own.zoneName}` } });
      await t.call('POST', scoped('account', own.accountId, `/access/apps/${a.body.result.id}/ca`), { token: own.write });
    }
    const list = (q: string) => t.call('GET', scoped('account', own.accountId, `/access/apps/ca${q}`), { token: own.read });
    const all = await list('');
    assert.equal(all.body.result.length, 5);
    assert.deepEqual(all.body.result_info, { page: 1, per_page: 100, count: 5, total_count: 5, total_pages: 1 });
    const seen: string[] = [];
    for (const page of [1, 2, 3]) {
      const r = await list(`?page=${page}&per_page=2`);
      assert.equal(r.status, 200);
      assert.equal(r.body.result_info.page, page);
      seen.push(...r.body.result.map((c: { id: string }) => c.id));
    }
    assert.deepEqual(seen, all.body.result.map((c: { id: string }) => c.id));
    const past = await list('?page=4&per_page=2');
    assert.equal(past.status, 200);
    assert.deepEqual(past.body.result, []);
    assert.deepEqual(past.body.result_info, { page: 4, per_page: 2, count: 0, total_count: 5, total_pages: 3 });
    for (const bad of ['?page=0', '?per_page=0', '?per_page=1001', '?page=abc', '?page=-1', '?per_page=1.5']) {
      const r = await list(bad);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.errors[0].code, 12130, bad);
    }
    assert.equal((await list('?per_page=1000')).status, 200);
  });

  it('refuses malformed ids and traversal with the contract\'s codes', async () => {
    const a = tenant.accountId;
    const cases: [string, number, number][] = [
      [`${scoped('account', a, '/access/apps/not-a-uuid/ca')}`, 400, 12045],
      [`${scoped('account', a, '/access/apps/..%2F..%2Fetc%2Fpasswd/ca')}`, 400, 12045],
      [`${scoped('account', a, '/access/apps/%C3%A9%C3%A9/ca')}`, 400, 12045],
      [`${scoped('account', a, '/access/apps/f174e90a-fafe-4643-bbbc-4a0ed4fc84150/ca')}`, 400, 12045],
      [`${scoped('account', a, '/access/apps/f174e90a-fafe-4643-bbbc-4a0ed4fc8415/ca')}`, 404, 12135],
      [`${scoped('account', a.toUpperCase(), '/access/apps/ca')}`, 400, 7003],
      [`${scoped('account', '..%2F..', '/access/apps/ca')}`, 400, 7003],
      [`${scoped('account', 'é'.repeat(16), '/access/apps/ca')}`, 400, 7003],
      [`${scoped('zone', 'zzz', '/access/apps/ca')}`, 400, 7003],
      ['/client/v4/accounts/../../etc/passwd', 404, 7000],
      [`${scoped('account', a, '/access/apps/ca/extra')}`, 404, 7000],
      ['/client/v4/nothing', 404, 7000],
      ['/', 404, 7000],
    ];
    for (const [path, status, code] of cases) {
      const r = await t.call('GET', path, { token: tenant.write });
      assert.equal(r.status, status, `${path}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, code, path);
      assert.equal(r.body.success, false);
      assert.equal(r.body.result, null);
    }
    const r = await t.call('GET', scoped('account', 'xyz', '/access/apps/ca'), { token: tenant.write });
    assert.deepEqual(r.body.errors, [
      { code: 7003, message: 'Could not route to /accounts/xyz/access/apps/ca, perhaps your object identifier is invalid?' },
      { code: 7000, message: 'No route for that URI' },
    ]);
  });

  it('a body over the limit is 413 10413 and creates nothing', async () => {
    const app = await newApp();
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`);
    const r = await t.call('POST', path, { token: tenant.write, headers: { 'content-type': 'application/json' }, payload: `{"x":"${'a'.repeat(1 << 20)}"}` });
    assert.equal(r.status, 413);
    assert.equal(r.body.errors[0].code, 10413);
    assert.equal((await t.call('GET', path, { token: tenant.write })).status, 404);
  });
});

describe('an unexpected fault', () => {
  it('is 500 10001 "Internal error", with no detail in the response', async () => {
    const t = await makeTestApp();
    const tenant = await t.tenant();
    const authorized = await t.call('GET', scoped('account', tenant.accountId, '/access/apps/ca'), { token: tenant.read });
    assert.equal(authorized.status, 200);
    // Break the store under the running app: every query now throws from the driver.
    await t.runtime.database.close();
    const r = await t.call('GET', scoped('account', tenant.accountId, '/access/apps/ca'), { token: tenant.read });
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { success: false, errors: [{ code: 10001, message: 'Internal error' }], messages: [], result: null });
    await t.app.close();
  });
});
