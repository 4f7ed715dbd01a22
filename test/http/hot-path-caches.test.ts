import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { userKey } from '../helpers/deployment.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { parseExposition, valueOf } from '../ops/prometheus-text.ts';

/**
 * The signing path's caches on one node, seen through /metrics: what is remembered, and that a remembered
 * token is held to the same times as a fresh verify. (Invalidation across nodes: multi-node/cache-invalidation.)
 */
describe('hot path: a token sent again is not verified again, and still expires on time', () => {
  let t: TestApp;
  let tenant: Tenant;
  let idp: TestIdp;
  let admin: string;
  let app: { id: string; aud: string };
  let offsetMs = 0;

  before(async () => {
    t = await makeTestApp({ clock: { now: () => new Date(Date.now() + offsetMs) } });
    tenant = await t.tenant();
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [...PERMISSION_GROUPS] })).value;
    idp = await makeTestIdp();
    const at = (path: string) => scoped('account', tenant.accountId, path);
    assert.equal((await t.call('POST', at('/access/identity_providers'), { token: admin, body: { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } } })).status, 201);
    app = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'app', domain: 'cache.example.com' } })).body.result;
    assert.equal((await t.call('POST', at(`/access/apps/${app.id}/ca`), { token: admin })).status, 200);
    await allowEveryone(t, tenant.accountId, app.id, admin);
  });
  after(async () => {
    await t.close();
    await idp.close();
  });

  const metrics = async () => parseExposition((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
  const certSign = (jwt: string, key = userKey()) => t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: key, jwt } });

  it('the second request with the same token is served from the verified-token cache; a new token is verified', async () => {
    const jwt = await idp.sign({ aud: [app.aud], email: 'ann@example.com' }, { expiresIn: '5m' });
    const start = await metrics();
    assert.equal((await certSign(jwt)).status, 200);
    assert.equal((await certSign(jwt)).status, 200);
    assert.equal((await certSign(await idp.sign({ aud: [app.aud], email: 'bob@example.com' }, { expiresIn: '5m' }))).status, 200);
    const end = await metrics();
    const delta = (name: string, labels: Record<string, string>) => valueOf(end, name, labels) - valueOf(start, name, labels);
    assert.equal(delta('access_ca_cache_hits_total', { cache: 'jwt' }), 1, 'one remembered verify');
    assert.equal(delta('access_ca_cache_misses_total', { cache: 'jwt' }), 2, 'two tokens verified');
    assert.ok(delta('access_ca_cache_hits_total', { cache: 'rules' }) >= 2, 'the Access policies were read once');
    assert.equal(delta('access_ca_certificates_issued_total', { app: app.id }), 3);
  });

  it('a remembered token is refused once it expires, as a fresh one would be', async () => {
    const jwt = await idp.sign({ aud: [app.aud], email: 'cy@example.com' }, { expiresIn: '2m' });
    assert.equal((await certSign(jwt)).status, 200);
    offsetMs = 3 * 60_000;
    try {
      const refused = await certSign(jwt);
      assert.equal(refused.status, 401, refused.raw);
      assert.match(refused.body.message, /token expired/);
      const after_ = await metrics();
      assert.ok(valueOf(after_, 'access_ca_certificates_refused_total', { app: 'unknown', reason: 'token_rejected' })
        + valueOf(after_, 'access_ca_certificates_refused_total', { app: app.id, reason: 'token_rejected' }) >= 1);
    } finally {
      offsetMs = 0;
    }
  });
});
