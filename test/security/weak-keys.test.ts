import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { SshWriter } from '../../src/openssh/ssh-wire.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const SIGN = 'Access: SSH Certificates Sign';
const P25519 = 2n ** 255n - 19n;
const P256 = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B256 = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn; // SEC 2 §2.4.2
const modPow = (b: bigint, e: bigint, m: bigint): bigint => {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
};
/** (0, √b) is on P-256 (y² = x³ − 3x + b; p ≡ 3 mod 4, so √b = b^((p+1)/4)). */
const P256_Y_AT_0 = modPow(B256, (P256 + 1n) / 4n, P256);

const line = (type: string, ...fields: Buffer[]) => {
  const w = new SshWriter().string(type);
  for (const f of fields) w.string(f);
  return `${type} ${w.toBuffer().toString('base64')} attacker@nowhere`;
};
const le32 = (y: bigint) => Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse();
const be = (v: bigint, bytes?: number) => {
  const hex = v.toString(16);
  return Buffer.from(hex.padStart(bytes ? bytes * 2 : hex.length + (hex.length % 2), '0'), 'hex');
};
/** An ssh-rsa line with the given exponent, over a real modulus (the 00 lead its top bit needs). */
const rsa = (e: Buffer, n: bigint) => line('ssh-rsa', e, Buffer.concat([Buffer.of(0), be(n)]));

describe('security: keys that need no secret get no certificate', () => {
  let t: TestApp;
  let tenant: Tenant;
  let signer: string;
  let path: string;

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    signer = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [SIGN] })).value;
    const app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: tenant.write, body: { name: 'ssh', domain: 'weak-keys.example.com' } })).body.result;
    assert.equal((await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: tenant.write })).status, 200);
    const policy = await t.call('PUT', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/policy`), { token: tenant.write, body: { principals: { allow: ['deploy'] } } });
    assert.equal(policy.status, 200, policy.raw);
    path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/sign`);
  });
  after(() => t.close());

  const inventoryCount = async () => Number((await t.db.selectFrom('ssh_certificates').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())?.n);

  it('refuses each weak key with 400 12130 at /public_key, records nothing, and still signs a real key', async () => {
    const n = BigInt(`0x${Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
    const rows: [string, string, RegExp][] = [
      ['Ed25519 identity (01 00…00)', line('ssh-ed25519', le32(1n)), /point of small order/],
      ['Ed25519 all zeros', line('ssh-ed25519', Buffer.alloc(32)), /all zero bytes/],
      ['Ed25519 order 8', line('ssh-ed25519', Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'hex')), /point of small order/],
      ['Ed25519 order 2 (y = p − 1)', line('ssh-ed25519', le32(P25519 - 1n)), /point of small order/],
      ['Ed25519 non-canonical (y = p + 1)', line('ssh-ed25519', le32(P25519 + 1n)), /not canonically encoded/],
      ['RSA e = 1', rsa(Buffer.of(1), n), /odd and at least 3 \(this key's is 1\)/],
      ['RSA e = 4', rsa(Buffer.of(4), n), /this key's is 4/],
      ['RSA e = 2^24 + 1', rsa(Buffer.from('01000001', 'hex'), n), /over 24 bits/],
      ['RSA even modulus', rsa(Buffer.from('010001', 'hex'), n - 1n), /modulus is even/],
      ['RSA e with a redundant 00', rsa(Buffer.from('00010001', 'hex'), n), /exponent is not minimally encoded/],
      ['P-256 point at infinity', line('ecdsa-sha2-nistp256', Buffer.from('nistp256'), Buffer.of(0)), /needs an uncompressed point/],
      // x = p spells the point (0, √b); the good-key check below signs that point's canonical spelling.
      ['P-256 x = p', line('ecdsa-sha2-nistp256', Buffer.from('nistp256'), Buffer.concat([Buffer.of(4), be(P256, 32), be(P256_Y_AT_0, 32)])), /coordinate not below the field prime/],
      ['P-256 (0, 0), off the curve', line('ecdsa-sha2-nistp256', Buffer.from('nistp256'), Buffer.concat([Buffer.of(4), Buffer.alloc(64)])), /not a valid key of its type/],
    ];
    const before = await inventoryCount();
    for (const [name, publicKey, message] of rows) {
      const r = await t.call('POST', path, { token: signer, body: { public_key: publicKey, principals: ['deploy'] } });
      assert.equal(r.status, 400, `${name}: ${r.raw}`);
      assert.equal(r.body.success, false, name);
      assert.equal(r.body.errors[0].code, 12130, name);
      assert.equal(r.body.errors[0].source?.pointer, '/public_key', name);
      assert.match(r.body.errors[0].message, message, name);
    }
    assert.equal(await inventoryCount(), before);

    const goods = [
      authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey), 'me@laptop'),
      line('ecdsa-sha2-nistp256', Buffer.from('nistp256'), Buffer.concat([Buffer.of(4), be(0n, 32), be(P256_Y_AT_0, 32)])),
    ];
    for (const good of goods) {
      const ok = await t.call('POST', path, { token: signer, body: { public_key: good, principals: ['deploy'] } });
      assert.equal(ok.status, 200, ok.raw);
      assert.deepEqual(parseCertificate(Buffer.from(ok.body.result.certificate.split(' ')[1], 'base64')).principals, ['deploy']);
    }
    assert.equal(await inventoryCount(), before + goods.length);
  });
});
