import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped, type TestApp } from '../helpers/test-app.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { certSerial, cryptoRandom, type Random } from '../../src/platform/random.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const serialOf = (line: string) => parseCertificate(Buffer.from(line.split(' ')[1]!, 'base64')).serial;

describe('certificate serials', () => {
  it('grow with the millisecond: 42 bits of it, then 22 random bits; never zero', () => {
    const at = Date.UTC(2026, 10, 28, 12, 0, 0, 123);
    const s = certSerial(at);
    assert.equal(s >> 22n, BigInt(at));
    assert.ok(certSerial(at + 1) > certSerial(at) || certSerial(at + 1) >> 22n === BigInt(at + 1));
    assert.ok([1_000, 1_001, 2 ** 41, 2 ** 42 - 1].map(certSerial).every((v, i, all) => i === 0 || v > all[i - 1]!), 'ordered by time');
    assert.ok(certSerial(2 ** 42 - 1) < 2n ** 64n, 'a uint64 until the year 2109');
    for (let i = 0; i < 200; i++) assert.notEqual(certSerial(0), 0n);
  });
});

/** A CSPRNG whose first `repeats` serials are one value: the second certificate's first try collides. */
function collidingRandom(repeats: number): Random & { serials: bigint[] } {
  let calls = 0;
  const serials: bigint[] = [];
  return {
    ...cryptoRandom,
    serials,
    serial(nowMs) {
      const serial = ++calls <= repeats ? 0x1234_5678n : cryptoRandom.serial(nowMs);
      serials.push(serial);
      return serial;
    },
  };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  const unavailable = kind === 'postgres' ? await postgresUnavailable() : null;
  describe(`a serial the CA has already used (${kind})`, { skip: unavailable ?? false }, () => {
    let t: TestApp;
    let pg: TestDatabase | undefined;
    const random = collidingRandom(2);
    before(async () => {
      pg = kind === 'postgres' ? await postgresTestDatabase() : undefined;
      t = await makeTestApp({ random, ...(pg ? { databaseUrl: pg.url } : {}) });
    });
    after(async () => {
      await t.close();
      await pg?.drop();
    });

    it('is never handed out: the certificate is made again with a fresh serial, and recorded once', async () => {
      const tenant = await t.tenant();
      const admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ['Access: Apps and Policies Write', 'Access: SSH Certificates Sign'] })).value;
      const app = (await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'ssh', domain: 'serials.example.com' } })).body.result;
      assert.equal((await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: admin })).status, 200);
      assert.equal((await t.call('PUT', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/policy`), { token: admin, body: { principals: { allow: ['deploy'] } } })).status, 200);
      const sign = () => t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/sign`), { token: admin, body: { public_key: keyLine(), principals: ['deploy'] } });

      const first = await sign();
      assert.equal(first.status, 200, first.raw);
      const second = await sign();
      assert.equal(second.status, 200, second.raw);
      assert.equal(serialOf(first.body.result.certificate), 0x1234_5678n);
      const secondSerial = serialOf(second.body.result.certificate);
      assert.notEqual(secondSerial, 0x1234_5678n);
      assert.deepEqual(random.serials, [0x1234_5678n, 0x1234_5678n, secondSerial], 'the second certificate took two tries');
      assert.equal(second.body.result.serial, secondSerial.toString());

      const rows = await t.db.selectFrom('ssh_certificates').select(['id', 'serial']).where('app_id', '=', app.id).orderBy('serial').execute();
      assert.deepEqual(rows.map((r) => r.serial).sort(), [0x1234_5678n.toString(), secondSerial.toString()].sort());
      assert.deepEqual(rows.map((r) => r.id).sort(), [first.body.result.id, second.body.result.id].sort());
      const issued = await t.db.selectFrom('audit_events').select('subject').where('type', '=', 'ssh_certificate.issued').where('account_id', '=', tenant.accountId).execute();
      assert.deepEqual(issued.map((e) => e.subject).sort(), rows.map((r) => r.id).sort(), 'one issued event per certificate handed out');
    });
  });
}
