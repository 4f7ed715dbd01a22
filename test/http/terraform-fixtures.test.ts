import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';
import { ROOT } from '../helpers/server-process.ts';

/**
 * How the Terraform provider (v5) compares what it reads with what it planned, per resource: the
 * attributes its model has (others in a response are never read), which are computed (a value it did not
 * plan is taken, not a diff), which lists are sets, and where its read normalizers treat `false` or `[]`
 * as unset (internal/services/<resource>/{model,schema,normalizations,plan_modifiers}.go). A diff here is
 * a change `terraform plan` would show right after `apply`.
 */
interface Model {
  deleted?: number;
  attributes: string[];
  computed: string[];
  falseIsNull: string[];
  emptyIsNull: string[];
  sets: string[];
}
const WEB_FALSE = ['service_auth_401_redirect', 'enable_binding_cookie', 'options_preflight_bypass', 'auto_redirect_to_identity', 'skip_interstitial', 'allow_iframe', 'path_cookie_attribute'];
const MODELS: Record<string, Model> = {
  application: {
    attributes: ['id', 'aud', 'allow_authenticate_via_warp', 'allow_iframe', 'app_launcher_logo_url', 'bg_color', 'custom_deny_message', 'custom_deny_url', 'custom_non_identity_deny_url',
      'domain', 'header_bg_color', 'logo_url', 'name', 'options_preflight_bypass', 'read_service_tokens_from_header', 'same_site_cookie_attribute', 'service_auth_401_redirect',
      'skip_interstitial', 'type', 'allowed_idps', 'custom_pages', 'cors_headers', 'footer_links', 'oauth_configuration', 'scim_config', 'target_criteria', 'app_launcher_visible',
      'auto_redirect_to_identity', 'enable_binding_cookie', 'http_only_cookie_attribute', 'path_cookie_attribute', 'session_duration', 'skip_app_launcher_login_page',
      'self_hosted_domains', 'tags', 'destinations', 'landing_page_design', 'mfa_config', 'policies', 'saas_app'],
    computed: ['id', 'aud', 'domain', 'name', 'type', 'app_launcher_visible', 'http_only_cookie_attribute', 'session_duration', 'skip_app_launcher_login_page', 'self_hosted_domains', 'destinations'],
    falseIsNull: WEB_FALSE,
    emptyIsNull: ['allowed_idps', 'policies', 'tags'],
    sets: ['tags', 'self_hosted_domains'],
  },
  policy: {
    attributes: ['id', 'decision', 'name', 'approval_required', 'isolation_required', 'purpose_justification_prompt', 'purpose_justification_required', 'approval_groups',
      'connection_rules', 'mfa_config', 'session_duration', 'exclude', 'include', 'require'],
    computed: ['id', 'session_duration'],
    falseIsNull: ['approval_required', 'isolation_required', 'purpose_justification_required'],
    emptyIsNull: ['approval_groups', 'exclude', 'include', 'require'],
    sets: ['exclude', 'include', 'require'],
  },
  // Cloudflare answers a target's delete with 200, the others with 202.
  target: { deleted: 200, attributes: ['id', 'hostname', 'ip', 'created_at', 'modified_at'], computed: ['id', 'created_at', 'modified_at'], falseIsNull: [], emptyIsNull: [], sets: [] },
  short_lived_certificate: { attributes: ['id', 'aud', 'public_key'], computed: ['id', 'aud', 'public_key'], falseIsNull: [], emptyIsNull: [], sets: [] },
};
/** Nested attributes the provider treats as unset when false or empty, or takes as computed. */
const NESTED_UNSET = new Set(['connection_rules.ssh.allow_email_alias', 'mfa_config.mfa_disabled', 'mfa_config.allowed_authenticators', 'cors_headers.allow_credentials']);
const NESTED_COMPUTED = new Set(['ip.ipv4.virtual_network_id', 'ip.ipv6.virtual_network_id']);
/** Inline policies' sets (include, exclude, require are sets of rules in the provider's application model). */
const POLICY_SETS = new Set(['include', 'exclude', 'require']);

const isUnset = (v: unknown) => v === undefined || v === null;
const sorted = (v: unknown[]) => [...v].map((x) => JSON.stringify(x)).sort();

/** The differences `terraform plan` would show between the planned value of one attribute and the value read. */
function diffValue(path: string, want: unknown, got: unknown, out: string[], sets = new Set<string>()): void {
  if (isUnset(want)) {
    // Inline policies' attributes are normalized as the reusable policy's are.
    const attribute = path.replace(/^policies\.\d+\./, '');
    if (isUnset(got) || NESTED_COMPUTED.has(attribute) || (NESTED_UNSET.has(attribute) && (got === false || (Array.isArray(got) && got.length === 0)))) return;
    out.push(`${path}: planned unset, read ${JSON.stringify(got)}`);
    return;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return void out.push(`${path}: planned ${JSON.stringify(want)}, read ${JSON.stringify(got)}`);
    if (sets.has(path.split('.').at(-1)!)) {
      if (JSON.stringify(sorted(want)) !== JSON.stringify(sorted(got))) out.push(`${path}: set ${JSON.stringify(want)} read as ${JSON.stringify(got)}`);
      return;
    }
    if (want.length !== got.length) return void out.push(`${path}: ${want.length} items planned, ${got.length} read`);
    want.forEach((w, i) => diffValue(`${path}.${i}`, w, got[i], out, sets));
    return;
  }
  if (typeof want === 'object') {
    if (typeof got !== 'object' || got === null) return void out.push(`${path}: planned an object, read ${JSON.stringify(got)}`);
    const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
    for (const k of keys) diffValue(`${path}.${k}`, (want as Record<string, unknown>)[k], (got as Record<string, unknown>)[k], out, sets);
    return;
  }
  if (want !== got) out.push(`${path}: planned ${JSON.stringify(want)}, read ${JSON.stringify(got)}`);
}

/**
 * An application's `policies`: the provider keeps only what was configured of each entry (a reusable
 * policy's id and precedence; an inline policy's fields, without its id), and fills precedence 1, 2, ….
 */
function diffPolicies(want: Record<string, unknown>[], got: Record<string, unknown>[], out: string[]): void {
  if (want.length !== got.length) return void out.push(`policies: ${want.length} planned, ${got.length} read`);
  want.forEach((w, i) => {
    const g = got[i]!;
    for (const [k, v] of Object.entries(w)) diffValue(`policies.${i}.${k}`, v, g[k], out, POLICY_SETS);
    if (w['precedence'] === undefined && g['precedence'] !== i + 1) out.push(`policies.${i}.precedence: planned ${i + 1}, read ${String(g['precedence'])}`);
  });
}

/** Every attribute of the model: what was planned (the request body) against what is read back. */
function planDiff(model: Model, planned: Record<string, unknown>, read: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const attr of model.attributes) {
    const want = planned[attr];
    const got = read[attr];
    if (isUnset(want)) {
      if (isUnset(got) || model.computed.includes(attr)) continue;
      if (model.falseIsNull.includes(attr) && got === false) continue;
      if (model.emptyIsNull.includes(attr) && Array.isArray(got) && got.length === 0) continue;
      out.push(`${attr}: not configured, read ${JSON.stringify(got)}`);
    } else if (attr === 'policies' && Array.isArray(want) && Array.isArray(got)) {
      diffPolicies(want as Record<string, unknown>[], got as Record<string, unknown>[], out);
    } else if (model.emptyIsNull.includes(attr) && Array.isArray(want) && want.length === 0 && isUnset(got)) {
      continue;
    } else {
      diffValue(attr, want, got, out, new Set(model.sets));
    }
  }
  return out;
}

interface Fixture { resource: string; path: string; note: string; create: Record<string, unknown>; update?: Record<string, unknown>; terraform: keyof typeof MODELS }
const DIR = join(ROOT, 'test', 'fixtures', 'terraform');
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('Terraform\'s request bodies (test/fixtures/terraform): create, read back, update, delete — no plan diff', () => {
  let f: SigningFixture;
  const vars: Record<string, string> = {};
  const fill = (value: unknown): any => JSON.parse(JSON.stringify(value).replace(/\$\{(\w+)\}/g, (_, name: string) => {
    assert.ok(name in vars, `unknown placeholder ${name}`);
    return vars[name]!;
  }));

  before(async () => {
    f = await makeSigningFixture('https://terraform.example');
    vars['idp_id'] = (await f.t.call('GET', f.at('/access/identity_providers'), { token: f.admin })).body.result[0].id;
    vars['policy_id'] = (await f.t.call('POST', f.at('/access/policies'), { token: f.admin, body: { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] } })).body.result.id;
  });
  after(() => f.close());

  it('holds a fixture for each resource the issue names, each read from its README', () => {
    assert.deepEqual(FIXTURES, ['access_policy.json', 'access_policy_settings.json', 'infrastructure.json', 'infrastructure_target.json', 'self_hosted.json', 'short_lived_certificate.json', 'ssh.json']);
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    for (const name of FIXTURES) assert.ok(readme.includes(name), `README.md describes ${name}`);
  });

  for (const name of FIXTURES) {
    it(name, async () => {
      const fixture = JSON.parse(readFileSync(join(DIR, name), 'utf8')) as Fixture;
      const model = MODELS[fixture.terraform]!;
      vars['domain'] = `tf-${randomUUID()}.example.com`;
      vars['target'] = `tf-${randomUUID().slice(0, 8)}`;
      vars['app_id'] = (await f.t.call('POST', f.at('/access/apps'), { token: f.admin, body: { name: 'for a CA', domain: `ca-${randomUUID()}.example.com` } })).body.result.id;
      const path = fill(fixture.path) as string;
      const call = (method: string, rest: string, body?: unknown) => f.t.call(method, f.at(rest), { token: f.admin, ...(body === undefined ? {} : { body }) });
      const one = fixture.terraform === 'short_lived_certificate' ? path : undefined;

      const planned = fill(fixture.create);
      const created = await call('POST', path, planned);
      assert.equal(created.status, one ? 200 : 201, created.raw);
      const self = one ?? `${path}/${created.body.result.id}`;
      const read = await call('GET', self);
      assert.equal(read.status, 200, read.raw);
      assert.deepEqual(read.body.result, created.body.result, 'the read returns what the create did');
      assert.deepEqual(planDiff(model, planned, read.body.result), [], 'no diff after create');

      if (fixture.update) {
        const next = fill(fixture.update);
        const updated = await call('PUT', self, next);
        assert.equal(updated.status, 200, updated.raw);
        const again = await call('GET', self);
        assert.deepEqual(again.body.result, updated.body.result);
        assert.deepEqual(planDiff(model, next, again.body.result), [], 'no diff after update');
        assert.equal(again.body.result.id, created.body.result.id, 'updated in place, not replaced');
        // A plan right after apply sends the same body: nothing changes.
        const steady = await call('PUT', self, next);
        assert.deepEqual({ ...steady.body.result, updated_at: null, modified_at: null, policies: null }, { ...again.body.result, updated_at: null, modified_at: null, policies: null });
      }

      const deleted = await call('DELETE', self);
      assert.equal(deleted.status, model.deleted ?? 202, deleted.raw);
      assert.equal((await call('GET', self)).status, 404);
    });
  }

  it('the diff check finds what Terraform would: a default it did not plan, a changed set, a dropped field', () => {
    const app = MODELS['application']!;
    assert.deepEqual(planDiff(app, { name: 'a', tags: ['x', 'y'] }, { name: 'a', tags: ['y', 'x'], allow_iframe: false, app_launcher_visible: true, created_at: 'ignored' }), []);
    assert.deepEqual(planDiff(app, { name: 'a' }, { name: 'a', logo_url: 'https://x' }), ['logo_url: not configured, read "https://x"']);
    assert.deepEqual(planDiff(app, { name: 'a', tags: ['x'] }, { name: 'a', tags: ['x', 'y'] }), ['tags: set ["x"] read as ["x","y"]']);
    assert.deepEqual(planDiff(app, { policies: [{ name: 'p', connection_rules: { ssh: { usernames: ['a'] } } }] }, { policies: [{ id: 'i', name: 'p', precedence: 1, connection_rules: { ssh: { usernames: ['a'], allow_email_alias: false } } }] }), []);
    assert.deepEqual(planDiff(app, { policies: [{ name: 'p' }] }, { policies: [{ name: 'p', precedence: 2 }] }), ['policies.0.precedence: planned 1, read 2']);
    assert.deepEqual(planDiff(app, { cors_headers: { max_age: 5 } }, { cors_headers: { max_age: 5, allow_all_origins: true } }), ['cors_headers.allow_all_origins: planned unset, read true']);
  });
});
