import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const ALL = ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'];
const SIGN = 'Access: SSH Certificates Sign';
const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('cert_sign decides who gets a certificate: Access policies, what the provider vouches for, principals', () => {
  let t: TestApp;
  let tenant: Tenant;
  let idp: TestIdp;
  let admin: string;
  let idpId: string;
  let app: { id: string; aud: string; domain: string };
  let policyId: string;
  const at = (path: string) => scoped('account', tenant.accountId, path);

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    idp = await makeTestIdp('https://login.decisions.example');
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ALL })).value;
    idpId = (await t.call('POST', at('/access/identity_providers'), { token: admin, body: { name: 'login', config: { issuer: idp.issuer, jwks: idp.jwks } } })).body.result.id;
    const contractors = (await t.call('POST', at('/access/groups'), { token: admin, body: { name: 'contractors', include: [{ email: { email: 'carol@example.com' } }] } })).body.result;
    app = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'bastion', domain: `bastion-${randomUUID()}.${tenant.zoneName}` } })).body.result;
    await t.call('POST', at(`/access/apps/${app.id}/ca`), { token: admin });
    const p = await t.call('POST', at(`/access/apps/${app.id}/policies`), {
      token: admin, body: { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }], exclude: [{ group: { id: contractors.id } }] },
    });
    assert.equal(p.status, 201, p.raw);
    policyId = p.body.result.id;
  });
  after(async () => {
    await t.close();
    await idp.close();
  });

  const certSign = async (claims: Record<string, unknown>, target = app) =>
    t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [target.aud], ...claims }) } });
  const count = async (table: 'ssh_certificates' | 'audit_events', type?: string) => {
    let q = t.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n'));
    if (type) q = q.where('type' as never, '=', type as never);
    return Number((await q.executeTakeFirst())?.n);
  };

  it('a person allowed by email_domain gets a certificate; the issued event names the deciding policy', async () => {
    const r = await certSign({ email: 'alice@example.com' });
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual(parseCertificate(Buffer.from(r.body.certificate.split(' ')[1], 'base64')).principals, ['alice']);
    const event = await t.db.selectFrom('audit_events').selectAll().where('subject', '=', r.body.id).executeTakeFirstOrThrow();
    const data = JSON.parse(event.data);
    assert.equal(data.policy_id, policyId);
    assert.equal(data.identity_provider_id, idpId);
  });

  it('refuses, signs nothing, records nothing but an audit event: other domain, excluded, unverified, root, no policy', async () => {
    const other = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'no policies', domain: `np-${randomUUID()}.${tenant.zoneName}` } })).body.result;
    await t.call('POST', at(`/access/apps/${other.id}/ca`), { token: admin });
    const cases: [string, Record<string, unknown>, RegExp, typeof app?][] = [
      ['another domain', { email: 'eve@partner.example' }, /no Access policy of application "bastion" allows eve@partner\.example/],
      ['a look-alike domain', { email: 'eve@evil-example.com' }, /no Access policy/],
      ['excluded by a group', { email: 'carol@example.com' }, /no Access policy of application "bastion" allows carol@example\.com/],
      ['email_verified "false" (a string)', { email: 'dave@example.com', email_verified: 'false' }, /has not verified this email/],
      ['email_verified 0', { email: 'dave@example.com', email_verified: 0 }, /has not verified this email/],
      ['email_verified false', { email: 'dave@example.com', email_verified: false }, /has not verified this email/],
      ['email_verified "true" (a string)', { email: 'dave@example.com', email_verified: 'true' }, /has not verified this email/],
      ['no email_verified at all', { email: 'dave@example.com', email_verified: undefined }, /has not verified this email/],
      ['root@ of an allowed domain', { email: 'root@example.com' }, /principal "root" is denied/],
      ['an app with no policies', { email: 'alice@example.com' }, /no Access policy of application "no policies"/, other],
    ];
    const certs = await count('ssh_certificates');
    const refusals = await count('audit_events', 'ssh_certificate.refused');
    for (const [name, claims, message, target] of cases) {
      const r = await certSign(claims, target);
      assert.equal(r.status, 403, `${name}: ${r.raw}`);
      assert.deepEqual(Object.keys(r.body).sort(), ['message', 'status']);
      assert.match(r.body.message, message, name);
      assert.ok(!/staff|contractors/.test(r.body.message), `${name}: the person is not told which rule refused them`);
    }
    assert.equal(await count('ssh_certificates'), certs, 'nothing was signed or recorded');
    assert.equal(await count('audit_events', 'ssh_certificate.refused'), refusals + cases.length, 'every refusal is an audit event');
    const carol = await t.db.selectFrom('audit_events').selectAll().where('type', '=', 'ssh_certificate.refused').where('actor', '=', 'carol@example.com').executeTakeFirstOrThrow();
    assert.match(JSON.parse(carol.data).reason, /none of the 1 policies matched/);
  });

  it('a provider may declare its email claim authoritative, and may be limited to its own email domains', async () => {
    const path = at(`/access/identity_providers/${idpId}`);
    const put = async (config: Record<string, unknown>) => {
      const r = await t.call('PUT', path, { token: admin, body: { name: 'login', config: { issuer: idp.issuer, jwks: idp.jwks, ...config } } });
      assert.equal(r.status, 200, r.raw);
      return r.body.result.config;
    };
    const config = await put({ email_verified_required: false, email_domains: ['Example.com'] });
    assert.equal(config.email_verified_required, false);
    assert.deepEqual(config.email_domains, ['example.com']);
    assert.equal((await certSign({ email: 'dave@example.com', email_verified: undefined })).status, 200);
    const outside = await certSign({ email: 'x@partner.example', email_verified: true });
    assert.equal(outside.status, 403);
    assert.match(outside.body.message, /does not speak for partner\.example addresses/);
    await put({});
    assert.equal((await certSign({ email: 'dave@example.com', email_verified: undefined })).status, 403, 'the default is back: email_verified must be true');
  });

  it('the operator\'s dry run gives the decision and the policy that made it', async () => {
    const check = (body: unknown) => t.call('POST', at(`/access/apps/${app.id}/access_check`), { token: tenant.read, body });
    const yes = await check({ email: 'alice@example.com' });
    assert.equal(yes.status, 200, yes.raw);
    assert.deepEqual(yes.body.result, { decision: 'allow', allowed: true, policy: { id: policyId, name: 'staff', decision: 'allow' }, reason: 'policy "staff" matched: allow' });
    const no = await check({ email: 'carol@example.com' });
    assert.deepEqual([no.body.result.decision, no.body.result.allowed, no.body.result.policy], ['none', false, null]);
    const bad = await check({ email: 'a@example.com', ip: '10.0.0.0/8' });
    assert.equal(bad.status, 400);
  });

  it('the signing API: an empty allow-list refuses every principal; deploy-* signs deploy-web and refuses root', async () => {
    const signer = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [SIGN] })).value;
    const sign = (principals: string[]) => t.call('POST', at(`/access/apps/${app.id}/ca/sign`), { token: signer, body: { public_key: keyLine(), principals } });
    const none = await sign(['deploy-web']);
    assert.equal(none.status, 403);
    assert.equal(none.body.errors[0].code, 12140);
    assert.match(none.body.errors[0].message, /allows no principals/);
    assert.equal((await t.call('PUT', at(`/access/apps/${app.id}/ca/policy`), { token: admin, body: { principals: { allow: ['deploy-*', '*a*a*a*a*a*b'] } } })).status, 200);
    const ok = await sign(['deploy-web']);
    assert.equal(ok.status, 200, ok.raw);
    assert.deepEqual(ok.body.result.principals, ['deploy-web']);
    for (const refused of [['root'], ['web'], ['deploy-web', 'root'], ['a'.repeat(256)]]) {
      const r = await sign(refused);
      assert.equal(r.status, 403, refused.join(','));
      assert.equal(r.body.errors[0].code, 12140);
    }
    await t.call('PUT', at(`/access/apps/${app.id}/ca/policy`), { token: admin, body: {} });
  });

  it('one host, one application: another account cannot take a host, and the first keeps signing in', async () => {
    const host = app.domain;
    const other = await t.tenant();
    const otherAdmin = (await t.identity.createToken({ accountId: other.accountId, permissions: ALL })).value;
    for (const domain of [host, `${host.toUpperCase()}:2222`, `${host}/other/path`]) {
      const r = await t.call('POST', scoped('account', other.accountId, '/access/apps'), { token: otherAdmin, body: { name: 'squat', domain } });
      assert.equal(r.status, 409, `${domain}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, 12134);
      assert.equal(r.headers['x-should-retry'], 'false');
      // The host is held twice over: by the first account's app and by its zone; either refusal is 409 12134.
      assert.match(r.body.errors[0].message, new RegExp(`host ${host.replace(/\./g, '\\.')} (belongs to another application|is in a zone of another account)`));
    }
    const mine = (await t.call('POST', scoped('account', other.accountId, '/access/apps'), { token: otherAdmin, body: { name: 'mine', domain: `mine-${randomUUID()}.${other.zoneName}` } })).body.result;
    const steal = await t.call('PUT', scoped('account', other.accountId, `/access/apps/${mine.id}`), { token: otherAdmin, body: { name: 'mine', domain: host } });
    assert.equal(steal.status, 409, 'nor by update');
    assert.equal(steal.body.errors[0].code, 12134);
    const info = await t.call('GET', `/cdn-cgi/access/app?hostname=${host}`);
    assert.equal(info.status, 404, 'no client_id configured, but the lookup is for the first account\'s app');
    const byHost = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'alice@example.com' }), hostname: host } });
    assert.equal(byHost.status, 200, byHost.raw);
  });
});
