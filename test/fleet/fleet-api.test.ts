import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { signSshsig } from '../../src/openssh/sshsig.ts';
import { decodeKrl } from '../../src/openssh/krl.ts';
import { parseCertificate, SSH_CERT_TYPE_HOST } from '../../src/openssh/certificate.ts';
import { ENROLL_NAMESPACE } from '../../src/infrastructure/host-enrollment-service.ts';

const SIGN = 'Access: SSH Certificates Sign';
const WRITE = 'Access: Apps and Policies Write';

/** A host key made here, with what enrollment needs of it. */
function hostKey(type: 'ed25519' | 'ec' = 'ed25519') {
  const { publicKey, privateKey } = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const publicBlob = publicKeyBlob(publicKey);
  return { line: authorizedKeyLine(publicBlob), publicBlob, privateKey, proof: (challenge: string) => signSshsig({ privateKey, publicBlob }, ENROLL_NAMESPACE, Buffer.from(challenge)).toString('base64') };
}

describe('fleet API: targets, join tokens, enrollment, host credentials, bundles, KRLs and host certificates', () => {
  let t: TestApp;
  let tenant: Tenant;
  let other: Tenant;
  let signer: string;
  const at = (rest: string, acct = tenant.accountId) => scoped('account', acct, rest);

  let skew = 0;
  before(async () => {
    t = await makeTestApp({ clock: { now: () => new Date(Date.now() + skew) } });
    tenant = await t.tenant();
    other = await t.tenant();
    signer = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [SIGN, WRITE] })).value;
  });
  after(() => t.close());

  const target = async (hostname: string, extra: Record<string, unknown> = {}) => {
    const r = await t.call('POST', at('/infrastructure/targets'), { token: tenant.write, body: { hostname, ...extra } });
    assert.equal(r.status, 201, r.raw);
    return r.body.result as { id: string; hostname: string };
  };
  const joinToken = async (targetId: string, body: Record<string, unknown> = {}, token = tenant.write, acct = tenant.accountId) =>
    t.call('POST', at(`/infrastructure/targets/${targetId}/join_token`, acct), { token, body });
  const enroll = async (joinTokenValue: string, keys: ReturnType<typeof hostKey>[]) => {
    const c = await t.call('POST', '/client/v4/host/enroll/challenge', { body: { join_token: joinTokenValue } });
    if (c.status !== 200) return c;
    const challenge = c.body.result.challenge as string;
    return t.call('POST', '/client/v4/host/enroll', { body: { join_token: joinTokenValue, challenge, host_keys: keys.map((k) => ({ public_key: k.line, signature: k.proof(challenge) })) } });
  };
  const enrolledHost = async (hostname: string, keys = [hostKey()]) => {
    const tg = await target(hostname);
    const jt = await joinToken(tg.id);
    assert.equal(jt.status, 200, jt.raw);
    const r = await enroll(jt.body.result.token, keys);
    assert.equal(r.status, 200, r.raw);
    return { target: tg, credential: r.body.result.credential as string, id: r.body.result.id as string, keys };
  };
  const app = async (domain: string) => {
    const r = await t.call('POST', at('/access/apps'), { token: tenant.write, body: { name: domain, domain } });
    assert.equal(r.status, 201, r.raw);
    const ca = await t.call('POST', at(`/access/apps/${r.body.result.id}/ca`), { token: tenant.write });
    assert.equal(ca.status, 200, ca.raw);
    return { id: r.body.result.id as string, caKey: ca.body.result.public_key as string };
  };
  const bundle = async (credential: string, etag?: string) => {
    const res = await t.app.inject({ method: 'GET', url: '/client/v4/host/trust_bundle', headers: { authorization: `Bearer ${credential}`, ...(etag ? { 'if-none-match': etag } : {}) } });
    return { status: res.statusCode, etag: String(res.headers['etag'] ?? ''), version: Number(res.headers['x-bundle-version']), body: res.statusCode === 200 ? JSON.parse(res.body) : res.body };
  };
  const krl = async (credential: string) => {
    const res = await t.app.inject({ method: 'GET', url: '/client/v4/host/krl', headers: { authorization: `Bearer ${credential}` } });
    assert.equal(res.statusCode, 200, res.body);
    return { version: Number(res.headers['x-krl-version']), krl: decodeKrl(res.rawPayload) };
  };

  it('targets: Cloudflare\'s object, paging and filters; bad input is a 400 envelope; another account sees nothing', async () => {
    const a = await target(`db1.${tenant.zoneName}`, { ip: { ipv4: { ip_addr: '10.0.0.5', virtual_network_id: '238dccd1-149b-463d-8228-560ab83a54fd' } }, tags: { env: 'prod' }, aliases: ['DB1', '10.0.0.5'] });
    const got = await t.call('GET', at(`/infrastructure/targets/${a.id}`), { token: tenant.read });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.result.ip, { ipv4: { ip_addr: '10.0.0.5', virtual_network_id: '238dccd1-149b-463d-8228-560ab83a54fd' } });
    assert.deepEqual(got.body.result.aliases, ['db1', '10.0.0.5']);
    const listed = await t.call('GET', at(`/infrastructure/targets?hostname=db1.${tenant.zoneName}`), { token: tenant.read });
    assert.deepEqual(listed.body.result.map((x: { id: string }) => x.id), [a.id]);
    assert.equal(listed.body.result_info.total_count, 1);
    for (const body of [{ hostname: 'bad host' }, { hostname: '*.wild' }, { hostname: 'h', ip: { ipv4: { ip_addr: '::1' } } }, { hostname: 'h', extra: 1 }, { hostname: 'h', aliases: ['a,b'] }, { hostname: 'h', tags: { ['k'.repeat(300)]: 'v' } }]) {
      const r = await t.call('POST', at('/infrastructure/targets'), { token: tenant.write, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.errors[0].code, 12130);
    }
    assert.equal((await t.call('GET', at(`/infrastructure/targets/${a.id}`, other.accountId), { token: other.read })).status, 404);
    // A name in another account's zone is that account's: 409, as for an application's domain.
    const squat = await t.call('POST', at('/infrastructure/targets', other.accountId), { token: other.write, body: { hostname: `squat.${tenant.zoneName}` } });
    assert.equal(squat.status, 409);
    assert.equal(squat.body.errors[0].code, 12134);
    assert.equal(squat.body.errors[0].source.pointer, '/hostname');
    const alias = await t.call('POST', at('/infrastructure/targets', other.accountId), { token: other.write, body: { hostname: 'own-name', aliases: [`x.${tenant.zoneName}`] } });
    assert.equal(alias.body.errors[0].source.pointer, '/aliases/0');
    assert.equal((await t.call('POST', at('/infrastructure/targets'), { token: tenant.read, body: { hostname: 'x' } })).status, 403);
    const put = await t.call('PUT', at(`/infrastructure/targets/${a.id}`), { token: tenant.write, body: { hostname: `db2.${tenant.zoneName}` } });
    assert.equal(put.body.result.hostname, `db2.${tenant.zoneName}`);
    const del = await t.call('DELETE', at(`/infrastructure/targets/${a.id}`), { token: tenant.write });
    assert.equal(del.status, 200);
    assert.equal((await t.call('GET', at(`/infrastructure/targets/${a.id}`), { token: tenant.read })).status, 404);
  });

  it('join tokens: used once, expire, belong to their account, and bind host keys; a refusal writes nothing', async () => {
    const tg = await target(`jt.${tenant.zoneName}`);
    // Another account's token cannot make a join token for this target: 404, as if it did not exist.
    assert.equal((await joinToken(tg.id, {}, other.write, other.accountId)).status, 404);
    const jt = (await joinToken(tg.id)).body.result;
    assert.match(jt.token, /^acaj_/);
    const k = hostKey();
    assert.equal((await enroll(jt.token, [k])).status, 200);
    const again = await enroll(jt.token, [k]);
    assert.equal(again.status, 403);
    assert.equal(again.body.errors[0].code, 12138);

    const bound = (await joinToken(tg.id, { host_key_fingerprints: [`SHA256:${'A'.repeat(43)}`] })).body.result;
    const refused = await enroll(bound.token, [hostKey()]);
    assert.equal(refused.status, 403);
    assert.match(refused.body.errors[0].message, /bound to other host keys/);
    const hosts = await t.call('GET', at(`/infrastructure/hosts?target_id=${tg.id}`), { token: tenant.read });
    assert.equal(hosts.body.result.length, 1, 'only the first enrollment wrote a host');

    // A signature by another key than the one named is refused; so is one in another namespace.
    const named = hostKey();
    const thief = hostKey();
    const jt2 = (await joinToken(tg.id)).body.result;
    const c = (await t.call('POST', '/client/v4/host/enroll/challenge', { body: { join_token: jt2.token } })).body.result.challenge;
    const forged = await t.call('POST', '/client/v4/host/enroll', { body: { join_token: jt2.token, challenge: c, host_keys: [{ public_key: named.line, signature: thief.proof(c) }] } });
    assert.equal(forged.status, 403);
    const wrongNs = signSshsig({ privateKey: named.privateKey, publicBlob: named.publicBlob }, 'file', Buffer.from(c)).toString('base64');
    assert.equal((await t.call('POST', '/client/v4/host/enroll', { body: { join_token: jt2.token, challenge: c, host_keys: [{ public_key: named.line, signature: wrongNs }] } })).status, 403);
    // The token is still good after those refusals.
    assert.equal((await enroll(jt2.token, [named])).status, 200);

    // Two hours on, a token made for one hour is refused, and writes nothing.
    const late = (await joinToken(tg.id)).body.result;
    skew = 2 * 3600_000;
    try {
      const r = await enroll(late.token, [hostKey()]);
      assert.equal(r.status, 403);
      assert.equal(r.body.errors[0].code, 12138);
    } finally {
      skew = 0;
    }
    assert.equal((await joinToken(tg.id, { ttl: '48h' })).status, 400);

    // An unused token can be withdrawn, and then never enrolls; the list never shows a token's value.
    const spare = (await joinToken(tg.id)).body.result;
    const listed = await t.call('GET', at(`/infrastructure/targets/${tg.id}/join_tokens`), { token: tenant.read });
    assert.equal(listed.status, 200);
    assert.equal(listed.body.result.find((x: { id: string }) => x.id === spare.id).status, 'waiting');
    assert.ok(!listed.raw.includes(spare.token), 'no token value is listed');
    assert.equal((await t.call('DELETE', at(`/infrastructure/targets/${tg.id}/join_tokens/${spare.id}`), { token: tenant.read })).status, 403);
    assert.equal((await t.call('DELETE', at(`/infrastructure/targets/${tg.id}/join_tokens/${spare.id}`), { token: tenant.write })).status, 200);
    assert.equal((await enroll(spare.token, [hostKey()])).status, 403, 'a withdrawn token never enrolls');
    assert.equal((await t.call('DELETE', at(`/infrastructure/targets/${tg.id}/join_tokens/${spare.id}`), { token: tenant.write })).status, 404);
  });

  it('a host credential reads its own bundle, KRL and certificates, and is refused everywhere else', async () => {
    const h = await enrolledHost(`cred.${tenant.zoneName}`);
    assert.match(h.credential, /^acah_/);
    assert.equal((await bundle(h.credential)).status, 200);
    for (const [method, path] of [['GET', at('/access/apps')], ['GET', at('/access/audit')], ['GET', at('/infrastructure/targets')], ['GET', '/client/v4/user/tokens/verify']] as const) {
      const r = await t.call(method, path, { token: h.credential });
      assert.ok(r.status === 403 || r.status === 401, `${path}: ${r.status}`);
    }
    const removed = await t.call('DELETE', at(`/infrastructure/hosts/${h.id}`), { token: tenant.write });
    assert.equal(removed.status, 200);
    const after = await bundle(h.credential);
    assert.equal(after.status, 403);
  });

  it('one host, two applications: one bundle with both CAs, one KRL with both; deleting a CA or an app withdraws its key', async () => {
    const hostname = `web1.${tenant.zoneName}`;
    const wildcard = await app(`*.${tenant.zoneName}`);
    const own = await app(hostname);
    const h = await enrolledHost(hostname);
    const b1 = await bundle(h.credential);
    assert.equal(b1.status, 200);
    assert.deepEqual(new Set(b1.body.result.keys.map((k: { app_id: string }) => k.app_id)), new Set([wildcard.id, own.id]));
    assert.equal(b1.body.result.trusted_user_ca_keys.trim().split('\n').length, 2);
    assert.equal(b1.version, b1.body.result.version);
    assert.equal((await bundle(h.credential, b1.etag)).status, 304, 'an unchanged bundle is a 304');

    const key = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
    const certs = [];
    for (const a of [wildcard, own]) {
      await t.call('PUT', at(`/access/apps/${a.id}/ca/policy`), { token: tenant.write, body: { principals: { allow: ['ops'] } } });
      const c = await t.call('POST', at(`/access/apps/${a.id}/ca/sign`), { token: signer, body: { public_key: key, principals: ['ops'] } });
      assert.equal(c.status, 200, c.raw);
      certs.push({ app: a, ...c.body.result });
      const r = await t.call('POST', at(`/access/apps/${a.id}/ca/certificates/${c.body.result.id}/revoke`), { token: tenant.write, body: { reason: 'test' } });
      assert.equal(r.status, 200, r.raw);
    }
    const k1 = await krl(h.credential);
    assert.ok(k1.version > b1.version, 'the version grows with every revocation');
    const serials = k1.krl.certificates.flatMap((s) => s.serials.map(String));
    for (const c of certs) assert.ok(serials.includes(c.serial), `serial of ${c.app.id} is in the KRL`);
    assert.equal(k1.krl.certificates.length, 2, 'one section per CA key');

    const del = await t.call('DELETE', at(`/access/apps/${own.id}/ca`), { token: tenant.write });
    assert.equal(del.status, 202);
    const b2 = await bundle(h.credential);
    assert.deepEqual(b2.body.result.keys.map((k: { app_id: string }) => k.app_id), [wildcard.id]);
    assert.ok(b2.version > k1.version);
    assert.equal((await t.call('DELETE', at(`/access/apps/${wildcard.id}`), { token: tenant.write })).status, 202);
    const b3 = await bundle(h.credential);
    assert.deepEqual(b3.body.result.keys, [], 'no CA applies: an explicit empty list');
    assert.equal(b3.body.result.trusted_user_ca_keys, '');
  });

  it('a revoked certificate stays in hosts\' KRLs for the margin after it expires (hosts whose clocks lag), then leaves', async () => {
    const hostname = `skew.${tenant.zoneName}`;
    const a = await app(hostname);
    const h = await enrolledHost(hostname);
    await t.call('PUT', at(`/access/apps/${a.id}/ca/policy`), { token: tenant.write, body: { principals: { allow: ['ops'] } } });
    const sign = async () => {
      const key = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
      const c = await t.call('POST', at(`/access/apps/${a.id}/ca/sign`), { token: signer, body: { public_key: key, principals: ['ops'], ttl: 60 } });
      assert.equal(c.status, 200, c.raw);
      const r = await t.call('POST', at(`/access/apps/${a.id}/ca/certificates/${c.body.result.id}/revoke`), { token: tenant.write, body: { reason: 'test' } });
      assert.equal(r.status, 200, r.raw);
      return c.body.result.serial as string;
    };
    const serials = async () => (await krl(h.credential)).krl.certificates.flatMap((x) => x.serials.map(String));
    const first = await sign();
    try {
      skew = 40 * 60_000; // 39 minutes past its end: inside the default margin of an hour
      const second = await sign(); // a revocation moves the version: the KRL is built again at the skewed time
      assert.ok((await serials()).includes(first), 'expired 39 minutes ago, still listed');
      skew = 2 * 3600_000;
      await sign();
      const later = await serials();
      assert.ok(!later.includes(first), 'expired over an hour ago: left out');
      assert.ok(!later.includes(second), 'the second expired 79 minutes before: left out too');
    } finally {
      skew = 0;
    }
  });

  it('host certificates: the target\'s names only, host type, for enrolled keys only', async () => {
    // A read never makes a host CA: before any host enrolled, there is none to show.
    const fresh = await t.tenant();
    const none = await t.call('GET', scoped('account', fresh.accountId, '/access/host_ca'), { token: fresh.read });
    assert.equal(none.status, 404);
    assert.equal((await t.call('GET', scoped('account', fresh.accountId, '/access/host_ca'), { token: fresh.read })).status, 404, 'still none: the read made nothing');
    const k1 = hostKey();
    const k2 = hostKey('ec');
    const h = await enrolledHost(`certs.${tenant.zoneName}`, [k1, k2]);
    await t.call('PUT', at(`/infrastructure/targets/${h.target.id}`), { token: tenant.write, body: { hostname: `certs.${tenant.zoneName}`, aliases: ['certs-alias.example'] } });
    const r = await t.call('POST', '/client/v4/host/certificates', { token: h.credential, body: {} });
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.body.result.certificates.length, 2);
    for (const c of r.body.result.certificates) {
      const cert = parseCertificate(Buffer.from(c.certificate.split(' ')[1], 'base64'));
      assert.equal(cert.certType, SSH_CERT_TYPE_HOST);
      assert.deepEqual(cert.principals, [`certs.${tenant.zoneName}`, 'certs-alias.example']);
      assert.ok(Number(cert.validBefore - cert.validAfter) <= 30 * 86_400 + 300);
    }
    // A revoked host key gets nothing; the host's other key still gets its certificate.
    const revoked = await t.call('POST', at('/access/host_ca/revoked_keys'), { token: tenant.write, body: { public_key: k2.line, reason: 'key leaked' } });
    assert.equal(revoked.status, 200, revoked.raw);
    const partial = await t.call('POST', '/client/v4/host/certificates', { token: h.credential, body: {} });
    assert.equal(partial.status, 200, partial.raw);
    assert.equal(partial.body.result.certificates.length, 1);
    const onlyRevoked = await t.call('POST', '/client/v4/host/certificates', { token: h.credential, body: { public_keys: [k2.line] } });
    assert.equal(onlyRevoked.status, 403);
    assert.match(onlyRevoked.body.errors[0].message, /revoked/);
    const stranger = await t.call('POST', '/client/v4/host/certificates', { token: h.credential, body: { public_keys: [hostKey().line] } });
    assert.equal(stranger.status, 403);
    assert.equal(stranger.body.errors[0].code, 12140);
    const ca = await t.call('GET', at('/access/host_ca'), { token: tenant.read });
    assert.equal(ca.status, 200);
    const known = await t.call('GET', `/cdn-cgi/access/host_ca?hostname=certs.${tenant.zoneName}`);
    assert.equal(known.status, 200, known.raw);
    assert.match(known.body.known_hosts, new RegExp(`^@cert-authority ${tenant.zoneName.replace(/\./g, '\\.')},\\*\\.${tenant.zoneName.replace(/\./g, '\\.')} ecdsa-sha2-nistp256 `));
    assert.equal((await t.call('GET', '/cdn-cgi/access/host_ca?hostname=nobody.example.org')).status, 404);
  });
});
