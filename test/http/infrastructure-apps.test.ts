/**
 * Infrastructure applications, in-process: the gateway CA signs their certificates with the logins their
 * allowing policy's connection_rules grant; a target is covered only by its own account's applications;
 * the bundle of a covered target trusts the gateway CA and its KRL holds every revoked certificate that
 * CA signed in the account, whichever infrastructure application it was for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, WRITE, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { decodeKrl } from '../../src/openssh/krl.ts';

const IDP_WRITE = 'Access: Organizations, Identity Providers, and Groups Write';
const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('infrastructure applications: the gateway CA, connection_rules and target coverage', () => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  let idp: TestIdp;
  const admins: Record<string, string> = {};
  before(async () => {
    t = await makeTestApp();
    a = await t.tenant();
    b = await t.tenant();
    idp = await makeTestIdp('https://idp.infra-http.test');
    for (const tenant of [a, b]) {
      admins[tenant.accountId] = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [WRITE, IDP_WRITE] })).value;
      const r = await call(tenant, 'POST', '/access/identity_providers', { name: 'idp', config: { issuer: idp.issuer, jwks: idp.jwks } });
      assert.equal(r.status, 201, r.raw);
    }
  });
  after(async () => {
    await t.close();
    await idp.close();
  });

  function call(tenant: Tenant, method: string, path: string, body?: unknown) {
    return t.call(method, scoped('account', tenant.accountId, path), { token: admins[tenant.accountId]!, ...(body === undefined ? {} : { body }) });
  }
  const ok = async (tenant: Tenant, method: string, path: string, body?: unknown) => {
    const r = await call(tenant, method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.raw}`);
    return r.body.result;
  };
  const infraApp = async (tenant: Tenant, hostnames: string[], rules?: unknown) => {
    const app = await ok(tenant, 'POST', '/access/apps', { name: `infra-${hostnames.join('-')}`, type: 'infrastructure', target_criteria: [{ port: 22, protocol: 'SSH', target_attributes: { hostname: hostnames } }] });
    await ok(tenant, 'POST', `/access/apps/${app.id}/policies`, { name: 'people', decision: 'allow', include: [{ everyone: {} }], ...(rules === undefined ? {} : { connection_rules: rules }) });
    return app as { id: string; aud: string };
  };
  const certSign = async (app: { aud: string }, hostname: string, email = 'pat@example.com') =>
    t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email }), hostname } });

  it('without a gateway CA nothing is signed; with one, the logins of connection_rules are the principals; no rules, no login', async () => {
    const target = await ok(a, 'POST', '/infrastructure/targets', { hostname: 'db1.a.test' });
    const app = await infraApp(a, ['db1.a.test'], { ssh: { usernames: ['deploy', 'ops'] } });
    const before = await certSign(app, 'db1.a.test');
    assert.equal(before.status, 404, before.raw);
    assert.match(before.raw, /the account has no gateway CA/);
    const gateway = await ok(a, 'POST', '/access/gateway_ca');
    const signed = await certSign(app, 'db1.a.test');
    assert.equal(signed.status, 200, signed.raw);
    const cert = parseCertificate(Buffer.from(signed.body.certificate.split(' ')[1], 'base64'));
    assert.deepEqual(cert.principals, ['deploy', 'ops']);
    assert.equal(cert.signatureKey.toString('base64'), gateway.public_key.split(' ')[1]);
    const row = await t.db.selectFrom('ssh_certificates').selectAll().where('id', '=', signed.body.id).executeTakeFirstOrThrow();
    assert.equal(row.ca_id, gateway.id, 'the inventory names the gateway CA');
    // cloudflared's sign-in lookup finds the application by the target's name too (here it has no OIDC client).
    const signIn = await t.call('GET', '/cdn-cgi/access/app?hostname=db1.a.test');
    assert.equal(signIn.status, 404, signIn.raw);
    assert.match(signIn.raw, /sign-in is not set up for db1\.a\.test/);
    assert.match((await t.call('GET', '/cdn-cgi/access/app?hostname=nothing.a.test')).raw, /no application for host nothing\.a\.test/);
    // A hostname the application does not cover is refused, as a typo would be.
    assert.equal((await certSign(app, 'db2.a.test')).status, 404);
    const noRules = await infraApp(a, ['db1.a.test']);
    const refused = await certSign(noRules, 'db1.a.test');
    assert.equal(refused.status, 403, refused.raw);
    assert.match(refused.raw, /grants no SSH login/);

    // The target's bundle trusts the gateway CA; its KRL holds a revoked certificate of it.
    const bundle = await ok(a, 'GET', `/infrastructure/targets/${target.id}/trust_bundle`);
    assert.ok(bundle.trusted_user_ca_keys.includes(gateway.public_key.split(' ')[1]), 'the bundle holds the gateway CA');
    const revoked = await call(a, 'POST', `/access/apps/${app.id}/ca/certificates/${signed.body.id}/revoke`, { reason: 'lost laptop' });
    assert.equal(revoked.status, 200, revoked.raw);
    const krl = await t.app.inject({ method: 'GET', url: scoped('account', a.accountId, `/infrastructure/targets/${target.id}/krl`), headers: { authorization: `Bearer ${admins[a.accountId]!}` } });
    assert.equal(krl.statusCode, 200);
    const decoded = decodeKrl(krl.rawPayload);
    const section = decoded.certificates.find((c) => c.caKeyBlob?.toString('base64') === gateway.public_key.split(' ')[1]);
    assert.deepEqual(section?.serials, [cert.serial]);
  });

  it('a target is covered only by its own account\'s applications: another account\'s criteria naming it reach nothing', async () => {
    const target = await ok(b, 'POST', '/infrastructure/targets', { hostname: 'shared.b.test' });
    await ok(a, 'POST', '/infrastructure/targets', { hostname: 'other.a.test' });
    const intruder = await infraApp(a, ['shared.b.test'], { ssh: { usernames: ['root2'] } });
    const r = await certSign(intruder, 'shared.b.test');
    assert.equal(r.status, 404, r.raw);
    const gatewayA = (await ok(a, 'GET', '/access/gateway_ca'))[0];
    const bundle = await ok(b, 'GET', `/infrastructure/targets/${target.id}/trust_bundle`);
    assert.ok(!bundle.trusted_user_ca_keys.includes(gatewayA.public_key.split(' ')[1]), 'B\'s target never trusts A\'s gateway CA');
    assert.deepEqual(bundle.keys, []);
  });
});
