import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { armorSshsig, dearmorSshsig, publicKeyObjectFromBlob, signSshsig, SshsigError, verifySshsig } from './sshsig.ts';
import { parsePrivateKeyFile, type HostPrivateKey } from './private-key-file.ts';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';
import { PublicKeyError } from './user-public-key.ts';
import { SshWriter } from './ssh-wire.ts';
import { missingTool } from '../../test/helpers/system-tools.ts';
import { testTempDir } from '../../test/helpers/temp-dir.ts';

const missing = missingTool('ssh-keygen', ['-?']);
const skip = missing ?? false;
const NS = 'access-ca-host@example.com';
const MESSAGE = Buffer.from('enroll host web-1 at 2026-01-01T00:00:00Z\n');
let dir = '';

const nodeKey = (privateKey: KeyObject) => ({ privateKey, publicBlob: publicKeyBlob(createPublicKey(privateKey)) });
const ed = nodeKey(generateKeyPairSync('ed25519').privateKey);

/** A hand-built SSHSIG blob (PROTOCOL.sshsig §2), each field overridable, to test what verify refuses. */
function blob(o: { magic?: string; version?: number; publicBlob: Buffer; namespace?: string; reserved?: string; hash?: string; signature: Buffer }): Buffer {
  return new SshWriter().raw(Buffer.from(o.magic ?? 'SSHSIG')).uint32(o.version ?? 1).string(o.publicBlob).string(o.namespace ?? NS)
    .string(o.reserved ?? '').string(o.hash ?? 'sha512').string(o.signature).toBuffer();
}

/** The signed data written out from the spec, independently of the module under test. */
const signedData = (hash: string, message = MESSAGE, namespace = NS) => new SshWriter().raw(Buffer.from('SSHSIG')).string(namespace)
  .string('').string(hash).string(createHash(hash).update(message).digest()).toBuffer();

function refuses(run: () => unknown, message: RegExp): void {
  assert.throws(run, (e: Error) => {
    assert.ok(e instanceof SshsigError, `${e.name}: ${e.message}`);
    assert.match(e.message, message);
    return true;
  });
}

/** `ssh-keygen -Y verify`, trusting `key` as "id"; its exit status and output. */
function sshKeygenVerify(publicBlob: Buffer, sig: Buffer, namespace = NS, message = MESSAGE): { status: number | null; out: string } {
  const allowed = join(dir, 'allowed_signers');
  const sigFile = join(dir, 'msg.sig');
  writeFileSync(allowed, `id ${authorizedKeyLine(publicBlob)}\n`);
  writeFileSync(sigFile, armorSshsig(sig));
  const r = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', allowed, '-I', 'id', '-n', namespace, '-s', sigFile], { input: message, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const KINDS: [string, string[]][] = [
  ['ed25519', ['-t', 'ed25519']], ['p256', ['-t', 'ecdsa', '-b', '256']], ['p384', ['-t', 'ecdsa', '-b', '384']],
  ['p521', ['-t', 'ecdsa', '-b', '521']], ['rsa', ['-t', 'rsa', '-b', '3072']],
];
const keys: Record<string, { path: string; key: HostPrivateKey; pubBlob: Buffer }> = {};

describe('SSHSIG', () => {
  before(() => {
    if (missing) return;
    dir = testTempDir('access-ca-sshsig-');
    for (const [name, args] of KINDS) {
      const path = join(dir, name);
      const r = spawnSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', name, '-f', path], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const pubBlob = Buffer.from(readFileSync(`${path}.pub`, 'utf8').split(' ')[1]!, 'base64');
      keys[name] = { path, key: parsePrivateKeyFile(readFileSync(path, 'utf8')), pubBlob };
    }
  });

  it('ssh-keygen -Y verify accepts what we sign, for every key type and both hashes', { skip }, () => {
    for (const [name] of KINDS) {
      const { key, pubBlob } = keys[name]!;
      for (const hash of ['sha512', 'sha256'] as const) {
        const sig = signSshsig(key, NS, MESSAGE, hash);
        const ok = sshKeygenVerify(pubBlob, sig);
        assert.equal(ok.status, 0, `${name}/${hash}: ${ok.out}`);
        assert.match(ok.out, new RegExp(`Good "${NS}" signature for id with`));
        assert.deepEqual(verifySshsig(sig, NS, MESSAGE).publicBlob, pubBlob);
      }
      // The same check fails for another namespace or message, so the passes above mean something.
      const sig = signSshsig(key, NS, MESSAGE);
      assert.notEqual(sshKeygenVerify(pubBlob, sig, 'other-namespace').status, 0, name);
      assert.notEqual(sshKeygenVerify(pubBlob, sig, NS, Buffer.from('another message')).status, 0, name);
    }
  });

  it('verifies what ssh-keygen -Y sign writes, and re-armours it byte for byte', { skip }, () => {
    for (const [name] of KINDS) {
      for (const options of [[], ['-O', 'hashalg=sha256']]) {
        // A fresh file each time: with no one to answer its overwrite prompt, ssh-keygen keeps an old .sig and exits 0.
        const messageFile = join(dir, `message-${name}-${options.length}`);
        writeFileSync(messageFile, MESSAGE);
        const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-f', keys[name]!.path, '-n', NS, ...options, messageFile], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const text = readFileSync(`${messageFile}.sig`, 'utf8');
        const sig = dearmorSshsig(text);
        assert.equal(armorSshsig(sig), text);
        assert.deepEqual(verifySshsig(sig, NS, MESSAGE).publicBlob, keys[name]!.pubBlob, `${name} ${options.join(' ')}`);
        refuses(() => verifySshsig(sig, 'other-namespace', MESSAGE), /another namespace/);
        refuses(() => verifySshsig(sig, NS, Buffer.from('another message')), /^the signature does not verify$/);
      }
    }
  });

  it('refuses ssh-rsa (SHA-1) inner signatures, as ssh-keygen does', { skip }, () => {
    const { key, pubBlob } = keys.rsa!;
    const inner = new SshWriter().string('ssh-rsa').string(sign('sha1', signedData('sha512'), key.privateKey)).toBuffer();
    const sig = blob({ publicBlob: pubBlob, signature: inner });
    refuses(() => verifySshsig(sig, NS, MESSAGE), /^ssh-rsa signatures \(RSA with SHA-1\) are refused/);
    const theirs = sshKeygenVerify(pubBlob, sig);
    assert.notEqual(theirs.status, 0);
    assert.match(theirs.out, /unsupported RSA signature algorithm ssh-rsa/);
    // The same signature under rsa-sha2-256 (and a SHA-256 body) is accepted: only the algorithm was at fault.
    const sha256 = new SshWriter().string('rsa-sha2-256').string(sign('sha256', signedData('sha512'), key.privateKey)).toBuffer();
    assert.deepEqual(verifySshsig(blob({ publicBlob: pubBlob, signature: sha256 }), NS, MESSAGE).publicBlob, pubBlob);
  });

  it('round-trips node keys of every type, and publicKeyObjectFromBlob gives back the same key', () => {
    const privateKeys = [
      ed.privateKey,
      ...['P-256', 'P-384', 'P-521'].map((namedCurve) => generateKeyPairSync('ec', { namedCurve }).privateKey),
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    ];
    for (const privateKey of privateKeys) {
      const key = nodeKey(privateKey);
      const sig = signSshsig(key, NS, MESSAGE);
      assert.deepEqual(verifySshsig(sig, NS, MESSAGE).publicBlob, key.publicBlob);
      const expected = createPublicKey(privateKey).export({ format: 'jwk' });
      assert.deepEqual(publicKeyObjectFromBlob(key.publicBlob).export({ format: 'jwk' }), expected);
    }
  });

  it('refuses tampering, other namespaces and malformed blobs, each for its own reason', () => {
    const good = signSshsig(ed, NS, MESSAGE);
    const inner = new SshWriter().string('ssh-ed25519').string(sign(null, signedData('sha512'), ed.privateKey)).toBuffer();
    assert.deepEqual(blob({ publicBlob: ed.publicBlob, signature: inner }), good, 'the hand-built blob is the real one');
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5]! ^= 1;
    const cases: [Buffer, RegExp][] = [
      [flipped, /^the signature does not verify$/],
      [blob({ publicBlob: ed.publicBlob, signature: inner, magic: 'SSHSIX' }), /no SSHSIG preamble/],
      [blob({ publicBlob: ed.publicBlob, signature: inner, version: 2 }), /unsupported SSHSIG version/],
      [blob({ publicBlob: ed.publicBlob, signature: inner, hash: 'sha1' }), /unsupported hash algorithm/],
      [blob({ publicBlob: ed.publicBlob, signature: inner, reserved: 'x' }), /reserved field is not empty/],
      [blob({ publicBlob: ed.publicBlob, signature: inner, namespace: `${NS}x` }), /another namespace/],
      [Buffer.concat([good, Buffer.of(0)]), /^malformed signature \(trailing bytes\)$/],
      [good.subarray(0, good.length - 1), /^malformed signature \(truncated\)$/],
      [Buffer.alloc(64 * 1024 + 1), /over 64 KiB/],
      // A signature under the sha256 label over a sha512 hash: the label is part of what is signed.
      [blob({ publicBlob: ed.publicBlob, signature: inner, hash: 'sha256' }), /^the signature does not verify$/],
      [blob({ publicBlob: ed.publicBlob, signature: new SshWriter().string('ecdsa-sha2-nistp256').string(inner).toBuffer() }), /a ssh-ed25519 key cannot make a "ecdsa-sha2-nistp256" signature/],
      [blob({ publicBlob: ed.publicBlob, signature: new SshWriter().string('ssh-ed25519').string(Buffer.alloc(63)).toBuffer() }), /64 bytes/],
      [blob({ publicBlob: new SshWriter().string('ssh-ed25519').string(Buffer.alloc(32)).toBuffer(), signature: inner }), /^the signing key is refused: this ssh-ed25519 key is all zero bytes/],
      [blob({ publicBlob: Buffer.from('junk'), signature: inner }), /^the signing key is refused: malformed key blob/],
    ];
    for (const [sig, message] of cases) refuses(() => verifySshsig(sig, NS, MESSAGE), message);
    refuses(() => verifySshsig(good, NS, Buffer.from('enroll host web-2')), /^the signature does not verify$/);
    refuses(() => verifySshsig(good, '', MESSAGE), /non-empty/);
    refuses(() => signSshsig(ed, '', MESSAGE), /non-empty/);
  });

  it('refuses short RSA keys, non-minimal ECDSA integers and a public blob that is not the private key\'s', () => {
    const rsa1024 = nodeKey(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    refuses(() => verifySshsig(signSshsig(rsa1024, NS, MESSAGE), NS, MESSAGE), /^the signing key is refused: RSA keys must have at least 2048 bits/);
    const p256 = nodeKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const rs = sign('sha256', signedData('sha512'), { key: p256.privateKey, dsaEncoding: 'ieee-p1363' });
    const padded = new SshWriter().string(Buffer.concat([Buffer.alloc(2), rs.subarray(0, 32)])).mpint(rs.subarray(32)).toBuffer();
    const minimal = new SshWriter().mpint(rs.subarray(0, 32)).mpint(rs.subarray(32)).toBuffer();
    const ecSig = (body: Buffer) => blob({ publicBlob: p256.publicBlob, signature: new SshWriter().string('ecdsa-sha2-nistp256').string(body).toBuffer() });
    assert.deepEqual(verifySshsig(ecSig(minimal), NS, MESSAGE).publicBlob, p256.publicBlob);
    refuses(() => verifySshsig(ecSig(padded), NS, MESSAGE), /not minimal/);
    refuses(() => signSshsig({ privateKey: p256.privateKey, publicBlob: ed.publicBlob }, NS, MESSAGE), /not the private key's/);
    assert.throws(() => publicKeyObjectFromBlob(rsa1024.publicBlob), PublicKeyError);
  });

  it('armours as ssh-keygen does and refuses what is not armour', () => {
    const sig = signSshsig(ed, NS, MESSAGE);
    const text = armorSshsig(sig);
    const lines = text.split('\n');
    assert.equal(lines[0], '-----BEGIN SSH SIGNATURE-----');
    assert.equal(lines.at(-2), '-----END SSH SIGNATURE-----');
    assert.equal(lines.at(-1), '');
    assert.ok(lines.slice(1, -3).every((l) => l.length === 70), 'full lines are 70 characters');
    assert.deepEqual(dearmorSshsig(text), sig);
    assert.deepEqual(dearmorSshsig(text.replaceAll('\n', '\r\n')), sig);
    refuses(() => dearmorSshsig(` ${text}`), /not an armoured SSH signature/);
    refuses(() => dearmorSshsig(text.replace('-----END SSH SIGNATURE-----', '')), /not an armoured SSH signature/);
    refuses(() => dearmorSshsig(text.replace(/\n./, '\n*')), /not an armoured SSH signature/);
    refuses(() => dearmorSshsig('x'.repeat(96 * 1024 + 1)), /too long/);
  });
});
