import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const newKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const everyone = { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] };

/** Every field SDK v7's self_hosted/ssh create types list, with values of the shapes Cloudflare takes. */
const webFields = (domain: string, idp: string) => ({
  allow_authenticate_via_warp: false,
  allow_iframe: true,
  allowed_idps: [idp],
  app_launcher_visible: false,
  auto_redirect_to_identity: true,
  cors_headers: {
    allow_all_headers: true, allow_all_methods: false, allow_all_origins: false, allow_credentials: true,
    allowed_headers: ['X-Requested-With'], allowed_methods: ['GET', 'POST'], allowed_origins: ['https://ops.example.com'], max_age: -1,
  },
  custom_deny_message: 'Ask #infra for access',
  custom_deny_url: 'https://ops.example.com/denied',
  custom_non_identity_deny_url: 'https://ops.example.com/denied-device',
  custom_pages: ['699d98642c564d2e855e9661899b7252'],
  destinations: [{ type: 'public', uri: domain }],
  eager_redirect_cookie_setting: false,
  enable_binding_cookie: true,
  http_only_cookie_attribute: false,
  logo_url: 'https://ops.example.com/logo.svg',
  mfa_config: { allowed_authenticators: ['totp'], mfa_disabled: true, session_duration: '24h' },
  oauth_configuration: {
    enabled: false,
    dynamic_client_registration: { allow_any_on_localhost: true, allow_any_on_loopback: false, allowed_uris: ['https://ops.example.com/cb'], enabled: false },
    grant: { access_token_lifetime: '5m', session_duration: '12h' },
  },
  options_preflight_bypass: false,
  path_cookie_attribute: true,
  read_service_tokens_from_header: 'Authorization',
  same_site_cookie_attribute: 'strict',
  scim_config: {
    idp_uid: idp, remote_uri: 'https://scim.example.com/v2', authentication: { scheme: 'httpbasic', user: 'provisioner', password: 'never-kept' },
    deactivate_on_delete: true, enabled: false,
    mappings: [{ schema: 'urn:ietf:params:scim:schemas:core:2.0:User', enabled: true, filter: 'userType eq "Employee"', operations: { create: true, delete: false, update: true }, strictness: 'strict', transform_jsonata: '$' }],
  },
  self_hosted_domains: [domain],
  service_auth_401_redirect: true,
  session_duration: '8h',
  skip_interstitial: true,
  tags: ['engineers', 'bastions'],
  use_clientless_isolation_app_launcher_url: false,
});

describe('the whole application and policy objects (HTTP, SQLite)', () => {
  let f: SigningFixture;
  let other: TestIdp;
  let otherIdpId: string;
  let idpId: string;
  const at = (path: string) => f.at(path);
  const post = (path: string, body: unknown) => f.t.call('POST', at(path), { token: f.admin, body });
  const put = (path: string, body: unknown) => f.t.call('PUT', at(path), { token: f.admin, body });
  const get = (path: string) => f.t.call('GET', at(path), { token: f.admin });
  const refused = (r: { status: number; raw: string; body: any }, pointer: string, message: RegExp) => {
    assert.equal(r.status, 400, r.raw);
    assert.equal(r.body.errors[0].code, 12130, r.raw);
    assert.equal(r.body.errors[0].source?.pointer, pointer, r.raw);
    assert.match(r.body.errors[0].message, message);
  };
  const host = () => `app-${randomUUID()}.example.com`;

  before(async () => {
    f = await makeSigningFixture('https://fields.example');
    other = await makeTestIdp('https://other-fields.example');
    idpId = (await get('/access/identity_providers')).body.result.find((p: any) => p.config?.issuer === f.idp.issuer || p.name === 'p').id;
    otherIdpId = (await post('/access/identity_providers', { name: 'other', config: { issuer: other.issuer, jwks: other.jwks } })).body.result.id;
  });
  after(async () => {
    await f.close();
    await other.close();
  });

  it('a self_hosted body with every field the SDK lists is stored and read back as written, SCIM credentials aside', async () => {
    const domain = host();
    const body = { name: 'every field', type: 'self_hosted', domain, ...webFields(domain, idpId) };
    const r = await post('/access/apps', body);
    assert.equal(r.status, 201, r.raw);
    const { password: _, ...authentication } = body.scim_config.authentication;
    const expected = { ...body, scim_config: { ...body.scim_config, authentication } };
    for (const [name, value] of Object.entries(expected)) assert.deepEqual(r.body.result[name], value, name);
    assert.equal(JSON.stringify(r.body.result).includes('never-kept'), false, 'a SCIM password is never returned');
    const row = await f.t.db.selectFrom('access_apps').select('settings').where('id', '=', r.body.result.id).executeTakeFirstOrThrow();
    assert.equal(row.settings.includes('never-kept'), false, 'nor stored');
    assert.deepEqual((await get(`/access/apps/${r.body.result.id}`)).body.result, r.body.result, 'a read returns what the write did');
    const listed = await get('/access/apps?per_page=1000');
    const page = listed.body.result.find((a: any) => a.id === r.body.result.id);
    assert.deepEqual({ ...page, policies: [] }, { ...r.body.result, policies: [] }, 'list pages show the whole object too');
  });

  it('an ssh (browser SSH) application takes the same fields', async () => {
    const domain = host();
    const r = await post('/access/apps', { name: 'browser ssh', type: 'ssh', domain, ...webFields(domain, idpId) });
    assert.equal(r.status, 201, r.raw);
    assert.deepEqual([r.body.result.type, r.body.result.tags, r.body.result.session_duration], ['ssh', ['engineers', 'bastions'], '8h']);
  });

  it('a PUT keeps the settings it leaves out, and null clears one (Terraform\'s way of dropping a field)', async () => {
    const domain = host();
    const app = (await post('/access/apps', { name: 'keep', domain, allowed_idps: [idpId], tags: ['a'], logo_url: 'https://x.example/l.svg' })).body.result;
    const renamed = await put(`/access/apps/${app.id}`, { name: 'renamed', domain, type: 'self_hosted', session_duration: '24h' });
    assert.equal(renamed.status, 200, renamed.raw);
    assert.deepEqual([renamed.body.result.allowed_idps, renamed.body.result.tags, renamed.body.result.logo_url], [[idpId], ['a'], 'https://x.example/l.svg'], 'the console\'s and the CLI\'s bodies drop nothing');
    const cleared = await put(`/access/apps/${app.id}`, { name: 'renamed', domain, allowed_idps: null, logo_url: null, tags: ['b'] });
    assert.equal(cleared.status, 200, cleared.raw);
    assert.deepEqual([cleared.body.result.allowed_idps, cleared.body.result.tags, 'logo_url' in cleared.body.result], [[], ['b'], false]);
  });

  it('refuses what it cannot honour, or what Cloudflare refuses, naming the field; writes nothing', async () => {
    const before = (await f.t.db.selectFrom('access_apps').select('id').execute()).length;
    const domain = host();
    const cases: [unknown, string, RegExp][] = [
      [{ name: 'x', domain, mfa_config: { allowed_authenticators: ['totp'] } }, '/mfa_config/mfa_disabled', /cannot require a second factor/],
      [{ name: 'x', domain, mfa_config: { allowed_authenticators: ['piv_key'], mfa_disabled: true } }, '/mfa_config/allowed_authenticators/0', /totp, biometrics, security_key/],
      [{ name: 'x', domain, destinations: [{ type: 'private', cidr: '10.0.0.0/8' }] }, '/destinations/0/type', /one public domain/],
      [{ name: 'x', domain, destinations: [{ type: 'public', uri: domain }, { type: 'public', uri: `b.${domain}` }] }, '/destinations/1/uri', /one domain/],
      [{ name: 'x', domain, destinations: [{ uri: domain, overrides: [{ behavior: 'public', path_pattern: '/health' }] }] }, '/destinations/0/overrides', /bypassing Access/],
      [{ name: 'x', domain, self_hosted_domains: [`other.${domain}`] }, '/self_hosted_domains/0', /one domain/],
      [{ name: 'x', domain, auto_redirect_to_identity: true }, '/auto_redirect_to_identity', /exactly one identity provider/],
      [{ name: 'x', domain, cors_headers: { allow_all_origins: true, allow_credentials: true } }, '/cors_headers/allow_credentials', /every origin/],
      [{ name: 'x', domain, cors_headers: { allow_all_headers: true }, options_preflight_bypass: true }, '/options_preflight_bypass', /cors_headers/],
      [{ name: 'x', domain, cors_headers: { allow_all_headers: true, max_age: 86_401 } }, '/cors_headers/max_age', /./],
      [{ name: 'x', domain, custom_deny_message: 'deny\u001b[31m' }, '/custom_deny_message', /./],
      [{ name: 'x', domain, tags: ['a\u0000'] }, '/tags/0', /./],
      [{ name: 'x', domain, same_site_cookie_attribute: 'sometimes' }, '/same_site_cookie_attribute', /./],
      [{ name: 'x', domain, target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['h'] } }] }, '/target_criteria', /only infrastructure applications/],
      [{ name: 'x', type: 'infrastructure', cors_headers: { allow_all_headers: true } }, '/cors_headers', /infrastructure applications do not take cors_headers/],
      [{ name: 'x', type: 'infrastructure', destinations: [{ uri: domain }] }, '/destinations', /do not take destinations/],
      [{ name: 'x', type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'RDP', target_attributes: { hostname: ['h'] } }] }, '/target_criteria/0/protocol', /./],
      [{ name: 'x', type: 'infrastructure', target_criteria: [{ port: 70000, protocol: 'SSH', target_attributes: { hostname: ['h'] } }] }, '/target_criteria/0/port', /./],
      [{ name: 'x', type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'SSH' }] }, '/target_criteria/0/target_attributes', /missing required field/],
      [{ name: 'x', type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['h'] }, include: { tags: { env: ['prod'] } } }] }, '/target_criteria/0/include', /not both/],
      [{ name: 'x', type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { 'bad\u0007key': ['h'] } }] }, '/target_criteria/0/target_attributes', /./],
    ];
    for (const [body, pointer, message] of cases) refused(await post('/access/apps', body), pointer, message);
    assert.equal((await f.t.db.selectFrom('access_apps').select('id').execute()).length, before);
  });

  it('destinations alone name the domain; a type change refuses settings the new type has no place for', async () => {
    const domain = host();
    const r = await post('/access/apps', { name: 'dest', destinations: [{ type: 'public', uri: domain }], cors_headers: { allow_all_headers: true } });
    assert.equal(r.status, 201, r.raw);
    assert.equal(r.body.result.domain, domain);
    refused(await put(`/access/apps/${r.body.result.id}`, { name: 'dest', type: 'infrastructure' }), '/cors_headers', /kept from before: send "cors_headers": null/);
    const moved = await put(`/access/apps/${r.body.result.id}`, { name: 'dest', type: 'infrastructure', cors_headers: null, target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['db-1'] } }] });
    assert.equal(moved.status, 200, moved.raw);
    assert.deepEqual(moved.body.result.target_criteria, [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['db-1'] } }]);
    assert.equal('cors_headers' in moved.body.result, false);
  });

  it('infrastructure: target_criteria and inline policies with connection_rules are stored; a later list replaces them, audited', async () => {
    const criteria = [
      { port: 22, protocol: 'SSH', target_attributes: { hostname: ['db-1', 'db-2'] } },
      { port: 2222, protocol: 'SSH', include: { tags: { env: ['prod'] }, target_attributes: { hostname: ['web-1'] } }, exclude: { tags: { tier: ['legacy'] } } },
    ];
    const policy = { name: 'deployers', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }], connection_rules: { ssh: { usernames: ['deploy', 'ops'], allow_email_alias: true } } };
    const r = await post('/access/apps', { name: 'fleet', type: 'infrastructure', target_criteria: criteria, policies: [policy] });
    assert.equal(r.status, 201, r.raw);
    const app = r.body.result;
    assert.deepEqual(app.target_criteria, criteria);
    assert.equal(app.policies.length, 1);
    assert.deepEqual([app.policies[0].name, app.policies[0].precedence, app.policies[0].connection_rules], ['deployers', 1, policy.connection_rules]);
    const first = app.policies[0].id;
    const row = await f.t.db.selectFrom('access_policies').select(['connection_rules', 'app_id']).where('id', '=', first).executeTakeFirstOrThrow();
    assert.deepEqual([JSON.parse(row.connection_rules!), row.app_id], [policy.connection_rules, app.id]);

    // What Terraform sends on an update: the policies again, inline and without ids.
    const again = await put(`/access/apps/${app.id}`, { name: 'fleet', type: 'infrastructure', target_criteria: criteria, policies: [{ ...policy, connection_rules: { ssh: { usernames: ['deploy'] } }, precedence: 1 }] });
    assert.equal(again.status, 200, again.raw);
    assert.equal(again.body.result.policies.length, 1, 'the list is the application\'s whole set: nothing piles up');
    assert.deepEqual(again.body.result.policies[0].connection_rules, { ssh: { usernames: ['deploy'], allow_email_alias: false } }, 'allow_email_alias defaults to false');
    assert.equal((await f.t.db.selectFrom('access_policies').select('id').where('id', '=', first).execute()).length, 0, 'the dropped policy is gone');
    const events = (await get(`/access/audit?subject=${first}`)).body.result.map((e: any) => e.type);
    assert.deepEqual(events.sort(), ['access_policy.created', 'access_policy.deleted']);
    // Keeping the policy by id, changing it inline.
    const kept = again.body.result.policies[0].id;
    const changed = await put(`/access/apps/${app.id}`, { name: 'fleet', type: 'infrastructure', policies: [{ id: kept, ...policy, name: 'renamed' }] });
    assert.equal(changed.status, 200, changed.raw);
    assert.deepEqual([changed.body.result.policies[0].id, changed.body.result.policies[0].name], [kept, 'renamed']);
    assert.deepEqual(changed.body.result.target_criteria, criteria, 'left out, the criteria stay');
  });

  it('connection_rules: only with allow, only on infrastructure applications\' policies, as Cloudflare', async () => {
    const infra = (await post('/access/apps', { name: 'infra', type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['h1'] } }] })).body.result;
    const web = (await post('/access/apps', { name: 'web', domain: host() })).body.result;
    const ssh = { ssh: { usernames: ['deploy'] } };
    refused(await post(`/access/apps/${infra.id}/policies`, { name: 'd', decision: 'deny', include: [{ everyone: {} }] }), '/decision', /can only allow/);
    refused(await post(`/access/apps/${infra.id}/policies`, { name: 'd', decision: 'deny', include: [{ everyone: {} }], connection_rules: ssh }), '/connection_rules', /go with decision allow/);
    refused(await post(`/access/apps/${web.id}/policies`, { ...everyone, connection_rules: ssh }), '/connection_rules', /only the policies of infrastructure applications/);
    refused(await post('/access/apps', { name: 'x', type: 'infrastructure', policies: [{ name: 'd', decision: 'deny', include: [{ everyone: {} }] }] }), '/policies/0/decision', /can only allow/);
    refused(await post('/access/apps', { name: 'x', type: 'infrastructure', policies: [{ name: 'p', include: [{ everyone: {} }] }] }), '/policies/0/decision', /missing required field/);
    refused(await post('/access/apps', { name: 'x', type: 'infrastructure', policies: [{ ...everyone, connection_rules: { ssh: { usernames: ['bad name'] } } }] }), '/policies/0/connection_rules/ssh/usernames/0', /./);
    const own = await post(`/access/apps/${infra.id}/policies`, { ...everyone, connection_rules: ssh });
    assert.equal(own.status, 201, own.raw);
    assert.deepEqual(own.body.result.connection_rules, { ssh: { usernames: ['deploy'], allow_email_alias: false } });

    // Reusable policies: with connection rules they suit infrastructure applications only, and they stay allow while one uses them.
    const reusable = await post('/access/policies', { ...everyone, name: 'infra logins', connection_rules: { ssh: { usernames: ['ops'] }, rdp: { allowed_clipboard_local_to_remote_formats: ['text'] } } });
    assert.equal(reusable.status, 201, reusable.raw);
    const rid = reusable.body.result.id;
    refused(await put(`/access/apps/${web.id}`, { name: 'web', domain: web.domain, policies: [rid] }), '/policies/0', /policy "infra logins": only the policies of infrastructure applications/);
    const linked = await put(`/access/apps/${infra.id}`, { name: 'infra', type: 'infrastructure', policies: [own.body.result.id, { id: rid, precedence: 2 }] });
    assert.equal(linked.status, 200, linked.raw);
    refused(await put(`/access/policies/${rid}`, { name: 'infra logins', decision: 'deny', include: [{ everyone: {} }], connection_rules: null }), '/decision', /application "infra"/);
    refused(await put(`/access/apps/${infra.id}`, { name: 'infra', type: 'self_hosted', domain: host(), target_criteria: null }), '/type', /only the policies of infrastructure applications take connection_rules/);
    const deny = (await post('/access/policies', { name: 'nobody', decision: 'deny', include: [{ everyone: {} }] })).body.result.id;
    refused(await put(`/access/apps/${infra.id}`, { name: 'infra', type: 'infrastructure', policies: [deny] }), '/policies/0', /policy "nobody": the policies of an infrastructure application can only allow/);
    refused(await put(`/access/apps/${web.id}`, { name: 'web', domain: web.domain, policies: [{ id: rid, approval_required: true }] }), '/policies/0', /reusable: change it at \/access\/policies/);
  });

  it('policies take every field the SDK lists; approval and justification are stored, isolation and a second factor refused', async () => {
    const body = {
      ...everyone, name: 'all fields',
      approval_groups: [{ approvals_needed: 1, email_addresses: ['lead@example.com'], email_list_uuid: '597147a1-976b-4ef2-9af0-81d5d007fc34' }],
      approval_required: true, isolation_required: false, purpose_justification_required: true, purpose_justification_prompt: 'Which ticket?',
      mfa_config: { allowed_authenticators: ['security_key'], mfa_disabled: true, session_duration: '1h' }, session_duration: '30m',
      exclude: [{ email: { email: 'eve@example.com' } }], require: [{ email_domain: { domain: 'example.com' } }],
    };
    const reusable = await post('/access/policies', body);
    assert.equal(reusable.status, 201, reusable.raw);
    for (const [name, value] of Object.entries(body)) assert.deepEqual(reusable.body.result[name], value, name);
    assert.deepEqual((await get(`/access/policies/${reusable.body.result.id}`)).body.result, reusable.body.result);
    const kept = await put(`/access/policies/${reusable.body.result.id}`, { ...everyone, name: 'all fields' });
    assert.deepEqual([kept.body.result.approval_required, kept.body.result.purpose_justification_prompt], [true, 'Which ticket?'], 'left out, they stay');
    const cleared = await put(`/access/policies/${reusable.body.result.id}`, { ...everyone, name: 'all fields', approval_required: null, approval_groups: null });
    assert.deepEqual([cleared.body.result.approval_required, cleared.body.result.approval_groups], [false, []]);
  });

  it('enforced at issuance: allowed_idps, approval_required, purpose_justification_required and the session duration', async () => {
    const certSign = async (idp: TestIdp, claims: Record<string, unknown> = {}, issuedAt?: number) =>
      f.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: newKey(), jwt: await idp.sign({ aud: [f.app.aud], email: 'ann@example.com', ...claims }, issuedAt === undefined ? {} : { issuedAt }) } });
    const check = async (idp: string, claims: Record<string, unknown> = {}) =>
      (await post(`/access/apps/${f.app.id}/access_check`, { email: 'ann@example.com', identity_provider_id: idp, claims })).body.result;
    const app = (await get(`/access/apps/${f.app.id}`)).body.result;
    const base = { name: app.name, domain: app.domain };
    assert.equal((await certSign(other)).status, 200, 'before: any provider of the account');

    assert.equal((await put(`/access/apps/${f.app.id}`, { ...base, allowed_idps: [idpId] })).status, 200);
    const foreign = await certSign(other);
    assert.equal(foreign.status, 403, foreign.raw);
    assert.match(foreign.body.message, /allowed identity providers \(allowed_idps\)/);
    assert.equal((await certSign(f.idp)).status, 200, 'the allowed provider still signs in');
    assert.deepEqual([(await check(otherIdpId)).allowed, (await check(idpId)).allowed], [false, true]);
    const inUse = await f.t.call('DELETE', at(`/access/identity_providers/${idpId}`), { token: f.admin });
    assert.equal(inUse.status, 409, inUse.raw);
    assert.match(inUse.body.errors[0].message, /application "app"/);
    assert.equal((await put(`/access/apps/${f.app.id}`, { ...base, allowed_idps: null })).status, 200);

    const policy = app.policies[0];
    const gate = async (fields: Record<string, unknown>, message: RegExp) => {
      assert.equal((await put(`/access/apps/${f.app.id}/policies/${policy.id}`, { ...everyone, ...fields })).status, 200);
      const r = await certSign(f.idp);
      assert.equal(r.status, 403, r.raw);
      assert.match(r.body.message, message);
      const dry = await check(idpId);
      assert.deepEqual([dry.decision, dry.allowed, dry.policy?.id], ['allow', false, policy.id]);
      assert.match(dry.reason, message);
    };
    await gate({ approval_required: true }, /requires an administrator's approval \(approval_required\), and access-ca takes no access requests yet/);
    await gate({ approval_required: null, purpose_justification_required: true }, /requires a purpose justification \(purpose_justification_required\)/);
    assert.equal((await put(`/access/apps/${f.app.id}/policies/${policy.id}`, { ...everyone, purpose_justification_required: false })).status, 200);
    assert.equal((await certSign(f.idp)).status, 200);

    // The session duration: how long a sign-in is good for certificates. The policy's replaces the application's.
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    assert.equal((await certSign(f.idp, {}, hourAgo)).status, 200, 'within the default 24h');
    assert.equal((await put(`/access/apps/${f.app.id}`, { ...base, session_duration: '30m' })).status, 200);
    const stale = await certSign(f.idp, {}, hourAgo);
    assert.equal(stale.status, 403, stale.raw);
    assert.match(stale.body.message, /older than application "app"'s session duration \(30m\): sign in again/);
    assert.equal((await certSign(f.idp)).status, 200, 'a fresh sign-in');
    assert.equal((await put(`/access/apps/${f.app.id}/policies/${policy.id}`, { ...everyone, session_duration: '2h' })).status, 200);
    assert.equal((await certSign(f.idp, {}, hourAgo)).status, 200, 'the policy\'s 2h replaces the application\'s 30m');
    assert.equal((await put(`/access/apps/${f.app.id}`, { ...base, session_duration: '24h' })).status, 200);
    assert.equal((await put(`/access/apps/${f.app.id}/policies/${policy.id}`, { ...everyone, session_duration: null })).status, 200);
  });
});
