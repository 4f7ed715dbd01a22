import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { openPkcs11Token, type TokenObserver } from '../../src/signers/pkcs11-token.ts';
import { verifyP256 } from '../../src/openssh/ecdsa-signature.ts';
import { p256PublicKeyObject } from '../../src/openssh/ecdsa-p256.ts';
import { ApiError } from '../../src/platform/http/errors.ts';

const skip = softhsmUnavailable();

/** A log that keeps its lines, to check what was said (and that the PIN never was). */
function observer() {
  const lines: string[] = [];
  const failures: string[] = [];
  const signed: number[] = [];
  const put = (level: string) => (obj: object, msg: string) => void lines.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  const o: TokenObserver = { log: { info: put('info'), warn: put('warn'), error: put('error') }, failed: (k) => void failures.push(k), signed: (s) => void signed.push(s) };
  return { o, lines, failures, signed };
}

// SoftHSM2 reads its config when the module is first initialised: one token for the whole file, and the
// refusals come first, before any session has logged in (a login holds for the process).
test('a PKCS#11 token on SoftHSM2: refusals, key generation, attributes, signatures, the bounded queue, destroy', { skip: skip ?? false }, async (t) => {
  const hsm = createSoftHsmToken();
  process.env['SOFTHSM2_CONF'] = hsm.conf;
  t.after(() => hsm.remove());

  await t.test('a wrong PIN: check() names it, signing is a 503 with the reason, the PIN is never logged', async () => {
    const { o, lines, failures } = observer();
    const wrongPin = `${hsm.pin}0`;
    const token = openPkcs11Token({ module: hsm.module, tokenLabel: hsm.label, pin: wrongPin, retryMs: 0 }, o);
    try {
      const problem = await token.check();
      assert.equal(problem?.kind, 'pin');
      assert.match(problem!.reason, /CKR_PIN_INCORRECT/);
      const error = await token.signer('00', Buffer.alloc(0)).sign(Buffer.from('x')).catch((e: unknown) => e);
      assert.ok(error instanceof ApiError);
      assert.equal(error.status, 503);
      assert.equal(error.headers['retry-after'], '30');
      assert.match(error.message, /refused the PIN/);
      // A refused PIN is not tried again, even with retries due at once: one log line, one refusal.
      assert.equal((await token.check())?.kind, 'pin');
      assert.equal(lines.filter((l) => l.includes('pkcs11.unavailable')).length, 1);
      assert.ok(!lines.join('\n').includes(wrongPin), 'the PIN is not in the log');
      assert.deepEqual(failures, ['unavailable']);
    } finally {
      await token.close();
    }
  });

  await t.test('a module that does not load, and a label no token has', async () => {
    const { o, lines } = observer();
    const missing = openPkcs11Token({ module: '/nonexistent/libpkcs11.so', tokenLabel: hsm.label, pin: hsm.pin }, o);
    assert.deepEqual(await missing.check(), { kind: 'module', reason: 'the PKCS#11 module could not be loaded' });
    assert.match(lines.join('\n'), /\/nonexistent\/libpkcs11\.so/, 'the log names the path; the reason does not');
    await missing.close();
    const other = openPkcs11Token({ module: hsm.module, tokenLabel: 'no-such-token', pin: hsm.pin }, o);
    assert.equal((await other.check())?.kind, 'token');
    await other.close();
  });

  const { o, lines, failures, signed } = observer();
  const token = openPkcs11Token({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin, sessions: 2, maxWaiting: 4, maxWaitMs: 5000 }, o);
  t.after(() => token.close());
  assert.equal(await token.check(), null);
  const objectId = randomBytes(8);
  const caId = randomBytes(24).toString('hex');
  const blob = await token.generateKey(caId, objectId);
  assert.equal(blob.toString('base64').slice(0, 52), 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB');

  await t.test('the private key is sensitive, never extractable, labelled with the CA id', async () => {
    assert.deepEqual(await token.keyAttributes(objectId.toString('hex')), {
      token: true, private: true, sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, sign: true, label: caId,
    });
  });

  await t.test('500 signatures in the token verify as OpenSSH P-256 signatures (r and s as minimal mpints)', async () => {
    const signer = token.signer(objectId.toString('hex'), blob);
    const publicKey = p256PublicKeyObject(blob);
    // ~25 % of signatures have a high bit in r or s: 500 exercise both mpint forms many times over.
    // Five at a time: within the two sessions and four waiting places.
    for (let round = 0; round < 100; round++) {
      const data = Array.from({ length: 5 }, () => randomBytes(100));
      const signatures = await Promise.all(data.map((d) => signer.sign(d)));
      signatures.forEach((s, i) => assert.ok(verifyP256(publicKey, data[i]!, s), `signature ${round * 5 + i}`));
    }
    assert.equal(signed.length, 500);
  });

  await t.test('past the queue bound: 503 signerBusy with retry-after at once, and the rest sign', async () => {
    const signer = token.signer(objectId.toString('hex'), blob);
    // 2 sessions + 4 waiting: of 40 at once, at least 34 are turned away without waiting.
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => signer.sign(randomBytes(32))));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.ok(refused.length >= 34, `${refused.length} refused`);
    for (const r of refused) {
      assert.ok(r.reason instanceof ApiError);
      assert.equal(r.reason.status, 503);
      assert.equal(r.reason.headers['retry-after'], '1');
    }
    assert.ok(results.filter((r) => r.status === 'fulfilled').length >= 2);
    assert.ok(Date.now() - started < 5000);
    assert.ok(failures.filter((f) => f === 'busy').length >= 34);
  });

  await t.test('a destroyed key: signing is a 503 that says the key is not in the token', async () => {
    const id = randomBytes(8);
    const gone = await token.generateKey('to-destroy', id);
    await token.destroyKey(id.toString('hex'));
    const error = await token.signer(id.toString('hex'), gone).sign(Buffer.from('x')).catch((e: unknown) => e);
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 503);
    assert.match(error.message, /not in the token/);
    // The other key still signs.
    await token.signer(objectId.toString('hex'), blob).sign(Buffer.from('still here'));
  });

  assert.ok(!lines.join('\n').includes(hsm.pin), 'the PIN is not in the log');
});
