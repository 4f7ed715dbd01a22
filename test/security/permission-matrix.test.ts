import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, READ, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';

const IDP_READ = 'Access: Organizations, Identity Providers, and Groups Read';

interface Route {
  method: string;
  path: (appId: string) => string;
  write: boolean;
  body?: unknown;
}

// Every scoped route of CONTRACT §1; each is called in its account and its zone form.
const ROUTES: Route[] = [
  { method: 'POST', path: (id) => `/access/apps/${id}/ca`, write: true },
  { method: 'GET', path: (id) => `/access/apps/${id}/ca`, write: false },
  { method: 'DELETE', path: (id) => `/access/apps/${id}/ca`, write: true },
  { method: 'GET', path: () => '/access/apps/ca', write: false },
  { method: 'POST', path: () => '/access/apps', write: true, body: { name: 'intruder', domain: 'evil.example.com' } },
  { method: 'GET', path: () => '/access/apps', write: false },
  { method: 'GET', path: (id) => `/access/apps/${id}`, write: false },
  { method: 'PUT', path: (id) => `/access/apps/${id}`, write: true, body: { name: 'renamed', domain: 'evil.example.com' } },
  { method: 'DELETE', path: (id) => `/access/apps/${id}`, write: true },
];

describe('security: every route refuses every wrong credential, and nothing changes', () => {
  let t: TestApp;
  let victim: Tenant;
  let attacker: Tenant;
  const appIds = { account: '', zone: '' };

  before(async () => {
    t = await makeTestApp();
    victim = await t.tenant();
    attacker = await t.tenant();
    for (const kind of ['account', 'zone'] as const) {
      const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
      const app = await t.call('POST', scoped(kind, scopeId, '/access/apps'), { token: victim.write, body: { name: kind, domain: 'ok.example.com' } });
      appIds[kind] = app.body.result.id;
      const ca = await t.call('POST', scoped(kind, scopeId, `/access/apps/${appIds[kind]}/ca`), { token: victim.write });
      assert.equal(ca.status, 200);
    }
  });
  after(() => t.close());

  const snapshot = async () => ({
    apps: await t.db.selectFrom('access_apps').selectAll().orderBy('id').execute(),
    cas: await t.db.selectFrom('ssh_cas').selectAll().orderBy('id').execute(),
    keys: await t.db.selectFrom('ssh_ca_keys').select(['id', 'ca_id', 'state', 'public_key']).orderBy('id').execute(),
  });

  it('no credentials, malformed headers, unknown token, missing permission, another account, another zone', async () => {
    const noAccess = await t.identity.createToken({ accountId: victim.accountId, permissions: [IDP_READ] });
    const readOnly = await t.identity.createToken({ accountId: victim.accountId, permissions: [READ] });
    const otherZone = await t.identity.createZone(victim.accountId, 'other-zone.example.org');
    const otherZoneToken = await t.identity.createToken({ accountId: victim.accountId, zoneId: otherZone.id, permissions: [READ, 'Access: Apps and Policies Write'] });
    const secrets = [victim.write, victim.read, attacker.write, noAccess.value, readOnly.value, otherZoneToken.value, victim.apiKey, attacker.apiKey];
    const before = await snapshot();
    let calls = 0;

    for (const kind of ['account', 'zone'] as const) {
      const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
      for (const route of ROUTES) {
        const path = scoped(kind, scopeId, route.path(appIds[kind]));
        const cases: [string, Record<string, string>, number, number][] = [
          ['none', {}, 400, 9106],
          ['malformed bearer', { authorization: 'Basic dXNlcjpwYXNz' }, 400, 6003],
          ['lone email', { 'x-auth-email': victim.email }, 400, 6003],
          ['unknown token', { authorization: 'Bearer 0123456789abcdefghij0123456789abcdefghij' }, 403, 9109],
          ['unknown key', { 'x-auth-email': victim.email, 'x-auth-key': attacker.apiKey }, 403, 9103],
          ['no Access permission', { authorization: `Bearer ${noAccess.value}` }, 403, 9109],
          ['other account token', { authorization: `Bearer ${attacker.write}` }, 403, 10000],
          ['other account user', { 'x-auth-email': attacker.email, 'x-auth-key': attacker.apiKey }, 403, 10000],
          ['zone token of another zone', { authorization: `Bearer ${otherZoneToken.value}` }, 403, 10000],
        ];
        if (route.write) cases.push(['read-only token', { authorization: `Bearer ${readOnly.value}` }, 403, 9109]);
        for (const [name, headers, status, code] of cases) {
          const r = await t.call(route.method, path, { headers, ...(route.body ? { body: route.body } : {}) });
          calls++;
          const label = `${route.method} ${path} with ${name}`;
          assert.equal(r.status, status, `${label}: ${r.raw}`);
          assert.equal(r.body.success, false, label);
          assert.equal(r.body.errors[0].code, code, label);
          assert.equal(r.body.result, null, label);
          for (const s of secrets) assert.ok(!r.raw.includes(s), `${label} echoed a secret`);
        }
      }
    }
    assert.equal(calls, 2 * (9 * 9 + 5), `made ${calls} calls`);
    assert.deepEqual(await snapshot(), before);
  });

  it('the same requests with the right credential succeed, so the matrix above can fail', async () => {
    for (const kind of ['account', 'zone'] as const) {
      const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
      for (const route of ROUTES.filter((r) => r.method === 'GET')) {
        const r = await t.call('GET', scoped(kind, scopeId, route.path(appIds[kind])), { token: victim.read });
        assert.equal(r.status, 200, `${kind} ${route.path(appIds[kind])}`);
      }
    }
  });
});
