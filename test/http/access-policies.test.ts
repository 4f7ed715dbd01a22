import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';

const ALL = ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'];
const allow = (name: string, include: unknown[], more: Record<string, unknown> = {}) => ({ name, decision: 'allow', include, ...more });
const POLICY_KEYS = ['approval_groups', 'approval_required', 'created_at', 'decision', 'exclude', 'id', 'include', 'isolation_required', 'name', 'precedence', 'purpose_justification_required', 'require', 'session_duration', 'updated_at'];

describe('Access policies and groups: Cloudflare\'s routes and shapes, account and zone form', () => {
  let t: TestApp;
  let tenant: Tenant;
  let admin: string;
  let idpId: string;

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ALL })).value;
    const idp = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'idp', config: { issuer: 'https://p.example', jwks: (await makeTestIdp()).jwks } } });
    idpId = idp.body.result.id;
  });
  after(() => t.close());

  for (const kind of ['account', 'zone'] as const) {
    const at = (path: string) => scoped(kind, kind === 'account' ? tenant.accountId : tenant.zoneId, path);
    const newApp = async () => (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'a', domain: `${randomUUID()}.${tenant.zoneName}` } })).body.result;

    it(`${kind}: application policies — create (precedence assigned), list in order, get, update, delete`, async () => {
      const app = await newApp();
      const path = at(`/access/apps/${app.id}/policies`);
      const first = await t.call('POST', path, { token: admin, body: allow('staff', [{ email_domain: { domain: 'Example.com' } }], { exclude: [{ email: { email: 'mallory@example.com' } }] }) });
      assert.equal(first.status, 201, first.raw);
      const p = first.body.result;
      assert.deepEqual(Object.keys(p).sort(), POLICY_KEYS);
      assert.match(p.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4/);
      assert.equal(p.precedence, 1);
      assert.equal(p.session_duration, '24h');
      assert.deepEqual(p.include, [{ email_domain: { domain: 'example.com' } }]);
      assert.deepEqual(p.exclude, [{ email: { email: 'mallory@example.com' } }]);
      assert.deepEqual(p.require, []);
      assert.deepEqual([p.approval_groups, p.approval_required, p.isolation_required, p.purpose_justification_required], [[], false, false, false], 'Cloudflare\'s defaults');
      const second = (await t.call('POST', path, { token: admin, body: allow('ops', [{ login_method: { id: idpId } }], { precedence: 7, session_duration: '1h' }) })).body.result;
      assert.equal(second.precedence, 7);
      const listed = await t.call('GET', path, { token: tenant.read });
      assert.deepEqual(listed.body.result.map((x: any) => x.name), ['staff', 'ops']);
      assert.equal(listed.body.result_info.total_count, 2);
      assert.deepEqual((await t.call('GET', `${path}/${p.id}`, { token: tenant.read })).body.result, p);
      const put = await t.call('PUT', `${path}/${p.id}`, { token: admin, body: { name: 'staff2', decision: 'deny', include: [{ everyone: {} }], precedence: 9 } });
      assert.equal(put.status, 200, put.raw);
      assert.deepEqual([put.body.result.name, put.body.result.decision, put.body.result.precedence], ['staff2', 'deny', 9]);
      const clash = await t.call('PUT', `${path}/${p.id}`, { token: admin, body: { name: 'x', decision: 'deny', include: [{ everyone: {} }], precedence: 7 } });
      assert.equal(clash.status, 400);
      assert.equal(clash.body.errors[0].source.pointer, '/precedence');
      assert.equal((await t.call('GET', at(`/access/apps/${app.id}`), { token: tenant.read })).body.result.policies.length, 2, 'the app shows its policies');
      const del = await t.call('DELETE', `${path}/${p.id}`, { token: admin });
      assert.deepEqual([del.status, del.body.result], [202, { id: p.id }]);
      assert.equal((await t.call('GET', `${path}/${p.id}`, { token: tenant.read })).status, 404);
      assert.equal((await t.call('DELETE', at(`/access/apps/${app.id}`), { token: admin })).status, 202);
      assert.equal((await t.db.selectFrom('access_policies').select('id').where('id', '=', second.id).execute()).length, 0, 'the app\'s own policies go with it');
    });

    it(`${kind}: reusable policies attach through the app's policies list, are returned in it, and cannot be deleted while used`, async () => {
      const path = at('/access/policies');
      const made = await t.call('POST', path, { token: admin, body: allow('everyone', [{ everyone: {} }]) });
      assert.equal(made.status, 201, made.raw);
      assert.equal(made.body.result.reusable, true);
      assert.equal(made.body.result.app_count, 0);
      const deny = (await t.call('POST', path, { token: admin, body: { name: 'no partners', decision: 'deny', include: [{ email_domain: { domain: 'partner.example' } }] } })).body.result;
      const app = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'r', domain: `${randomUUID()}.${tenant.zoneName}`, policies: [{ id: deny.id, precedence: 1 }, made.body.result.id] } })).body.result;
      assert.deepEqual(app.policies.map((p: any) => [p.name, p.precedence, p.reusable]), [['no partners', 1, true], ['everyone', 2, true]]);
      assert.equal((await t.call('GET', `${path}/${deny.id}`, { token: tenant.read })).body.result.app_count, 1);
      const inUse = await t.call('DELETE', `${path}/${deny.id}`, { token: admin });
      assert.equal(inUse.status, 409);
      assert.equal(inUse.body.errors[0].code, 12133);
      assert.equal(inUse.headers['x-should-retry'], 'false');
      const viaApp = await t.call('DELETE', at(`/access/apps/${app.id}/policies/${deny.id}`), { token: admin });
      assert.equal(viaApp.status, 400, 'a reusable policy is not deleted through one app');
      const updated = await t.call('PUT', at(`/access/apps/${app.id}`), { token: admin, body: { name: 'r', domain: app.domain, policies: [made.body.result.id] } });
      assert.equal(updated.status, 200, updated.raw);
      assert.deepEqual(updated.body.result.policies.map((p: any) => p.name), ['everyone']);
      const kept = await t.call('PUT', at(`/access/apps/${app.id}`), { token: admin, body: { name: 'renamed', domain: app.domain } });
      assert.deepEqual(kept.body.result.policies.map((p: any) => p.name), ['everyone'], 'a PUT without policies keeps them');
      assert.equal((await t.call('DELETE', `${path}/${deny.id}`, { token: admin })).status, 202);
      const listed = await t.call('GET', path, { token: tenant.read });
      assert.deepEqual(listed.body.result.map((p: any) => p.name), ['everyone']);
      const missing = await t.call('PUT', at(`/access/apps/${app.id}`), { token: admin, body: { name: 'r', domain: app.domain, policies: [deny.id] } });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.errors[0].source.pointer, '/policies/0');
    });

    it(`${kind}: groups — create, list, get, update, delete; in use refuses delete`, async () => {
      const path = at('/access/groups');
      const g = await t.call('POST', path, { token: admin, body: { name: 'admins', include: [{ email: { email: 'root@example.com' } }, { oidc: { claim_name: 'groups', claim_value: 'admins', identity_provider_id: idpId } }] } });
      assert.equal(g.status, 201, g.raw);
      assert.deepEqual(Object.keys(g.body.result).sort(), ['created_at', 'exclude', 'id', 'include', 'name', 'require', 'updated_at']);
      const id = g.body.result.id;
      assert.deepEqual((await t.call('GET', `${path}/${id}`, { token: tenant.read })).body.result, g.body.result);
      assert.ok((await t.call('GET', path, { token: tenant.read })).body.result.some((x: any) => x.id === id));
      const put = await t.call('PUT', `${path}/${id}`, { token: admin, body: { name: 'admins', include: [{ email_domain: { domain: 'example.com' } }], require: [{ ip: { ip: '10.0.0.0/8' } }] } });
      assert.equal(put.status, 200, put.raw);
      assert.deepEqual(put.body.result.require, [{ ip: { ip: '10.0.0.0/8' } }]);
      const self = await t.call('PUT', `${path}/${id}`, { token: admin, body: { name: 'loop', include: [{ group: { id } }] } });
      assert.equal(self.status, 400);
      const app = await newApp();
      const p = await t.call('POST', at(`/access/apps/${app.id}/policies`), { token: admin, body: allow('not admins', [{ everyone: {} }], { exclude: [{ group: { id } }] }) });
      assert.equal(p.status, 201, p.raw);
      const inUse = await t.call('DELETE', `${path}/${id}`, { token: admin });
      assert.equal(inUse.status, 409);
      assert.match(inUse.body.errors[0].message, /policy "not admins"/);
      await t.call('DELETE', at(`/access/apps/${app.id}/policies/${p.body.result.id}`), { token: admin });
      assert.equal((await t.call('DELETE', `${path}/${id}`, { token: admin })).status, 202);
    });
  }

  it('refuses what it cannot enforce, naming the field; writes nothing', async () => {
    const app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'x', domain: `${randomUUID()}.example.com` } })).body.result;
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/policies`);
    const before = await t.db.selectFrom('access_policies').select('id').execute();
    const cases: [unknown, string, RegExp][] = [
      [{ name: 'b', decision: 'bypass', include: [{ everyone: {} }] }, '/decision', /a certificate always needs a person/],
      [{ name: 'b', decision: 'non_identity', include: [{ everyone: {} }] }, '/decision', /a certificate always needs a person/],
      [{ name: 'b', decision: 'maybe', include: [{ everyone: {} }] }, '/decision', /allow or deny/],
      [{ name: 'b', decision: 'allow', include: [] }, '/include', /at least one include rule/],
      [{ name: 'b', decision: 'allow' }, '/include', /missing required field/],
      [{ name: 'b', decision: 'allow', include: [{ geo: { country_code: 'US' } }] }, '/include/0', /rule type "geo" is not supported/],
      [{ name: 'b', decision: 'allow', include: [{ everyone: {} }], require: [{ device_posture: { integration_uid: 'x' } }] }, '/require/0', /"device_posture" is not supported/],
      [{ name: 'b', decision: 'allow', include: [{ group: { id: randomUUID() } }] }, '/include', /no Access group/],
      [{ name: 'b', decision: 'allow', include: [{ login_method: { id: randomUUID() } }] }, '/include', /no identity provider/],
      // approval_required is stored and refuses at issuance (test/http/app-fields.test.ts); isolation and a second factor cannot be honoured.
      [{ name: 'b', decision: 'allow', include: [{ everyone: {} }], isolation_required: true }, '/isolation_required', /isolated browser/],
      [{ name: 'b', decision: 'allow', include: [{ everyone: {} }], mfa_config: {} }, '/mfa_config/mfa_disabled', /second factor/],
      [{ name: 'b', decision: 'allow', include: [{ everyone: {} }], connection_rules: { ssh: { usernames: ['deploy'] } } }, '/connection_rules', /only the policies of infrastructure applications/],
      [{ name: 'b', decision: 'allow', include: [{ everyone: {} }], device_posture: true }, '/device_posture', /unknown field/],
      [{ name: 'bad\u001b[31m', decision: 'allow', include: [{ everyone: {} }] }, '/name', /./],
    ];
    for (const [body, pointer, message] of cases) {
      const r = await t.call('POST', path, { token: admin, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, 12130);
      assert.equal(r.body.errors[0].source?.pointer, pointer, r.raw);
      assert.match(r.body.errors[0].message, message);
    }
    const off = await t.call('POST', path, { token: admin, body: { name: 'ok', decision: 'allow', include: [{ everyone: {} }], approval_required: false, isolation_required: false, purpose_justification_required: false, approval_groups: [] } });
    assert.equal(off.status, 201, 'the "off" values of unmodelled features are taken');
    const reusable = await t.call('POST', scoped('account', tenant.accountId, '/access/policies'), { token: admin, body: { name: 'r', decision: 'allow', include: [{ everyone: {} }], precedence: 1 } });
    assert.equal(reusable.status, 400);
    assert.equal(reusable.body.errors[0].source.pointer, '/precedence');
    const after = await t.db.selectFrom('access_policies').select('id').execute();
    assert.equal(after.length, before.length + 1);
  });

  it('a provider named by a rule cannot be removed; another email_claim needs email_verified_required: false', async () => {
    const other = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'q', config: { issuer: `https://q-${randomUUID()}.example`, jwks: (await makeTestIdp()).jwks } } });
    const q = other.body.result.id;
    const g = await t.call('POST', scoped('account', tenant.accountId, '/access/groups'), { token: admin, body: { name: 'q users', include: [{ login_method: { id: q } }] } });
    const del = await t.call('DELETE', scoped('account', tenant.accountId, `/access/identity_providers/${q}`), { token: admin });
    assert.equal(del.status, 409);
    assert.match(del.body.errors[0].message, /group "q users"/);
    await t.call('DELETE', scoped('account', tenant.accountId, `/access/groups/${g.body.result.id}`), { token: admin });
    assert.equal((await t.call('DELETE', scoped('account', tenant.accountId, `/access/identity_providers/${q}`), { token: admin })).status, 202);
    const upn = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'azure', config: { issuer: 'https://azure.example', jwks: (await makeTestIdp()).jwks, email_claim: 'upn' } } });
    assert.equal(upn.status, 400);
    assert.equal(upn.body.errors[0].source.pointer, '/config/email_verified_required');
    const ok = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'azure', config: { issuer: 'https://azure.example', jwks: (await makeTestIdp()).jwks, email_claim: 'upn', email_verified_required: false } } });
    assert.equal(ok.status, 201, ok.raw);
  });

  it('a zone cannot use another zone\'s group, and an account token\'s groups are the account\'s', async () => {
    const zoneGroup = await t.call('POST', scoped('zone', tenant.zoneId, '/access/groups'), { token: admin, body: { name: 'z', include: [{ everyone: {} }] } });
    const app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'x', domain: `${randomUUID()}.example.com` } })).body.result;
    const r = await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/policies`), { token: admin, body: allow('p', [{ group: { id: zoneGroup.body.result.id } }]) });
    assert.equal(r.status, 400, 'an account-level policy cannot name a zone\'s group');
    const other = await t.tenant();
    const otherAdmin = (await t.identity.createToken({ accountId: other.accountId, permissions: ALL })).value;
    assert.equal((await t.call('GET', scoped('account', other.accountId, `/access/groups/${zoneGroup.body.result.id}`), { token: otherAdmin })).status, 404);
  });
});
