import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Cloudflare from 'cloudflare';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';

/** The whole application and policy objects through the official SDK v7, against a real server process. */
describe('contract: applications and policies, every field, through SDK v7', () => {
  let server: ServerProcess;
  let idp: TestIdp;
  let idpId: string;
  before(async () => {
    server = await startServer();
    idp = await makeTestIdp('https://sdk-fields.example');
    const made = await fetch(`${server.base}/accounts/${server.accountId}/access/identity_providers`, {
      method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'corp', config: { issuer: idp.issuer, jwks: idp.jwks } }),
    });
    assert.equal(made.status, 201);
    idpId = ((await made.json()) as { result: { id: string } }).result.id;
  });
  after(async () => {
    await server.stop();
    await idp.close();
  });

  const v7 = () => new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 0 } as any);
  const account = () => ({ account_id: server.accountId });

  it('applications.create with type infrastructure and target_criteria (and an inline policy); get, update, list', async () => {
    const client = v7();
    const target_criteria = [
      { port: 22, protocol: 'SSH' as const, target_attributes: { hostname: ['db-1', 'db-2'] } },
      { port: 2222, protocol: 'SSH' as const, include: { tags: { env: ['prod'] } }, exclude: { target_attributes: { hostname: ['db-9'] } } },
    ];
    const policies = [{ name: 'dbas', decision: 'allow' as const, include: [{ email_domain: { domain: 'example.com' } }], connection_rules: { ssh: { usernames: ['postgres'], allow_email_alias: true } } }];
    const app: any = await client.zeroTrust.access.applications.create({ ...account(), type: 'infrastructure', name: 'databases', target_criteria, policies });
    assert.equal(app.type, 'infrastructure');
    assert.deepEqual(app.target_criteria, target_criteria);
    assert.deepEqual([app.policies.length, app.policies[0].name, app.policies[0].precedence, app.policies[0].connection_rules], [1, 'dbas', 1, policies[0]!.connection_rules]);
    assert.equal(app.session_duration, undefined, 'Cloudflare gives infrastructure applications none');
    assert.deepEqual(await client.zeroTrust.access.applications.get(app.id, account()), app);
    const updated: any = await client.zeroTrust.access.applications.update(app.id, { ...account(), type: 'infrastructure', name: 'databases', target_criteria: [target_criteria[0]!] } as any);
    assert.deepEqual(updated.target_criteria, [target_criteria[0]]);
    assert.equal(updated.policies.length, 1, 'left out, the policies stay');
    const listed: any[] = [];
    for await (const a of client.zeroTrust.access.applications.list({ ...account(), per_page: 1 } as any)) listed.push(a);
    assert.ok(listed.some((a) => a.id === app.id && JSON.stringify(a.target_criteria) === JSON.stringify([target_criteria[0]])));
  });

  it('applications.policies.create with connection_rules; refused with the wrong decision or on another type', async () => {
    const client = v7();
    const infra: any = await client.zeroTrust.access.applications.create({ ...account(), type: 'infrastructure', name: 'hosts', target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['web-1'] } }] });
    const made: any = await client.zeroTrust.access.applications.policies.create(infra.id, {
      ...account(), name: 'web admins', decision: 'allow', include: [{ email: { email: 'ann@example.com' } }], connection_rules: { ssh: { usernames: ['deploy', 'www-data'] } },
    } as any);
    assert.deepEqual(made.connection_rules, { ssh: { usernames: ['deploy', 'www-data'], allow_email_alias: false } });
    assert.equal(made.precedence, 1);
    assert.deepEqual(await client.zeroTrust.access.applications.policies.get(made.id, { ...account(), app_id: infra.id }), made);
    const updated: any = await client.zeroTrust.access.applications.policies.update(made.id, {
      ...account(), app_id: infra.id, name: 'web admins', decision: 'allow', include: [{ email: { email: 'ann@example.com' } }], connection_rules: { ssh: { usernames: ['deploy'], allow_email_alias: true } },
    } as any);
    assert.deepEqual(updated.connection_rules, { ssh: { usernames: ['deploy'], allow_email_alias: true } });
    const deny = await client.zeroTrust.access.applications.policies.create(infra.id, { ...account(), name: 'no', decision: 'deny', include: [{ everyone: {} }] } as any).catch((e) => e);
    assert.ok(deny instanceof Cloudflare.BadRequestError, String(deny));
    assert.equal((deny as any).errors[0].code, 12130);
    const web: any = await client.zeroTrust.access.applications.create({ ...account(), type: 'self_hosted', name: 'web', domain: `web-${randomUUID()}.example.com` });
    const wrong = await client.zeroTrust.access.applications.policies.create(web.id, { ...account(), name: 'x', decision: 'allow', include: [{ everyone: {} }], connection_rules: { ssh: { usernames: ['root'] } } } as any).catch((e) => e);
    assert.ok(wrong instanceof Cloudflare.BadRequestError, String(wrong));
    assert.match((wrong as any).errors[0].message, /only the policies of infrastructure applications take connection_rules/);
  });

  it('a self_hosted body with every documented field, and reusable policies with every field, read back as written', async () => {
    const client = v7();
    const domain = `every-${randomUUID()}.example.com`;
    const reusable: any = await client.zeroTrust.access.policies.create({
      ...account(), name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }],
      exclude: [{ email: { email: 'eve@example.com' } }], require: [{ login_method: { id: idpId } }],
      approval_groups: [{ approvals_needed: 1, email_addresses: ['lead@example.com'] }], approval_required: false, isolation_required: false,
      purpose_justification_prompt: 'Which ticket?', purpose_justification_required: false,
      mfa_config: { allowed_authenticators: ['totp'], mfa_disabled: true, session_duration: '1h' },
      connection_rules: { rdp: { allowed_clipboard_local_to_remote_formats: ['text'], allowed_clipboard_remote_to_local_formats: [] } },
      session_duration: '12h',
    } as any);
    assert.deepEqual(await client.zeroTrust.access.policies.get(reusable.id, account()), reusable);
    assert.deepEqual([reusable.purpose_justification_prompt, reusable.session_duration, reusable.reusable, reusable.app_count], ['Which ticket?', '12h', true, 0]);
    // One with connection rules suits only infrastructure applications; the web application links a plain one.
    const plain: any = await client.zeroTrust.access.policies.create({ ...account(), name: 'plain', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] } as any);

    const body = {
      type: 'self_hosted' as const, name: 'every field', domain,
      allow_authenticate_via_warp: false, allow_iframe: false, allowed_idps: [idpId], app_launcher_visible: true, auto_redirect_to_identity: true,
      cors_headers: { allow_all_headers: true, allow_all_methods: true, allowed_origins: ['https://ops.example.com'], allow_credentials: true, max_age: 600 },
      custom_deny_message: 'No.', custom_deny_url: 'https://ops.example.com/no', custom_non_identity_deny_url: 'https://ops.example.com/device', custom_pages: ['699d98642c564d2e855e9661899b7252'],
      destinations: [{ type: 'public' as const, uri: domain }], eager_redirect_cookie_setting: true, enable_binding_cookie: false, http_only_cookie_attribute: true,
      logo_url: 'https://ops.example.com/logo.svg', mfa_config: { mfa_disabled: true },
      oauth_configuration: { enabled: false, dynamic_client_registration: { enabled: false, allowed_uris: ['https://ops.example.com/cb'] }, grant: { access_token_lifetime: '5m', session_duration: '1h' } },
      options_preflight_bypass: false, path_cookie_attribute: false, policies: [{ id: plain.id, precedence: 1 }],
      read_service_tokens_from_header: 'cf-access-token', same_site_cookie_attribute: 'lax',
      scim_config: { idp_uid: idpId, remote_uri: 'https://scim.example.com', authentication: { scheme: 'oauthbearertoken' as const, token: 'secret-token' }, enabled: false, mappings: [{ schema: 'urn:ietf:params:scim:schemas:core:2.0:User' }] },
      self_hosted_domains: [domain], service_auth_401_redirect: false, session_duration: '6h', skip_interstitial: false, tags: ['sdk'], use_clientless_isolation_app_launcher_url: false,
    };
    const app: any = await client.zeroTrust.access.applications.create({ ...account(), ...body } as any);
    for (const [name, value] of Object.entries(body)) {
      if (name === 'policies' || name === 'scim_config') continue;
      assert.deepEqual(app[name], value, name);
    }
    assert.deepEqual(app.scim_config.authentication, { scheme: 'oauthbearertoken' }, 'the token is taken, never returned');
    assert.deepEqual([app.policies[0].id, app.policies[0].name, app.policies[0].precedence], [plain.id, 'plain', 1]);
    assert.deepEqual(await client.zeroTrust.access.applications.get(app.id, account()), app);
    const updated: any = await client.zeroTrust.access.applications.update(app.id, { ...account(), type: 'self_hosted', name: 'every field', domain, tags: null, cors_headers: null } as any);
    assert.deepEqual([updated.tags, updated.cors_headers, updated.custom_deny_message, updated.allowed_idps], [[], undefined, 'No.', [idpId]], 'null clears; left out stays');
  });
});
