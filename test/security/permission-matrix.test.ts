import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { PERMISSION_GROUPS, APPS_READ, APPS_WRITE, AUDIT_READ, IDP_READ, IDP_WRITE, CERTS_SIGN, type PermissionGroup } from '../../src/identity/permission-groups.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

interface Route {
  method: string;
  path: (ids: { app: string; idp: string; appPolicy: string; policy: string; group: string }) => string;
  allowedBy: readonly PermissionGroup[];
  forms: readonly ('account' | 'zone')[];
  /** A request body; a function gets the victim's zone name, so that an app body names a host the victim may hold (a wrong credential let through would write). */
  body?: unknown | ((zoneName: string) => unknown);
  /** A read of an object that does not exist: with the right group it is 404, which still proves the matrix. */
  readMayBe404?: boolean;
}

const BOTH = ['account', 'zone'] as const;
const EVERYONE = { name: 'intruder', decision: 'allow', include: [{ everyone: {} }] };
const GROUPS_WRITE = [...APPS_WRITE, ...IDP_WRITE];
const GROUPS_READ = [...APPS_READ, ...IDP_READ];
/** An app at a host the victim's account may hold: refused only for the credential, never for the host. */
const EVIL_APP = (name: string) => (zoneName: string) => ({ name, domain: `evil.${zoneName}` });
const KEY = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

// Every scoped route: CONTRACT §1 and our extensions, each in every form it has.
const ROUTES: Route[] = [
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'DELETE', path: (i) => `/access/apps/${i.app}/ca`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'GET', path: () => '/access/apps/ca', allowedBy: APPS_READ, forms: BOTH },
  { method: 'POST', path: () => '/access/apps', allowedBy: APPS_WRITE, forms: BOTH, body: EVIL_APP('intruder') },
  { method: 'GET', path: () => '/access/apps', allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'PUT', path: (i) => `/access/apps/${i.app}`, allowedBy: APPS_WRITE, forms: BOTH, body: EVIL_APP('renamed') },
  { method: 'DELETE', path: (i) => `/access/apps/${i.app}`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/sign`, allowedBy: CERTS_SIGN, forms: BOTH, body: { public_key: KEY, principals: ['root'] } },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/policy`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'PUT', path: (i) => `/access/apps/${i.app}/ca/policy`, allowedBy: APPS_WRITE, forms: BOTH, body: { ttl: '1h' } },
  { method: 'POST', path: () => '/access/gateway_ca', allowedBy: APPS_WRITE, forms: ['account'] },
  { method: 'GET', path: () => '/access/gateway_ca', allowedBy: APPS_READ, forms: ['account'] },
  { method: 'DELETE', path: () => '/access/gateway_ca/0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f', allowedBy: APPS_WRITE, forms: ['account'], readMayBe404: true },
  { method: 'POST', path: () => '/access/gateway_ca/rotate', allowedBy: APPS_WRITE, forms: ['account'] },
  { method: 'PUT', path: () => '/infrastructure/targets/batch', allowedBy: APPS_WRITE, forms: ['account'], body: (zoneName: string) => [{ hostname: `evil.${zoneName}` }] },
  { method: 'POST', path: () => '/infrastructure/targets/batch_delete', allowedBy: APPS_WRITE, forms: ['account'], body: { target_ids: ['0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f'] } },
  { method: 'DELETE', path: () => '/infrastructure/targets/batch', allowedBy: APPS_WRITE, forms: ['account'], body: { target_ids: ['0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f'] } },
  { method: 'POST', path: () => '/access/identity_providers', allowedBy: IDP_WRITE, forms: ['account'], body: { name: 'evil', config: { issuer: 'https://evil.example', jwks_url: 'https://evil.example/jwks' } } },
  { method: 'GET', path: () => '/access/identity_providers', allowedBy: IDP_READ, forms: ['account'] },
  { method: 'GET', path: (i) => `/access/identity_providers/${i.idp}`, allowedBy: IDP_READ, forms: ['account'] },
  { method: 'PUT', path: (i) => `/access/identity_providers/${i.idp}`, allowedBy: IDP_WRITE, forms: ['account'], body: { name: 'evil', config: { issuer: 'https://evil.example', jwks_url: 'https://evil.example/jwks' } } },
  { method: 'DELETE', path: (i) => `/access/identity_providers/${i.idp}`, allowedBy: IDP_WRITE, forms: ['account'] },
  { method: 'GET', path: () => '/access/audit', allowedBy: AUDIT_READ, forms: ['account'] },
  { method: 'GET', path: () => '/access/logs/access_requests', allowedBy: AUDIT_READ, forms: ['account'] },
  { method: 'GET', path: () => '', allowedBy: PERMISSION_GROUPS, forms: BOTH },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/rotate`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/rotate/activate`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/rotate/retire`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/trusted_keys`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/certificates`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/certificates/${'a'.repeat(32)}`, allowedBy: APPS_READ, forms: BOTH, readMayBe404: true },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/certificates/${'a'.repeat(32)}/revoke`, allowedBy: APPS_WRITE, forms: BOTH, body: { reason: 'x' } },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/ca/certificates/revoke`, allowedBy: APPS_WRITE, forms: BOTH, body: { identity: 'a@example.com', reason: 'x' } },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/krl`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'POST', path: () => '/access/organizations/revoke_user', allowedBy: GROUPS_WRITE, forms: BOTH, body: { email: 'victim@example.com' } },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/revoke_tokens`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/revocations`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/ca/revocations/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, allowedBy: APPS_READ, forms: BOTH, readMayBe404: true },
  { method: 'DELETE', path: (i) => `/access/apps/${i.app}/ca/revocations/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, allowedBy: APPS_WRITE, forms: BOTH, readMayBe404: true },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/policies`, allowedBy: APPS_WRITE, forms: BOTH, body: EVERYONE },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/policies`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/apps/${i.app}/policies/${i.appPolicy}`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'PUT', path: (i) => `/access/apps/${i.app}/policies/${i.appPolicy}`, allowedBy: APPS_WRITE, forms: BOTH, body: EVERYONE },
  { method: 'DELETE', path: (i) => `/access/apps/${i.app}/policies/${i.appPolicy}`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'POST', path: (i) => `/access/apps/${i.app}/access_check`, allowedBy: APPS_READ, forms: BOTH, body: { email: 'a@example.com' } },
  { method: 'POST', path: () => '/access/policies', allowedBy: APPS_WRITE, forms: BOTH, body: EVERYONE },
  { method: 'GET', path: () => '/access/policies', allowedBy: APPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/policies/${i.policy}`, allowedBy: APPS_READ, forms: BOTH },
  { method: 'PUT', path: (i) => `/access/policies/${i.policy}`, allowedBy: APPS_WRITE, forms: BOTH, body: EVERYONE },
  { method: 'DELETE', path: (i) => `/access/policies/${i.policy}`, allowedBy: APPS_WRITE, forms: BOTH },
  { method: 'POST', path: () => '/access/groups', allowedBy: GROUPS_WRITE, forms: BOTH, body: { name: 'g', include: [{ everyone: {} }] } },
  { method: 'GET', path: () => '/access/groups', allowedBy: GROUPS_READ, forms: BOTH },
  { method: 'GET', path: (i) => `/access/groups/${i.group}`, allowedBy: GROUPS_READ, forms: BOTH },
  { method: 'PUT', path: (i) => `/access/groups/${i.group}`, allowedBy: GROUPS_WRITE, forms: BOTH, body: { name: 'g', include: [{ everyone: {} }] } },
  { method: 'DELETE', path: (i) => `/access/groups/${i.group}`, allowedBy: GROUPS_WRITE, forms: BOTH },
];

describe('security: every route refuses every wrong credential, and nothing changes', () => {
  let t: TestApp;
  let victim: Tenant;
  let attacker: Tenant;
  type Ids = { app: string; idp: string; appPolicy: string; policy: string; group: string };
  const ids: Record<'account' | 'zone', Ids> = { account: { app: '', idp: '', appPolicy: '', policy: '', group: '' }, zone: { app: '', idp: '', appPolicy: '', policy: '', group: '' } };
  let allGroups: string;

  before(async () => {
    t = await makeTestApp();
    victim = await t.tenant();
    attacker = await t.tenant();
    allGroups = (await t.identity.createToken({ accountId: victim.accountId, permissions: [...PERMISSION_GROUPS] })).value;
    const idp = await t.call('POST', scoped('account', victim.accountId, '/access/identity_providers'), { token: allGroups, body: { name: 'real', config: { issuer: 'https://idp.example', jwks: (await makeTestIdp()).jwks } } });
    assert.equal(idp.status, 201, idp.raw);
    for (const kind of BOTH) {
      const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
      const app = await t.call('POST', scoped(kind, scopeId, '/access/apps'), { token: victim.write, body: { name: kind, domain: `${kind}.ok.${victim.zoneName}` } });
      const made = async (path: string, body: unknown) => {
        const r = await t.call('POST', scoped(kind, scopeId, path), { token: allGroups, body });
        assert.equal(r.status, 201, r.raw);
        return r.body.result.id as string;
      };
      ids[kind] = {
        app: app.body.result.id, idp: idp.body.result.id,
        appPolicy: await made(`/access/apps/${app.body.result.id}/policies`, EVERYONE),
        policy: await made('/access/policies', EVERYONE),
        group: await made('/access/groups', { name: 'g', include: [{ everyone: {} }] }),
      };
      assert.equal((await t.call('POST', scoped(kind, scopeId, `/access/apps/${ids[kind].app}/ca`), { token: victim.write })).status, 200);
    }
  });
  after(() => t.close());

  const snapshot = async () => ({
    apps: await t.db.selectFrom('access_apps').selectAll().orderBy('id').execute(),
    cas: await t.db.selectFrom('ssh_cas').selectAll().orderBy('id').execute(),
    keys: await t.db.selectFrom('ssh_ca_keys').select(['id', 'ca_id', 'state', 'public_key']).orderBy('id').execute(),
    revocations: await t.db.selectFrom('ssh_revocations').selectAll().orderBy('id').execute(),
    idps: await t.db.selectFrom('identity_providers').selectAll().orderBy('id').execute(),
    policies: await t.db.selectFrom('ssh_cert_policies').selectAll().orderBy('app_id').execute(),
    certificates: await t.db.selectFrom('ssh_certificates').select('id').execute(),
    accessPolicies: await t.db.selectFrom('access_policies').selectAll().orderBy('id').execute(),
    links: await t.db.selectFrom('access_app_policies').selectAll().orderBy('policy_id').execute(),
    groups: await t.db.selectFrom('access_groups').selectAll().orderBy('id').execute(),
    // A refused request is not an admin change: it leaves no audit event either (the tokens this test makes as it goes do).
    audit: await t.db.selectFrom('audit_events').select(['id', 'type']).where('type', '!=', 'api_token.created').orderBy('id').execute(),
  });

  it('no credentials, malformed headers, unknown token, missing permission, another account, another zone', async () => {
    const otherZone = await t.identity.createZone(victim.accountId, 'other-zone.example.org');
    const otherZoneToken = await t.identity.createToken({ accountId: victim.accountId, zoneId: otherZone.id, permissions: [...PERMISSION_GROUPS] });
    const attackerAll = await t.identity.createToken({ accountId: attacker.accountId, permissions: [...PERMISSION_GROUPS] });
    const secrets = [victim.write, victim.read, attacker.write, otherZoneToken.value, attackerAll.value, allGroups, victim.apiKey, attacker.apiKey];
    const withoutGroups = new Map<string, string>();
    const tokenWithout = async (allowed: readonly PermissionGroup[]) => {
      const key = allowed.join('|');
      if (!withoutGroups.has(key)) {
        const groups = PERMISSION_GROUPS.filter((g) => !allowed.includes(g));
        const token = await t.identity.createToken({ accountId: victim.accountId, permissions: groups });
        withoutGroups.set(key, token.value);
        secrets.push(token.value);
      }
      return withoutGroups.get(key)!;
    };
    const before = await snapshot();
    let calls = 0;
    let expectedCalls = 0;

    for (const route of ROUTES) {
      for (const kind of route.forms) {
        const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
        const path = scoped(kind, scopeId, route.path(ids[kind]));
        const cases: [string, Record<string, string>, number, number][] = [
          ['none', {}, 400, 9106],
          ['malformed bearer', { authorization: 'Basic dXNlcjpwYXNz' }, 400, 6003],
          ['lone email', { 'x-auth-email': victim.email }, 400, 6003],
          ['unknown token', { authorization: 'Bearer 0123456789abcdefghij0123456789abcdefghij' }, 403, 9109],
          ['unknown key', { 'x-auth-email': victim.email, 'x-auth-key': attacker.apiKey }, 403, 9103],
          // A token holds at least one group: a route any group allows has no token without one.
          ...(route.allowedBy.length < PERMISSION_GROUPS.length
            ? [['every group but the ones that allow it', { authorization: `Bearer ${await tokenWithout(route.allowedBy)}` }, 403, 9109] as [string, Record<string, string>, number, number]]
            : []),
          ['other account token with every group', { authorization: `Bearer ${attackerAll.value}` }, 403, 10000],
          ['other account user', { 'x-auth-email': attacker.email, 'x-auth-key': attacker.apiKey }, 403, 10000],
          ['zone token of another zone, every group', { authorization: `Bearer ${otherZoneToken.value}` }, 403, 10000],
        ];
        expectedCalls += cases.length;
        for (const [name, headers, status, code] of cases) {
          const body = typeof route.body === 'function' ? route.body(victim.zoneName) : route.body;
          const r = await t.call(route.method, path, { headers, ...(body ? { body } : {}) });
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
    assert.equal(calls, expectedCalls);
    assert.equal(calls, 9 * (43 * 2 + 14) - 2);
    assert.deepEqual(await snapshot(), before);
  });

  it('the same reads with a token holding the right group succeed, so the matrix above can fail', async () => {
    for (const route of ROUTES.filter((r) => r.method === 'GET')) {
      for (const kind of route.forms) {
        const scopeId = kind === 'account' ? victim.accountId : victim.zoneId;
        const r = await t.call('GET', scoped(kind, scopeId, route.path(ids[kind])), { token: allGroups });
        assert.equal(r.status, route.readMayBe404 ? 404 : 200, `${kind} ${route.path(ids[kind])}: ${r.raw}`);
      }
    }
  });
});
