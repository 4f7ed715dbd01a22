import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';

describe('Access application routes (HTTP, SQLite)', () => {
  let t: TestApp;
  let tenant: Tenant;
  let apps: string;
  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    apps = scoped('account', tenant.accountId, '/access/apps');
  });
  after(() => t.close());

  const count = async () => Number((await t.db.selectFrom('access_apps').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())?.n);

  it('creates with 201 and Cloudflare\'s defaults', async () => {
    const r = await t.call('POST', apps, { token: tenant.write, body: { name: 'ssh', domain: 'SSH.Example.com' } });
    assert.equal(r.status, 201);
    const app = r.body.result;
    assert.match(app.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(app.aud, /^[0-9a-f]{64}$/);
    assert.equal(app.type, 'self_hosted');
    assert.equal(app.session_duration, '24h');
    assert.equal(app.domain, 'ssh.example.com');
    assert.match(app.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(app.updated_at, app.created_at);
    assert.deepEqual(Object.keys(app).sort(), [
      'allow_iframe', 'allowed_idps', 'app_launcher_visible', 'aud', 'auto_redirect_to_identity', 'created_at', 'destinations', 'domain',
      'enable_binding_cookie', 'http_only_cookie_attribute', 'id', 'name', 'options_preflight_bypass', 'path_cookie_attribute', 'policies',
      'self_hosted_domains', 'service_auth_401_redirect', 'session_duration', 'skip_interstitial', 'tags', 'type', 'updated_at',
    ], 'Cloudflare\'s object, with its defaults filled in');
    assert.deepEqual(app.destinations, [{ type: 'public', uri: 'ssh.example.com' }]);
    assert.deepEqual(app.self_hosted_domains, ['ssh.example.com']);
    assert.deepEqual([app.app_launcher_visible, app.http_only_cookie_attribute, app.auto_redirect_to_identity, app.allowed_idps, app.tags], [true, true, false, [], []]);
    assert.deepEqual(app.policies, [], 'a new application has no policies: it lets nobody in');
  });

  it('gets, replaces with PUT (aud and id stay), lists, and deletes with 202 {id}', async () => {
    const app = (await t.call('POST', apps, { token: tenant.write, body: { name: 'one', domain: 'one.example.com' } })).body.result;
    const got = await t.call('GET', `${apps}/${app.id}`, { token: tenant.read });
    assert.deepEqual(got.body.result, app);
    const put = await t.call('PUT', `${apps}/${app.id}`, { token: tenant.write, body: { name: 'two', type: 'ssh', domain: 'two.example.com', session_duration: '1h30m' } });
    assert.equal(put.status, 200);
    assert.equal(put.body.result.name, 'two');
    assert.equal(put.body.result.type, 'ssh');
    assert.equal(put.body.result.session_duration, '1h30m');
    assert.equal(put.body.result.aud, app.aud);
    assert.equal(put.body.result.id, app.id);
    const listed = await t.call('GET', apps, { token: tenant.read });
    assert.ok(listed.body.result.some((a: { id: string; name: string }) => a.id === app.id && a.name === 'two'));
    assert.equal(listed.body.result_info.page, 1);
    const del = await t.call('DELETE', `${apps}/${app.id}`, { token: tenant.write });
    assert.equal(del.status, 202);
    assert.deepEqual(del.body.result, { id: app.id });
    const gone = await t.call('GET', `${apps}/${app.id}`, { token: tenant.read });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.errors[0].code, 12135);
    assert.equal((await t.call('PUT', `${apps}/${app.id}`, { token: tenant.write, body: { name: 'x', domain: 'x.example.com' } })).status, 404);
  });

  it('refuses bad bodies with 400 12130 and a JSON pointer, and writes nothing', async () => {
    const before = await count();
    const cases: [unknown, string][] = [
      [{ name: 'x' }, '/domain'],
      [{ domain: 'a.example.com' }, '/name'],
      [{ name: 123, domain: 'a.example.com' }, '/name'],
      [{ name: '', domain: 'a.example.com' }, '/name'],
      [{ name: '   ', domain: 'a.example.com' }, '/name'],
      [{ name: 'x', domain: 'a.example.com', type: 'warp' }, '/type'],
      [{ name: 'x', domain: 'a.example.com', session_duration: '1 day' }, '/session_duration'],
      [{ name: 'x', domain: 'a.example.com', session_duration: 24 }, '/session_duration'],
      [{ name: 'x', domain: 'exämple.com' }, '/domain'],
      [{ name: 'x', domain: '../../etc/passwd' }, '/domain'],
      [{ name: 'x', domain: 'a.example.com', aud: 'f'.repeat(64) }, '/aud'],
      // Fields Cloudflare's object has are taken (test/http/app-fields.test.ts); unknown ones and wrong values are refused by name.
      [{ name: 'x', domain: 'a.example.com', allowed_idps: ['not-a-provider'] }, '/allowed_idps/0'],
      [{ name: 'x', domain: 'a.example.com', allowed_idps: [randomUUID()] }, '/allowed_idps/0'],
      [{ name: 'x', domain: 'a.example.com', saas_app: {} }, '/saas_app'],
      [{ name: 'x'.repeat(351), domain: 'a.example.com' }, '/name'],
    ];
    for (const [body, pointer] of cases) {
      const r = await t.call('POST', apps, { token: tenant.write, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.errors[0].code, 12130, JSON.stringify(body));
      assert.equal(r.body.errors[0].source?.pointer, pointer, JSON.stringify(body));
    }
    for (const payload of ['', 'null', '"x"', '[1]', '{"name":', '\u0000']) {
      const r = await t.call('POST', apps, { token: tenant.write, headers: { 'content-type': 'application/json' }, payload });
      assert.equal(r.status, 400, JSON.stringify(payload));
      assert.equal(r.body.errors[0].code, 12130);
    }
    const proto = await t.call('POST', apps, { token: tenant.write, headers: { 'content-type': 'application/json' }, payload: '{"name":"x","domain":"a.example.com","__proto__":{"admin":true}}' });
    assert.equal(proto.status, 400);
    const big = await t.call('POST', apps, { token: tenant.write, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(1 << 20), domain: 'a.example.com' }) });
    assert.equal(big.status, 413);
    assert.equal(await count(), before);
  });

  it('takes unicode names as text', async () => {
    const r = await t.call('POST', apps, { token: tenant.write, body: { name: 'Серверы 🚀 "prod"', domain: 'prod.example.com' } });
    assert.equal(r.status, 201);
    assert.equal(r.body.result.name, 'Серверы 🚀 "prod"');
  });

  it('an ssh or infrastructure app needs no domain', async () => {
    const r = await t.call('POST', apps, { token: tenant.write, body: { name: 'infra', type: 'infrastructure' } });
    assert.equal(r.status, 201);
    assert.equal('domain' in r.body.result, false);
    assert.equal('session_duration' in r.body.result, false, 'Cloudflare gives infrastructure applications no session duration');
    assert.equal('destinations' in r.body.result, false);
  });

  it('keeps zone apps out of the account list and account apps out of the zone', async () => {
    const zoneApps = scoped('zone', tenant.zoneId, '/access/apps');
    const z = (await t.call('POST', zoneApps, { token: tenant.zoneWrite, body: { name: 'zone app', domain: `z.${tenant.zoneName}` } })).body.result;
    const acct = await t.call('GET', `${apps}?per_page=1000`, { token: tenant.read });
    assert.ok(!acct.body.result.some((a: { id: string }) => a.id === z.id));
    const zone = await t.call('GET', zoneApps, { token: tenant.read });
    assert.deepEqual(zone.body.result.map((a: { id: string }) => a.id), [z.id]);
    assert.equal((await t.call('GET', `${apps}/${z.id}`, { token: tenant.write })).status, 404);
    assert.equal((await t.call('DELETE', `${apps}/${z.id}`, { token: tenant.write })).status, 404);
    assert.equal((await t.call('GET', `${zoneApps}/${z.id}`, { token: tenant.zoneWrite })).status, 200);
  });
});
