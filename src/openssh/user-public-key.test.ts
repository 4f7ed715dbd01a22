import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { parseUserPublicKey, PublicKeyError } from './user-public-key.ts';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';
import { SshWriter } from './ssh-wire.ts';

const line = (blob: Buffer, type?: string) => `${type ?? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString()} ${blob.toString('base64')} me@laptop`;

describe('user public keys', () => {
  it('accepts Ed25519, ECDSA P-256/384/521 and RSA ≥ 2048, keeping the comment and fingerprint', () => {
    const keys = [
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    ];
    const types = keys.map((k) => {
      const parsed = parseUserPublicKey(authorizedKeyLine(publicKeyBlob(k), 'me@laptop'));
      assert.equal(parsed.comment, 'me@laptop');
      assert.match(parsed.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      return `${parsed.type}/${parsed.bits}`;
    });
    assert.deepEqual(types, ['ssh-ed25519/256', 'ecdsa-sha2-nistp256/256', 'ecdsa-sha2-nistp384/384', 'ecdsa-sha2-nistp521/521', 'ssh-rsa/2048']);
  });

  it('refuses DSA, short RSA, malformed blobs, trailing bytes, mismatched types and points off the curve', () => {
    const ed = publicKeyBlob(generateKeyPairSync('ed25519').publicKey);
    const p256 = publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
    const offCurve = Buffer.from(p256);
    offCurve[offCurve.length - 1]! ^= 1;
    const dsa = new SshWriter().string('ssh-dss').mpint(Buffer.of(7)).mpint(Buffer.of(7)).mpint(Buffer.of(7)).mpint(Buffer.of(7)).toBuffer();
    const cases: [string, RegExp][] = [
      [line(dsa), /DSA keys are not accepted/],
      [line(publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)), /at least 2048 bits; this one has 1024/],
      [line(Buffer.concat([ed, Buffer.of(0)])), /trailing bytes/],
      [line(ed.subarray(0, 20)), /malformed key blob/],
      [line(ed, 'ssh-rsa'), /the line says "ssh-rsa" but the key is "ssh-ed25519"/],
      [line(offCurve), /not a valid key/],
      ['ssh-ed25519', /expected an authorized_keys line/],
      ['ssh-ed25519 not*base64', /not base64/],
      ['', /expected an authorized_keys line|missing/],
      [line(new SshWriter().string('ssh-ed25519-cert-v01@openssh.com').toBuffer()), /not a certificate/],
      [line(new SshWriter().string('sk-ssh-ed25519@openssh.com').string(Buffer.alloc(32)).string('ssh:').toBuffer()), /unsupported key type/],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parseUserPublicKey(input), (e: Error) => e instanceof PublicKeyError && message.test(e.message), input.slice(0, 60));
    }
  });
});
