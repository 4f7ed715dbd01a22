import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, unsignedJwt, type TestIdp } from '../helpers/test-idp.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const IDP_WRITE = 'Access: Organizations, Identity Providers, and Groups Write';
const SIGN = 'Access: SSH Certificates Sign';
const keyLine = (type: 'ed25519' | 'p256' | 'rsa' = 'ed25519') => {
  const k = type === 'ed25519' ? generateKeyPairSync('ed25519') : type === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return authorizedKeyLine(publicKeyBlob(k.publicKey), 'me@laptop');
};
const certOf = (line: string) => parseCertificate(Buffer.from(line.split(' ')[1]!, 'base64'));

describe('certificates: cert_sign (cloudflared) and the signing API', () => {
  let t: TestApp;
  let tenant: Tenant;
  let idp: TestIdp;
  let admin: string;
  let signer: string;
  let app: { id: string; aud: string };
  let caKey: string;

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    idp = await makeTestIdp();
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [IDP_WRITE, 'Access: Apps and Policies Write'] })).value;
    signer = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [SIGN] })).value;
    const r = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'test', config: { issuer: idp.issuer, jwks: idp.jwks } } });
    assert.equal(r.status, 201, r.raw);
    app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'ssh', domain: 'ssh.example.com' } })).body.result;
    caKey = (await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: admin })).body.result.public_key;
    await allowEveryone(t, tenant.accountId, app.id, admin);
  });
  after(async () => {
    await t.close();
    await idp.close();
  });

  const certSign = (body: unknown) => t.call('POST', '/cdn-cgi/access/cert_sign', { body });
  const inventoryCount = async () => Number((await t.db.selectFrom('ssh_certificates').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())?.n);
  const setPolicy = async (policy: unknown) => {
    const r = await t.call('PUT', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/policy`), { token: admin, body: policy });
    assert.equal(r.status, 200, r.raw);
    return r.body.result;
  };

  it('cert_sign: a person\'s token and key in, Cloudflare\'s certificate out, recorded with an audit event', async () => {
    const jwt = await idp.sign({ aud: [app.aud], email: 'JDoe@Example.com' });
    const before = Date.now() / 1000;
    const r = await certSign({ public_key: keyLine(), jwt, issuer: 'https://ignored.example' });
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual(Object.keys(r.body).sort(), ['certificate', 'expires_at', 'id']);
    const cert = certOf(r.body.certificate);
    assert.match(r.body.certificate, /^ssh-ed25519-cert-v01@openssh\.com AAAA/);
    assert.deepEqual(cert.principals, ['JDoe']);
    assert.deepEqual(Object.keys(cert.extensions), ['permit-agent-forwarding', 'permit-pty', 'permit-user-rc']);
    assert.deepEqual(cert.criticalOptions, {});
    assert.equal(cert.signatureKey.toString('base64'), caKey.split(' ')[1]);
    assert.ok(Math.abs(Number(cert.validBefore) - before - 180) <= 2);
    assert.ok(Math.abs(before - Number(cert.validAfter) - 30) <= 2);
    assert.equal(r.body.expires_at, new Date(Number(cert.validBefore) * 1000).toISOString().replace('.000Z', 'Z'));
    assert.equal(cert.keyId, `jdoe@example.com cert=${r.body.id}`);
    const row = await t.db.selectFrom('ssh_certificates').selectAll().where('id', '=', r.body.id).executeTakeFirstOrThrow();
    assert.equal(row.serial, cert.serial.toString());
    assert.equal(row.identity, 'jdoe@example.com');
    assert.equal(row.app_id, app.id);
    assert.deepEqual(JSON.parse(row.principals), ['JDoe']);
    const event = await t.db.selectFrom('audit_events').selectAll().where('subject', '=', r.body.id).executeTakeFirstOrThrow();
    assert.equal(event.type, 'ssh_certificate.issued');
  });

  it('cert_sign refuses bad tokens and keys with the right status and a message, and records nothing', async () => {
    const other = await makeTestIdp('https://other-idp.example');
    const good = { email: 'a@example.com', aud: [app.aud] };
    const cases: [string, unknown, number, RegExp][] = [
      ['expired', { public_key: keyLine(), jwt: await idp.sign(good, { expiresIn: Math.floor(Date.now() / 1000) - 120 }) }, 401, /token expired/],
      ['not yet valid', { public_key: keyLine(), jwt: await idp.sign(good, { notBefore: Math.floor(Date.now() / 1000) + 600 }) }, 401, /not valid yet/],
      ['issued in the future', { public_key: keyLine(), jwt: await idp.sign(good, { issuedAt: Math.floor(Date.now() / 1000) + 600 }) }, 401, /issued in the future/],
      ['wrong audience', { public_key: keyLine(), jwt: await idp.sign({ ...good, aud: ['f'.repeat(64)] }) }, 404, /no application matches/],
      ['wrong issuer', { public_key: keyLine(), jwt: await other.sign(good) }, 401, /not an identity provider/],
      ['forged: another key, same issuer', { public_key: keyLine(), jwt: await other.sign(good, { issuer: idp.issuer }) }, 401, /signature does not verify|does not publish/],
      ['alg none', { public_key: keyLine(), jwt: unsignedJwt({ ...good, iss: idp.issuer, exp: Math.floor(Date.now() / 1000) + 60 }) }, 401, /algorithm none is not accepted/],
      ['no email', { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud] }) }, 401, /no email claim/],
      ['garbage token', { public_key: keyLine(), jwt: 'not.a.jwt' }, 401, /not a well-formed JWT/],
      ['another app by hostname', { public_key: keyLine(), jwt: await idp.sign(good), hostname: 'other.example.com' }, 404, /no application matches/],
      ['DSA key', { public_key: 'ssh-dss AAAAB3NzaC1kc3MAAAABBwAAAAEHAAAAAQcAAAABBw==', jwt: await idp.sign(good) }, 400, /DSA keys are not accepted/],
      ['short RSA', { public_key: authorizedKeyLine(publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)), jwt: await idp.sign(good) }, 400, /at least 2048 bits/],
      ['malformed key', { public_key: 'ssh-ed25519 AAAA', jwt: await idp.sign(good) }, 400, /malformed key blob/],
      ['missing key', { jwt: await idp.sign(good) }, 400, /public_key/],
    ];
    const before = await inventoryCount();
    for (const [name, body, status, message] of cases) {
      const r = await certSign(body);
      assert.equal(r.status, status, `${name}: ${r.raw}`);
      assert.equal(r.body.status, status, name);
      assert.match(r.body.message, message, name);
      assert.deepEqual(Object.keys(r.body).sort(), ['message', 'status'], name);
    }
    assert.equal(await inventoryCount(), before);
    await other.close();
  });

  it('a deleted CA signs nothing; a new one signs with its new key', async () => {
    const own = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'tmp', domain: 'tmp.example.com' } })).body.result;
    await allowEveryone(t, tenant.accountId, own.id, admin);
    const path = scoped('account', tenant.accountId, `/access/apps/${own.id}/ca`);
    const first = (await t.call('POST', path, { token: admin })).body.result;
    const jwt = await idp.sign({ aud: [own.aud], email: 'b@example.com' });
    assert.equal((await certSign({ public_key: keyLine(), jwt })).status, 200);
    await t.call('DELETE', path, { token: admin });
    const gone = await certSign({ public_key: keyLine(), jwt });
    assert.equal(gone.status, 404);
    assert.match(gone.body.message, /no CA for this application/);
    const second = (await t.call('POST', path, { token: admin })).body.result;
    const again = await certSign({ public_key: keyLine(), jwt });
    assert.equal(certOf(again.body.certificate).signatureKey.toString('base64'), second.public_key.split(' ')[1]);
    assert.notEqual(first.public_key, second.public_key);
  });

  it('policy: key types, principal mapping and allow-lists, TTL maximum, critical option values', async () => {
    const jwt = await idp.sign({ aud: [app.aud], email: 'alice@example.com', preferred_username: 'alice.ops' });
    assert.equal((await t.call('GET', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/policy`), { token: tenant.read })).body.result.ttl, '3m');
    await setPolicy({ key_types: ['ecdsa-sha2-nistp256'] });
    const refusedType = await certSign({ public_key: keyLine('ed25519'), jwt });
    assert.equal(refusedType.status, 403);
    assert.match(refusedType.body.message, /key type ssh-ed25519 is not allowed/);
    assert.equal((await certSign({ public_key: keyLine('p256'), jwt })).status, 200);

    await setPolicy({ principals: { from: 'claim', claim: 'preferred_username', allow: ['*.ops'] }, ttl: '10m', max_ttl: '1h' });
    const byClaim = await certSign({ public_key: keyLine('rsa'), jwt });
    assert.equal(byClaim.status, 200, byClaim.raw);
    const cert = certOf(byClaim.body.certificate);
    assert.deepEqual(cert.principals, ['alice.ops']);
    assert.equal(Number(cert.validBefore - cert.validAfter), 600 + 30);
    await setPolicy({ principals: { allow: ['bob'] } });
    const notAllowed = await certSign({ public_key: keyLine(), jwt });
    assert.equal(notAllowed.status, 403);
    assert.match(notAllowed.body.message, /principal "alice" is not allowed/);

    await setPolicy({ principals: { allow: ['alice', 'svc'] }, critical_options: { force_command: { allowed: ['/usr/bin/backup'], default: '/usr/bin/backup' }, source_address: { allowed: ['10.0.0.0/8'], default: ['10.1.0.0/16'] } } });
    const withOptions = certOf((await certSign({ public_key: keyLine(), jwt })).body.certificate);
    assert.deepEqual(withOptions.criticalOptions, { 'force-command': '/usr/bin/backup', 'source-address': '10.1.0.0/16' });

    const sign = (body: unknown) => t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/sign`), { token: signer, body });
    const outside = await sign({ public_key: keyLine(), principals: ['svc'], critical_options: { source_address: ['192.168.0.0/16'] } });
    assert.equal(outside.status, 403);
    assert.equal(outside.body.errors[0].code, 12140);
    assert.match(outside.body.errors[0].message, /source-address/);
    const otherCommand = await sign({ public_key: keyLine(), principals: ['svc'], critical_options: { force_command: '/bin/sh' } });
    assert.equal(otherCommand.status, 403);
    assert.match(otherCommand.body.errors[0].message, /force-command/);
    await setPolicy({});
  });

  it('the signing API: principals, ttl, key id; serial as a string; refusals record nothing', async () => {
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/sign`);
    await setPolicy({ principals: { allow: ['deploy', 'ops', 'x'] } });
    const r = await t.call('POST', path, { token: signer, body: { public_key: keyLine('p256'), principals: ['deploy', 'ops'], ttl: '2m', key_id: 'ci-job-42' } });
    assert.equal(r.status, 200, r.raw);
    const result = r.body.result;
    assert.equal(typeof result.serial, 'string');
    const cert = certOf(result.certificate);
    assert.equal(result.serial, cert.serial.toString());
    assert.deepEqual(cert.principals, ['deploy', 'ops']);
    assert.equal(Number(cert.validBefore - cert.validAfter), 120 + 30);
    assert.match(cert.keyId, /^token:[0-9a-f]{32} cert=[0-9a-f]{32} label=ci-job-42$/, 'the CA\'s part first, the caller\'s label after it');
    assert.equal(result.valid_before, new Date(Number(cert.validBefore) * 1000).toISOString().replace('.000Z', 'Z'));

    const before = await inventoryCount();
    const refusals: [unknown, number, number][] = [
      [{ public_key: keyLine(), principals: ['x'], ttl: '2h' }, 403, 12140],
      [{ public_key: keyLine(), principals: ['x'], ttl: 0 }, 400, 12130],
      [{ public_key: keyLine(), principals: [] }, 400, 12130],
      [{ public_key: keyLine(), principals: ['a b'] }, 403, 12140],
      [{ public_key: keyLine(), principals: ['x'], extensions: ['permit-port-forwarding'] }, 403, 12140],
      [{ public_key: 'ssh-rsa AAAA', principals: ['x'] }, 400, 12130],
      [{ public_key: keyLine(), principals: ['x'], serial: '1' }, 400, 12130],
      [{ public_key: keyLine(), principals: ['root'] }, 403, 12140],
      [{ public_key: keyLine(), principals: ['x'], key_id: 'alice@example.com cert=0' }, 400, 12130],
    ];
    for (const [body, status, code] of refusals) {
      const res = await t.call('POST', path, { token: signer, body });
      assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 120)}: ${res.raw}`);
      assert.equal(res.body.errors[0].code, code);
    }
    assert.equal(await inventoryCount(), before);
    const noPermission = await t.call('POST', path, { token: admin, body: { public_key: keyLine(), principals: ['x'] } });
    assert.equal(noPermission.status, 403);
    assert.equal(noPermission.body.errors[0].code, 9109);
  });

  it('identity providers: https only (loopback http allowed), public keys only, one per issuer', async () => {
    const path = scoped('account', tenant.accountId, '/access/identity_providers');
    const bad: [unknown, string][] = [
      [{ name: 'x', config: { issuer: 'http://idp.example.com', jwks: idp.jwks } }, '/config/issuer'],
      [{ name: 'x', config: { issuer: 'https://a.example', jwks_url: 'http://evil.example/jwks' } }, '/config/jwks_url'],
      [{ name: 'x', config: { issuer: 'https://b.example' } }, '/config'],
      [{ name: 'x', config: { issuer: 'https://c.example', jwks: { keys: [{ ...idp.jwks.keys[0], d: 'secret' }] } } }, '/config/jwks/keys/0'],
      [{ name: 'x', config: { issuer: 'https://d.example', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }] } } }, '/config/jwks/keys/0'],
    ];
    for (const [body, pointer] of bad) {
      const r = await t.call('POST', path, { token: admin, body });
      assert.equal(r.status, 400, r.raw);
      assert.equal(r.body.errors[0].source.pointer, pointer);
    }
    const dup = await t.call('POST', path, { token: admin, body: { name: 'again', config: { issuer: idp.issuer, jwks: idp.jwks } } });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.errors[0].code, 12132);
    const loopback = await t.call('POST', path, { token: admin, body: { name: 'dev', config: { issuer: 'http://127.0.0.1:5556/dex', jwks_url: await idp.serve() } } });
    assert.equal(loopback.status, 201);
    const listed = await t.call('GET', path, { token: admin });
    assert.equal(listed.body.result.length, 2);
    const del = await t.call('DELETE', `${path}/${loopback.body.result.id}`, { token: admin });
    assert.equal(del.status, 202);
    assert.equal((await t.call('GET', path, { token: tenant.read })).status, 403, 'apps permission does not reach providers');
  });
});
