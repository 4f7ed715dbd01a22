import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, type Reply, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { enrollTestHost, testHostKey } from '../helpers/fleet-host.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

/**
 * What a host credential (`acah_…`) may do with each route of the app.
 * - `host`: its own host's routes, answered with the credential alone (200).
 * - `enroll`: takes a join token in the body and no credential; a host credential in the header or the body changes nothing.
 * - `public`: no credential at all; a host credential opens nothing there that an anonymous caller does not get.
 * - `refused`: everything else: 403 9109, refused by the credential's prefix before any lookup (CONTRACT §3).
 * - an object: refused with that route's own answer, because it is not behind the API authenticator.
 */
type Row = 'host' | 'enroll' | 'public' | 'refused' | { status: number; code: number; why: string };

/** `/tokens/verify` checks a bearer API token itself: a host credential is not one (CONTRACT §3: 401 1000). */
const VERIFY = { status: 401, code: 1000, why: 'verifyBearer looks API tokens up; a host credential is none' } as const;

/**
 * One row per route the app registers (`METHOD url` as Fastify's onRoute sees it, prefix included). A
 * route added without a row, or a row whose route is gone, fails the first test below, naming it.
 * HEAD: Fastify adds a HEAD route beside every GET (exposeHeadRoutes). Those have no rows of their own:
 * each must sit beside a GET with a row, and is sent too, expecting the GET row's status.
 */
const TABLE: Record<string, Row> = {
  'GET /client/v4/openapi.json': 'public',
  'GET /metrics': 'public',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /client/v4/user/tokens/verify': VERIFY,
  'GET /client/v4/accounts/:account_id/tokens/verify': VERIFY,
  'GET /client/v4/accounts': 'refused',
  'GET /client/v4/accounts/:account_id': 'refused',
  'GET /client/v4/zones': 'refused',
  'GET /client/v4/zones/:zone_id': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/ca': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/ca': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/apps/:app_id/ca': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/apps/:app_id/ca': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/rotate': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/rotate': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/rotate/activate': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/rotate/activate': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/rotate/retire': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/rotate/retire': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/trusted_keys': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/trusted_keys': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/sign': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/sign': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/policy': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/policy': 'refused',
  'PUT /client/v4/accounts/:account_id/access/apps/:app_id/ca/policy': 'refused',
  'PUT /client/v4/zones/:zone_id/access/apps/:app_id/ca/policy': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id': 'refused',
  'PUT /client/v4/accounts/:account_id/access/apps/:app_id': 'refused',
  'PUT /client/v4/zones/:zone_id/access/apps/:app_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/apps/:app_id': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/apps/:app_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/policies': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/policies': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/policies': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/policies': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'PUT /client/v4/accounts/:account_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'PUT /client/v4/zones/:zone_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/apps/:app_id/policies/:policy_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/access_check': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/access_check': 'refused',
  'POST /client/v4/accounts/:account_id/access/policies': 'refused',
  'POST /client/v4/zones/:zone_id/access/policies': 'refused',
  'GET /client/v4/accounts/:account_id/access/policies': 'refused',
  'GET /client/v4/zones/:zone_id/access/policies': 'refused',
  'GET /client/v4/accounts/:account_id/access/policies/:policy_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/policies/:policy_id': 'refused',
  'PUT /client/v4/accounts/:account_id/access/policies/:policy_id': 'refused',
  'PUT /client/v4/zones/:zone_id/access/policies/:policy_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/policies/:policy_id': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/policies/:policy_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/groups': 'refused',
  'POST /client/v4/zones/:zone_id/access/groups': 'refused',
  'GET /client/v4/accounts/:account_id/access/groups': 'refused',
  'GET /client/v4/zones/:zone_id/access/groups': 'refused',
  'GET /client/v4/accounts/:account_id/access/groups/:group_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/groups/:group_id': 'refused',
  'PUT /client/v4/accounts/:account_id/access/groups/:group_id': 'refused',
  'PUT /client/v4/zones/:zone_id/access/groups/:group_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/groups/:group_id': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/groups/:group_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/identity_providers': 'refused',
  'GET /client/v4/accounts/:account_id/access/identity_providers': 'refused',
  'GET /client/v4/accounts/:account_id/access/identity_providers/:idp_id': 'refused',
  'PUT /client/v4/accounts/:account_id/access/identity_providers/:idp_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/identity_providers/:idp_id': 'refused',
  'GET /client/v4/accounts/:account_id/access/audit': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/certificates': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/certificates': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/certificates/:cert_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/certificates/:cert_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/certificates/:cert_id/revoke': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/certificates/:cert_id/revoke': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/ca/certificates/revoke': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/ca/certificates/revoke': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/krl': 'refused',
  'GET /client/v4/accounts/:account_id/access/logs/access_requests': 'refused',
  'POST /client/v4/accounts/:account_id/access/organizations/revoke_user': 'refused',
  'POST /client/v4/zones/:zone_id/access/organizations/revoke_user': 'refused',
  'POST /client/v4/accounts/:account_id/access/apps/:app_id/revoke_tokens': 'refused',
  'POST /client/v4/zones/:zone_id/access/apps/:app_id/revoke_tokens': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/revocations': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/revocations': 'refused',
  'GET /client/v4/accounts/:account_id/access/apps/:app_id/ca/revocations/:revocation_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/revocations/:revocation_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/apps/:app_id/ca/revocations/:revocation_id': 'refused',
  'DELETE /client/v4/zones/:zone_id/access/apps/:app_id/ca/revocations/:revocation_id': 'refused',
  'GET /client/v4/zones/:zone_id/access/apps/:app_id/ca/krl': 'refused',
  'POST /client/v4/accounts/:account_id/infrastructure/targets': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/targets': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/targets/:target_id': 'refused',
  'PUT /client/v4/accounts/:account_id/infrastructure/targets/:target_id': 'refused',
  'DELETE /client/v4/accounts/:account_id/infrastructure/targets/:target_id': 'refused',
  'PUT /client/v4/accounts/:account_id/infrastructure/targets/batch': 'refused',
  'POST /client/v4/accounts/:account_id/infrastructure/targets/batch_delete': 'refused',
  'DELETE /client/v4/accounts/:account_id/infrastructure/targets/batch': 'refused',
  'POST /client/v4/accounts/:account_id/infrastructure/targets/:target_id/join_token': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/targets/:target_id/join_tokens': 'refused',
  'DELETE /client/v4/accounts/:account_id/infrastructure/targets/:target_id/join_tokens/:token_id': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/targets/:target_id/trust_bundle': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/targets/:target_id/krl': 'refused',
  'GET /client/v4/accounts/:account_id/infrastructure/hosts': 'refused',
  'DELETE /client/v4/accounts/:account_id/infrastructure/hosts/:host_id': 'refused',
  'GET /client/v4/accounts/:account_id/access/host_ca': 'refused',
  'POST /client/v4/accounts/:account_id/access/host_ca': 'refused',
  'POST /client/v4/accounts/:account_id/access/host_ca/rotate': 'refused',
  'POST /client/v4/accounts/:account_id/access/host_ca/rotate/activate': 'refused',
  'POST /client/v4/accounts/:account_id/access/host_ca/rotate/retire': 'refused',
  'POST /client/v4/accounts/:account_id/access/host_ca/revoked_keys': 'refused',
  'GET /client/v4/accounts/:account_id/access/host_ca/revoked_keys': 'refused',
  'POST /client/v4/accounts/:account_id/access/gateway_ca': 'refused',
  'GET /client/v4/accounts/:account_id/access/gateway_ca': 'refused',
  'DELETE /client/v4/accounts/:account_id/access/gateway_ca/:certificate_id': 'refused',
  'POST /client/v4/accounts/:account_id/access/gateway_ca/rotate': 'refused',
  'POST /client/v4/accounts/:account_id/access/gateway_ca/rotate/activate': 'refused',
  'POST /client/v4/accounts/:account_id/access/gateway_ca/rotate/retire': 'refused',
  'POST /client/v4/host/enroll/challenge': 'enroll',
  'POST /client/v4/host/enroll': 'enroll',
  'GET /client/v4/host': 'host',
  'GET /client/v4/host/trust_bundle': 'host',
  'GET /client/v4/host/krl': 'host',
  'POST /client/v4/host/certificates': 'host',
  'GET /cdn-cgi/access/host_ca': 'public',
  'POST /cdn-cgi/access/cert_sign': 'public',
  'GET /cdn-cgi/access/app': 'public',
  'GET /console': 'public',
  'GET /console/*': 'public',
};

const KEY = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

/** The ids an account's routes are called with: real objects of that account, in each form. */
interface Ids {
  accountId: string;
  zoneId: string;
  zoneName: string;
  /** Per form: an app with a CA, one of its app-scoped policies; a reusable policy, a group. */
  forms: Record<'account' | 'zone', { app: string; appPolicy: string; policy: string; group: string }>;
  idp: string;
  cert: string;
  target: string;
  host: string;
  credential: string;
  /** An unused join token of the account's target: `acaj_`, refused by prefix like a host credential. */
  joinToken: string;
  /** A spare join token's id: the shape :token_id takes. */
  joinTokenId: string;
}

/** The route's url with every `:param` (and a wildcard) replaced by a well-formed id of `ids`' account. */
function fill(key: string, ids: Ids): string {
  const url = key.slice(key.indexOf(' ') + 1);
  const form = url.includes('/zones/:zone_id') ? ids.forms.zone : ids.forms.account;
  return url.replace(/:([a-z_]+)|\*$/g, (_match, name: string | undefined) => {
    switch (name) {
      case 'account_id': return ids.accountId;
      case 'zone_id': return ids.zoneId;
      case 'app_id': return form.app;
      case 'policy_id': return url.includes('/apps/:app_id/policies/:policy_id') ? form.appPolicy : form.policy;
      case 'group_id': return form.group;
      case 'idp_id': return ids.idp;
      case 'cert_id': return ids.cert;
      case 'target_id': return ids.target;
      case 'host_id': return ids.host;
      case 'token_id': return ids.joinTokenId;
      case 'revocation_id': return '00000000-0000-4000-8000-000000000000';
      case 'certificate_id': return '00000000-0000-4000-8000-000000000001';
      case undefined: return 'index.html';
      default: throw new Error(`${key}: no value for :${name}; add one to fill() (read the route's params schema for its shape)`);
    }
  });
}

const takesBody = (method: string) => method === 'POST' || method === 'PUT';
const isOk = (status: number) => status >= 200 && status < 300;

describe('security: a host credential opens only its own host\'s routes (the route table)', () => {
  let t: TestApp;
  const registered: string[] = [];
  let a: Tenant;
  let b: Tenant;
  let ida: Ids;
  let idb: Ids;

  /** Every object a wrong credential could touch, in `tenant`'s account, and an enrolled host of it. */
  async function world(tenant: Tenant): Promise<Ids> {
    const all = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [...PERMISSION_GROUPS] })).value;
    const made = async (path: string, body: unknown) => {
      const r = await t.call('POST', path, { token: all, body });
      assert.equal(r.status, 201, `${path}: ${r.raw}`);
      return r.body.result.id as string;
    };
    const forms = {} as Ids['forms'];
    for (const kind of ['account', 'zone'] as const) {
      const at = (rest: string) => scoped(kind, kind === 'account' ? tenant.accountId : tenant.zoneId, rest);
      const app = await made(at('/access/apps'), { name: kind, domain: `${kind}-app.${tenant.zoneName}` });
      assert.equal((await t.call('POST', at(`/access/apps/${app}/ca`), { token: all })).status, 200);
      forms[kind] = {
        app,
        appPolicy: await made(at(`/access/apps/${app}/policies`), { name: 'p', decision: 'allow', include: [{ everyone: {} }] }),
        policy: await made(at('/access/policies'), { name: 'p', decision: 'allow', include: [{ everyone: {} }] }),
        group: await made(at('/access/groups'), { name: 'g', include: [{ everyone: {} }] }),
      };
    }
    const at = (rest: string) => scoped('account', tenant.accountId, rest);
    const idp = await makeTestIdp();
    const idpId = await made(at('/access/identity_providers'), { name: 'idp', config: { issuer: idp.issuer, jwks: idp.jwks } });
    await idp.close();
    const app = forms.account.app;
    assert.equal((await t.call('PUT', at(`/access/apps/${app}/ca/policy`), { token: all, body: { principals: { allow: ['ops'] } } })).status, 200);
    const signed = await t.call('POST', at(`/access/apps/${app}/ca/sign`), { token: all, body: { public_key: KEY, principals: ['ops'] } });
    assert.equal(signed.status, 200, signed.raw);
    assert.match(signed.body.result.id, /^[0-9a-f]{32}$/, 'the shape :cert_id takes');
    // The host is the account app's host: its bundle holds that app's CA key.
    const target = await made(at('/infrastructure/targets'), { hostname: `account-app.${tenant.zoneName}` });
    const joinToken = async () => {
      const r = await t.call('POST', at(`/infrastructure/targets/${target}/join_token`), { token: tenant.write, body: {} });
      assert.equal(r.status, 200, r.raw);
      return r.body.result.token as string;
    };
    const enrolled = await enrollTestHost((path, body) => t.call('POST', `/client/v4${path}`, { body }), await joinToken());
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    assert.match(enrolled.body.result.id, /^[0-9a-f]{32}$/, 'the shape :host_id takes');
    const spare = await t.call('POST', at(`/infrastructure/targets/${target}/join_token`), { token: tenant.write, body: {} });
    return {
      accountId: tenant.accountId, zoneId: tenant.zoneId, zoneName: tenant.zoneName, forms, idp: idpId, cert: signed.body.result.id, target,
      host: enrolled.body.result.id, credential: enrolled.body.result.credential, joinToken: await joinToken(), joinTokenId: spare.body.result.id as string,
    };
  }

  before(async () => {
    t = await makeTestApp({
      instrument: (app) => app.addHook('onRoute', (r) => {
        for (const method of [r.method].flat()) registered.push(`${method} ${r.url}`);
      }),
    });
    a = await t.tenant();
    b = await t.tenant();
    ida = await world(a);
    idb = await world(b);
  });
  after(() => t?.close());

  const call = (method: string, path: string, credential: string | undefined, body?: unknown): Promise<Reply> =>
    t.call(method, path, { ...(credential ? { token: credential } : {}), ...(body !== undefined ? { body } : takesBody(method) ? { body: {} } : {}) });

  /** Every row of one kind, with its method and url. */
  const rows = (kind: Row | ((row: Row) => boolean)) => Object.entries(TABLE)
    .filter(([, row]) => (typeof kind === 'function' ? kind(row) : row === kind))
    .map(([key, row]) => ({ key, row, method: key.slice(0, key.indexOf(' ')), url: key.slice(key.indexOf(' ') + 1) }));
  const hasHead = (url: string) => registered.includes(`HEAD ${url}`);
  const refusedRows = () => rows((row) => row === 'refused' || typeof row === 'object');

  it('every registered route has a row, and every row a registered route', () => {
    assert.ok(registered.length > 100, `onRoute saw ${registered.length} routes: is the hook installed before the routes?`);
    const own = registered.filter((r) => !r.startsWith('HEAD '));
    assert.equal(new Set(own).size, own.length, `a route is registered twice: ${own.filter((r, i) => own.indexOf(r) !== i).join(', ')}`);
    // Both lists in one message: a renamed route shows up as one of each.
    const missing = own.filter((r) => !Object.hasOwn(TABLE, r)).map((r) => `no row (add it as 'host', 'enroll', 'public' or 'refused'): ${r}`);
    const gone = Object.keys(TABLE).filter((k) => !registered.includes(k)).map((k) => `a row, but no such route (remove it): ${k}`);
    assert.deepEqual([...missing, ...gone], [], `this file's TABLE and the app's routes differ:\n${[...missing, ...gone].join('\n')}`);
    const headAlone = registered.filter((r) => r.startsWith('HEAD ') && !registered.includes(`GET ${r.slice(5)}`));
    assert.deepEqual(headAlone, [], `HEAD routes not beside a GET (registered by hand: TABLE handles only Fastify's automatic HEAD):\n${headAlone.join('\n')}`);
    // The four host routes, exactly: a fifth is a decision to make here, not by accident.
    assert.deepEqual(rows('host').map((r) => r.key).sort(), [
      'GET /client/v4/host', 'GET /client/v4/host/krl', 'GET /client/v4/host/trust_bundle', 'POST /client/v4/host/certificates',
    ]);
  });

  const snapshot = async () => {
    const db = t.db;
    return {
      accounts: await db.selectFrom('accounts').selectAll().orderBy('id').execute(),
      zones: await db.selectFrom('zones').selectAll().orderBy('id').execute(),
      tokens: await db.selectFrom('api_tokens').selectAll().orderBy('id').execute(),
      apps: await db.selectFrom('access_apps').selectAll().orderBy('id').execute(),
      cas: await db.selectFrom('ssh_cas').selectAll().orderBy('id').execute(),
      caKeys: await db.selectFrom('ssh_ca_keys').select(['id', 'ca_id', 'state', 'public_key']).orderBy('id').execute(),
      certPolicies: await db.selectFrom('ssh_cert_policies').selectAll().orderBy('app_id').execute(),
      certificates: await db.selectFrom('ssh_certificates').select('id').orderBy('id').execute(),
      revocations: await db.selectFrom('ssh_revocations').selectAll().orderBy('id').execute(),
      idps: await db.selectFrom('identity_providers').selectAll().orderBy('id').execute(),
      accessPolicies: await db.selectFrom('access_policies').selectAll().orderBy('id').execute(),
      links: await db.selectFrom('access_app_policies').selectAll().orderBy('policy_id').execute(),
      groups: await db.selectFrom('access_groups').selectAll().orderBy('id').execute(),
      targets: await db.selectFrom('infrastructure_targets').selectAll().orderBy('id').execute(),
      joinTokens: await db.selectFrom('host_join_tokens').selectAll().orderBy('id').execute(),
      // last_seen_at moves with every accepted host request (flushed on a timer): not a change a refusal could make.
      hosts: await db.selectFrom('host_enrollments').select(['id', 'account_id', 'target_id', 'secret_sha256', 'host_keys', 'created_at']).orderBy('id').execute(),
      hostCas: await db.selectFrom('host_cas').selectAll().orderBy('id').execute(),
      hostCaKeys: await db.selectFrom('host_ca_keys').select(['id', 'ca_id', 'state', 'public_key']).orderBy('id').execute(),
      hostRevokedKeys: await db.selectFrom('host_revoked_keys').selectAll().orderBy('fingerprint').execute(),
      grantRevisions: (await db.selectFrom('grant_revisions').selectAll().orderBy('account_id').execute()).map((r) => ({ ...r, revision: String(r.revision) })),
      fleetRevisions: (await db.selectFrom('fleet_revisions').selectAll().orderBy('account_id').execute()).map((r) => ({ ...r, revision: String(r.revision) })),
      audit: await db.selectFrom('audit_events').select(['id', 'type']).orderBy('id').execute(),
    };
  };

  /**
   * Calls every refused route with `ids`' objects, once with `credential`; each answer must be its row's
   * refusal. Returns every wrong answer (all of them, not the first), each naming its route.
   */
  async function walk(ids: Ids, credential: string, who: string): Promise<string[]> {
    const wrong: string[] = [];
    for (const { key, row, method } of refusedRows()) {
      const expected = typeof row === 'object' ? row : { status: 403, code: 9109 };
      const path = fill(key, ids);
      const r = await call(method, path, credential);
      const error = r.body?.errors?.[0] as { code?: number; message?: string } | undefined;
      if (r.status !== expected.status || error?.code !== expected.code) {
        const want = `${expected.status} ${expected.code}${typeof row === 'object' ? ` (${row.why})` : ''}`;
        wrong.push(`${key} (${method} ${path}) with ${who}: ${r.status} ${r.raw.slice(0, 300)}; expected ${want}`);
      } else if (row === 'refused' && !/host credential/.test(error.message ?? '')) {
        // "Invalid access token" would mean the credential was looked up as an API token: the refusal must come first.
        wrong.push(`${key} with ${who}: refused, but not by the credential's prefix: ${error.message}`);
      }
      if (method === 'GET' && hasHead(key.slice(4))) {
        const head = await t.app.inject({ method: 'HEAD', url: path, headers: { authorization: `Bearer ${credential}` } });
        if (head.statusCode !== expected.status) wrong.push(`HEAD ${key.slice(4)} with ${who}: ${head.statusCode}`);
      }
    }
    return wrong;
  }

  it('every refused route answers the host credential 403 9109 before any lookup, and nothing changes', async () => {
    const before = await snapshot();
    const appsBefore = await t.call('GET', scoped('account', a.accountId, '/access/apps'), { token: a.read });
    assert.equal(appsBefore.status, 200);
    const wrong = [
      ...(await walk(ida, ida.credential, 'its own account\'s host credential')),
      ...(await walk(ida, ida.joinToken, 'its own account\'s join token')),
    ];
    assert.deepEqual(wrong, [], `routes that did not refuse as their row says:\n${wrong.join('\n')}`);
    assert.deepEqual(await snapshot(), before, 'a refused request changed the store');
    const appsAfter = await t.call('GET', scoped('account', a.accountId, '/access/apps'), { token: a.read });
    assert.deepEqual(appsAfter.body.result, appsBefore.body.result);
    assert.ok(refusedRows().some((r) => r.key === 'DELETE /client/v4/accounts/:account_id/infrastructure/hosts/:host_id'), 'a host cannot remove itself');
    // The join token sent to every route was never looked up, let alone used: it still enrolls a host.
    const late = await enrollTestHost((path, body) => t.call('POST', `/client/v4${path}`, { body }), ida.joinToken);
    assert.equal(late.status, 200, JSON.stringify(late.body));
  });

  it('every host route answers the host credential 200, HEAD too', async () => {
    for (const { key, method, url } of rows('host')) {
      const r = await call(method, url, ida.credential);
      assert.equal(r.status, 200, `${key}: ${r.raw}`);
      if (method === 'GET' && hasHead(url)) {
        const head = await t.app.inject({ method: 'HEAD', url, headers: { authorization: `Bearer ${ida.credential}` } });
        assert.equal(head.statusCode, 200, `HEAD ${url}`);
      }
    }
    const me = await call('GET', '/client/v4/host', ida.credential);
    assert.equal(me.body.result.id, ida.host);
    assert.equal(me.body.result.target_id, ida.target);
  });

  it('the enroll routes take a join token in the body: a host credential there, or in the header, is refused as one', async () => {
    for (const { key, url } of rows('enroll')) {
      const body = url.endsWith('/challenge')
        ? { join_token: ida.credential }
        : { join_token: ida.credential, challenge: 'abc', host_keys: [{ public_key: testHostKey().line, signature: 'AAAA' }] };
      for (const credential of [ida.credential, undefined]) {
        const r = await call('POST', url, credential, body);
        assert.equal(r.status, 403, `${key}: ${r.raw}`);
        assert.equal(r.body.errors[0].code, 12138, `${key}: ${r.raw}`);
      }
      // An empty body is a 400 with or without the host credential: the header is not read here.
      const anon = await call('POST', url, undefined, {});
      const withCredential = await call('POST', url, ida.credential, {});
      assert.equal(anon.status, 400, anon.raw);
      assert.deepEqual([withCredential.status, withCredential.body.errors[0].code], [anon.status, anon.body.errors[0].code], key);
    }
  });

  it('the public routes answer a host credential as they answer nobody: it opens nothing', async () => {
    const queries: Record<string, string> = {
      'GET /cdn-cgi/access/host_ca': `?hostname=account-app.${a.zoneName}`,
      'GET /cdn-cgi/access/app': `?hostname=account-app.${a.zoneName}`,
    };
    for (const { key, method, url } of rows('public')) {
      const path = fill(key, ida) + (queries[key] ?? '');
      const anon = await call(method, path, undefined);
      const withCredential = await call(method, path, ida.credential);
      // The same answer, or a refusal the anonymous caller does not get (a bearer a route does not know): never more.
      assert.ok(withCredential.status === anon.status || (!isOk(withCredential.status) && withCredential.status < 500),
        `${key}: ${withCredential.status} with the host credential, ${anon.status} without`);
    }
  });

  it('account A\'s host credential reads nothing of account B: B\'s every route refuses it, and A\'s bundle never holds B\'s keys', async () => {
    const wrong = await walk(idb, ida.credential, 'another account\'s host credential');
    assert.deepEqual(wrong, [], `routes that did not refuse as their row says:\n${wrong.join('\n')}`);
    const mine = await call('GET', '/client/v4/host/trust_bundle', ida.credential);
    const theirs = await call('GET', '/client/v4/host/trust_bundle', idb.credential);
    assert.equal(mine.status, 200);
    assert.equal(theirs.status, 200);
    assert.equal(mine.body.result.target_id, ida.target);
    assert.equal(theirs.body.result.target_id, idb.target);
    const bKeys = theirs.body.result.keys.map((k: { public_key: string }) => k.public_key);
    assert.equal(bKeys.length, 1, 'B\'s host trusts B\'s app\'s CA');
    assert.equal(mine.body.result.keys.length, 1, 'A\'s host trusts A\'s app\'s CA');
    for (const k of mine.body.result.keys) assert.ok(!bKeys.includes(k.public_key), 'A\'s bundle holds none of B\'s CA keys');

    // A target of A cannot even be named under B's zone (where B holds a wildcard application with a CA): 409.
    const wildcard = await t.call('POST', scoped('account', b.accountId, '/access/apps'), { token: b.write, body: { name: 'w', domain: `*.${b.zoneName}` } });
    assert.equal(wildcard.status, 201, wildcard.raw);
    const squat = await t.call('POST', scoped('account', a.accountId, '/infrastructure/targets'), { token: a.write, body: { hostname: `squat.${b.zoneName}` } });
    assert.equal(squat.status, 409, squat.raw);
    assert.equal(squat.body.errors[0].code, 12134);
  });

  it('a removed host is refused 403 9109 at once, on every host route; another host is not', async () => {
    const tg = await t.call('POST', scoped('account', a.accountId, '/infrastructure/targets'), { token: a.write, body: { hostname: `gone.${a.zoneName}` } });
    assert.equal(tg.status, 201, tg.raw);
    const jt = await t.call('POST', scoped('account', a.accountId, `/infrastructure/targets/${tg.body.result.id}/join_token`), { token: a.write, body: {} });
    const h = await enrollTestHost((path, body) => t.call('POST', `/client/v4${path}`, { body }), jt.body.result.token);
    assert.equal(h.status, 200, JSON.stringify(h.body));
    const credential = h.body.result.credential as string;
    assert.equal((await call('GET', '/client/v4/host/trust_bundle', credential)).status, 200);
    const removed = await t.call('DELETE', scoped('account', a.accountId, `/infrastructure/hosts/${h.body.result.id}`), { token: a.write });
    assert.equal(removed.status, 200, removed.raw);
    const bundle = await call('GET', '/client/v4/host/trust_bundle', credential);
    assert.equal(bundle.status, 403, bundle.raw);
    assert.equal(bundle.body.errors[0].code, 9109);
    for (const { key, method, url } of rows('host')) {
      const r = await call(method, url, credential);
      assert.deepEqual([r.status, r.body?.errors?.[0]?.code], [403, 9109], `${key} after removal: ${r.raw}`);
    }
    // The account's other host, and B's, are untouched.
    assert.equal((await call('GET', '/client/v4/host/trust_bundle', ida.credential)).status, 200);
    assert.equal((await call('GET', '/client/v4/host/trust_bundle', idb.credential)).status, 200);
  });
});
