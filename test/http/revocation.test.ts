import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import type { TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseUserPublicKey } from '../../src/openssh/user-public-key.ts';
import { decodeKrl } from '../../src/openssh/krl.ts';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';

const ALL = ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write', 'Access: SSH Certificates Sign'];
const newKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('the inventory, revocation and the KRL', () => {
  let t: TestApp;
  let tenant: Tenant;
  let admin: string;
  let idp: TestIdp;
  let app: { id: string; aud: string };
  let at: (path: string) => string;
  let fixture: SigningFixture;
  const inv = (rest = '') => at(`/access/apps/${app.id}/ca/certificates${rest}`);

  before(async () => {
    fixture = await makeSigningFixture('https://revoke.example');
    ({ t, tenant, admin, idp, app, at } = fixture);
    await t.call('PUT', at(`/access/apps/${app.id}/ca/policy`), { token: admin, body: { principals: { allow: ['deploy', 'ops', 'db_admin', 'alice', 'bob', 'carol'] } } });
  });
  after(() => fixture.close());

  const person = async (email: string, key = newKey()) => {
    const r = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: key, jwt: await idp.sign({ aud: [app.aud], email }) } });
    assert.equal(r.status, 200, r.raw);
    return r.body.id as string;
  };
  const automation = async (principals: string[], key = newKey()) => {
    const r = await t.call('POST', at(`/access/apps/${app.id}/ca/sign`), { token: admin, body: { public_key: key, principals } });
    assert.equal(r.status, 200, r.raw);
    return r.body.result as { id: string; serial: string };
  };
  const krl = async (etag?: string) => {
    const res = await t.app.inject({ method: 'GET', url: at(`/access/apps/${app.id}/ca/krl`), headers: { authorization: `Bearer ${tenant.read}`, ...(etag ? { 'if-none-match': etag } : {}) } });
    return { status: res.statusCode, etag: String(res.headers['etag'] ?? ''), version: Number(res.headers['x-krl-version']), body: res.rawPayload };
  };

  it('lists and filters the inventory; shows one certificate', async () => {
    const alice = await person('alice@example.com');
    const ops = await automation(['ops', 'db_admin']);
    const list = await t.call('GET', inv(), { token: tenant.read });
    assert.equal(list.status, 200, list.raw);
    assert.ok(list.body.result.length >= 2);
    const byIdentity = await t.call('GET', inv('?identity=ALICE@example.com'), { token: tenant.read });
    assert.deepEqual(byIdentity.body.result.map((c: any) => c.id), [alice]);
    const byPrincipal = await t.call('GET', inv('?principal=db_admin'), { token: tenant.read });
    assert.deepEqual(byPrincipal.body.result.map((c: any) => c.id), [ops.id]);
    assert.equal((await t.call('GET', inv('?principal=db%admin'), { token: tenant.read })).body.result.length, 0, 'LIKE wildcards are literal');
    assert.equal((await t.call('GET', inv('?principal=dbXadmin'), { token: tenant.read })).body.result.length, 0, '_ is literal');
    const valid = await t.call('GET', inv(`?status=valid&valid_at=${encodeURIComponent(new Date().toISOString())}`), { token: tenant.read });
    assert.ok(valid.body.result.every((c: any) => c.status === 'valid'));
    const one = await t.call('GET', inv(`/${alice}`), { token: tenant.read });
    assert.equal(one.body.result.identity, 'alice@example.com');
    assert.equal(one.body.result.status, 'valid');
    assert.equal((await t.call('GET', inv(`/${'0'.repeat(32)}`), { token: tenant.read })).status, 404);
    assert.equal((await t.call('GET', inv('?valid_at=yesterday'), { token: tenant.read })).status, 400);
  });

  it('revokes one certificate with a reason; the KRL lists its serial, its version grows, ETag/304 work', async () => {
    const first = await krl();
    assert.equal(first.status, 200);
    const cert = await automation(['deploy']);
    const r = await t.call('POST', inv(`/${cert.id}/revoke`), { token: admin, body: { reason: 'laptop stolen' } });
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.body.result.certificates, 1);
    const shown = (await t.call('GET', inv(`/${cert.id}`), { token: tenant.read })).body.result;
    assert.equal(shown.status, 'revoked');
    assert.equal(shown.revocation.reason, 'laptop stolen');
    assert.match(shown.revocation.actor, /^token:/);
    const after = await krl();
    assert.equal(after.version, first.version + 1);
    assert.notEqual(after.etag, first.etag);
    const decoded = decodeKrl(after.body);
    assert.equal(decoded.version, BigInt(after.version));
    assert.ok(decoded.certificates.some((s) => s.serials.includes(BigInt(cert.serial))));
    assert.equal((await krl(after.etag)).status, 304);
    const again = await t.call('POST', inv(`/${cert.id}/revoke`), { token: admin, body: { reason: 'again' } });
    assert.equal(again.body.result.certificates, 0, 'revoking twice revokes nothing more');
    assert.equal((await t.call('POST', inv(`/${'a'.repeat(32)}/revoke`), { token: admin, body: { reason: 'x' } })).status, 404);
    const events = await t.db.selectFrom('audit_events').selectAll().where('type', '=', 'ssh_certificate.revoked').execute();
    assert.ok(events.some((e) => JSON.parse(e.data).reason === 'laptop stolen'));
  });

  it('bulk revokes by identity and principal; a revoked key covers past certificates and refuses future ones', async () => {
    const bobCerts = [await person('bob@example.com'), await person('bob@example.com')];
    const byIdentity = await t.call('POST', inv('/revoke'), { token: admin, body: { identity: 'Bob@Example.com', reason: 'left the company' } });
    assert.equal(byIdentity.body.result.certificates, 2, byIdentity.raw);
    for (const id of bobCerts) assert.equal((await t.call('GET', inv(`/${id}`), { token: tenant.read })).body.result.status, 'revoked');

    const key = newKey();
    const old = await automation(['ops'], key);
    const fp = parseUserPublicKey(key).fingerprint;
    const byKey = await t.call('POST', inv('/revoke'), { token: admin, body: { public_key_fingerprint: fp, reason: 'key leaked' } });
    assert.equal(byKey.body.result.certificates, 1);
    assert.equal((await t.call('GET', inv(`/${old.id}`), { token: tenant.read })).body.result.status, 'revoked');
    const refused = await t.call('POST', at(`/access/apps/${app.id}/ca/sign`), { token: admin, body: { public_key: key, principals: ['ops'] } });
    assert.equal(refused.status, 403);
    assert.match(refused.body.errors[0].message, /revoked/);
    const personRefused = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: key, jwt: await idp.sign({ aud: [app.aud], email: 'carol@example.com' }) } });
    assert.equal(personRefused.status, 403);
    const decoded = decodeKrl((await krl()).body);
    assert.ok(decoded.sha256Keys.some((h) => `SHA256:${h.toString('base64').replace(/=+$/, '')}` === fp), 'the KRL lists the key by SHA-256');

    const byPrincipal = await t.call('POST', inv('/revoke'), { token: admin, body: { principal: 'db_admin', reason: 'role removed' } });
    assert.ok(byPrincipal.body.result.certificates >= 1);
    const bad = await t.call('POST', inv('/revoke'), { token: admin, body: { identity: 'a@b.c', principal: 'x', reason: 'two' } });
    assert.equal(bad.status, 400);
    assert.equal((await t.call('POST', inv('/revoke'), { token: admin, body: { reason: 'none' } })).status, 400);
    assert.equal((await t.call('POST', inv('/revoke'), { token: tenant.read, body: { identity: 'a@b.c', reason: 'r' } })).status, 403, 'revoking needs Write');
  });

  it('an expired revoked certificate drops out of the KRL; the version never goes back', async () => {
    let now = Date.now();
    const clocked = await makeTestApp({ clock: { now: () => new Date(now) } });
    try {
      const tn = await clocked.tenant();
      const w = (await clocked.identity.createToken({ accountId: tn.accountId, permissions: ALL })).value;
      const a = (await clocked.call('POST', scoped('account', tn.accountId, '/access/apps'), { token: w, body: { name: 'e', domain: `e-${randomUUID()}.example.com` } })).body.result;
      await clocked.call('POST', scoped('account', tn.accountId, `/access/apps/${a.id}/ca`), { token: w });
      await clocked.call('PUT', scoped('account', tn.accountId, `/access/apps/${a.id}/ca/policy`), { token: w, body: { principals: { allow: ['x'] } } });
      const c = (await clocked.call('POST', scoped('account', tn.accountId, `/access/apps/${a.id}/ca/sign`), { token: w, body: { public_key: newKey(), principals: ['x'], ttl: 60 } })).body.result;
      await clocked.call('POST', scoped('account', tn.accountId, `/access/apps/${a.id}/ca/certificates/${c.id}/revoke`), { token: w, body: { reason: 'r' } });
      const get = async () => {
        const res = await clocked.app.inject({ method: 'GET', url: scoped('account', tn.accountId, `/access/apps/${a.id}/ca/krl`), headers: { authorization: `Bearer ${tn.read}` } });
        return { version: Number(res.headers['x-krl-version']), krl: decodeKrl(res.rawPayload) };
      };
      const before = await get();
      assert.deepEqual(before.krl.certificates.flatMap((s) => s.serials), [BigInt(c.serial)]);
      now += 120_000;
      const later = await get();
      assert.deepEqual(later.krl.certificates.flatMap((s) => s.serials), [], 'expired: sshd refuses it anyway');
      assert.equal(later.version, before.version);
    } finally {
      await clocked.close();
    }
  });
});
