import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrivateKeyFile, PrivateKeyFileError } from './private-key-file.ts';
import { publicKeyBlob } from './public-key-blob.ts';
import { SshReader, SshWriter } from './ssh-wire.ts';
import { missingTool } from '../../test/helpers/system-tools.ts';
import { testTempDir } from '../../test/helpers/temp-dir.ts';

const missing = missingTool('ssh-keygen', ['-?']);
const skip = missing ?? false;
let dir = '';

interface Generated { path: string; text: string; pubBlob: Buffer; comment: string }

function keygen(name: string, args: string[], passphrase = ''): Generated {
  const path = join(dir, name);
  const r = spawnSync('ssh-keygen', ['-q', ...args, '-N', passphrase, '-C', `${name}@test`, '-f', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return read(path, `${name}@test`);
}

/** Rewrites a key file in another format, as `ssh-keygen -p -m PEM|PKCS8` does. */
function convert(key: Generated, format: 'PEM' | 'PKCS8'): Generated {
  const r = spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', '', '-m', format, '-f', key.path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return read(key.path, key.comment);
}

function read(path: string, comment: string): Generated {
  const pubBlob = Buffer.from(readFileSync(`${path}.pub`, 'utf8').split(' ')[1]!, 'base64');
  return { path, text: readFileSync(path, 'utf8'), pubBlob, comment };
}

/** The fields of an openssh-key-v1 file, to build broken variants of a real one. */
interface V1 { cipher: string; kdf: string; count: number; outer: Buffer; check: [number, number]; key: Buffer; comment: string; pad?: Buffer }

/** How many strings (the type included) each key type's private fields take. */
const FIELDS: Record<string, number> = { 'ssh-ed25519': 3, 'ecdsa-sha2-nistp256': 4, 'ecdsa-sha2-nistp384': 4, 'ssh-rsa': 7 };

function decodeV1(text: string): V1 {
  const body = Buffer.from(text.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').subarray(15);
  const r = new SshReader(body);
  const [cipher, kdf] = [r.text(), r.text()];
  r.bytes();
  const count = r.uint32();
  const outer = r.bytes();
  const section = r.bytes();
  const p = new SshReader(section);
  const check: [number, number] = [p.uint32(), p.uint32()];
  const start = p.position;
  const type = new SshReader(section.subarray(start)).text();
  for (let i = 0; i < FIELDS[type]!; i++) p.bytes();
  return { cipher, kdf, count, outer, check, key: section.subarray(start, p.position), comment: p.text() };
}

function encodeV1(v: V1): string {
  const section = new SshWriter().uint32(v.check[0]).uint32(v.check[1]).raw(v.key).string(v.comment);
  const unpadded = section.toBuffer().length;
  section.raw(v.pad ?? Buffer.from(Array.from({ length: (8 - (unpadded % 8)) % 8 }, (_, i) => i + 1)));
  const bytes = new SshWriter().raw(Buffer.from('openssh-key-v1\0', 'latin1')).string(v.cipher).string(v.kdf).string('')
    .uint32(v.count).string(v.outer).string(section.toBuffer()).toBuffer();
  const lines = bytes.toString('base64').match(/.{1,70}/g)!.join('\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** The raw strings of a private key (type first), and a way to put them back together. */
const fieldsOf = (key: Buffer): Buffer[] => {
  const r = new SshReader(key);
  const out: Buffer[] = [];
  while (!r.done) out.push(r.bytes());
  return out;
};
const joinFields = (fields: Buffer[]): Buffer => fields.reduce((w, f) => w.string(f), new SshWriter()).toBuffer();

/** Asserts a PrivateKeyFileError with this message, and that the message quotes no key material. */
function refuses(text: string, message: RegExp): void {
  assert.throws(() => parsePrivateKeyFile(text), (e: Error) => {
    assert.ok(e instanceof PrivateKeyFileError, `${e.name}: ${e.message}`);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /[A-Za-z0-9+/]{24,}|[0-9a-f]{24,}/);
    return true;
  });
}

const keys: Record<string, Generated> = {};

describe('host private key files', () => {
  before(() => {
    if (missing) return;
    dir = testTempDir('access-ca-private-key-');
    keys.ed = keygen('ed', ['-t', 'ed25519']);
    keys.ed2 = keygen('ed2', ['-t', 'ed25519']);
    keys.p256 = keygen('p256', ['-t', 'ecdsa', '-b', '256']);
    keys.p256b = keygen('p256b', ['-t', 'ecdsa', '-b', '256']);
    keys.p384 = keygen('p384', ['-t', 'ecdsa', '-b', '384']);
    keys.p521 = keygen('p521', ['-t', 'ecdsa', '-b', '521']);
    keys.rsa = keygen('rsa', ['-t', 'rsa', '-b', '3072']);
    keys.rsa2 = keygen('rsa2', ['-t', 'rsa', '-b', '2048']);
  });

  it('reads the OpenSSH files ssh-keygen writes, for every host key type', { skip }, () => {
    const expected: [string, string][] = [
      ['ed', 'ssh-ed25519'], ['p256', 'ecdsa-sha2-nistp256'], ['p384', 'ecdsa-sha2-nistp384'], ['p521', 'ecdsa-sha2-nistp521'], ['rsa', 'ssh-rsa'],
    ];
    for (const [name, type] of expected) {
      const key = parsePrivateKeyFile(keys[name]!.text);
      assert.equal(key.type, type);
      assert.deepEqual(key.publicBlob, keys[name]!.pubBlob, name);
      assert.equal(key.comment, `${name}@test`);
      assert.equal(key.privateKey.type, 'private');
      const digest = type === 'ssh-ed25519' ? null : 'sha256';
      const signature = sign(digest, Buffer.from('x'), key.privateKey);
      assert.equal(verify(digest, Buffer.from('x'), createPublicKey(key.privateKey), signature), true);
    }
  });

  it('reads PEM: SEC 1 and PKCS#1 from ssh-keygen -m PEM, PKCS#8 from -m PKCS8 and from node', { skip }, () => {
    const cases: [Generated, string][] = [
      [convert(keygen('pem384', ['-t', 'ecdsa', '-b', '384']), 'PEM'), '-----BEGIN EC PRIVATE KEY-----'],
      [convert(keygen('pemrsa', ['-t', 'rsa', '-b', '2048']), 'PEM'), '-----BEGIN RSA PRIVATE KEY-----'],
      [convert(keygen('p8-521', ['-t', 'ecdsa', '-b', '521']), 'PKCS8'), '-----BEGIN PRIVATE KEY-----'],
      [convert(keygen('p8rsa', ['-t', 'rsa', '-b', '2048']), 'PKCS8'), '-----BEGIN PRIVATE KEY-----'],
    ];
    for (const [file, header] of cases) {
      assert.ok(file.text.startsWith(header), file.path);
      const key = parsePrivateKeyFile(file.text);
      assert.deepEqual(key.publicBlob, file.pubBlob, file.path);
      assert.equal(key.comment, '');
    }
    const ed = generateKeyPairSync('ed25519');
    const parsed = parsePrivateKeyFile(ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    assert.equal(parsed.type, 'ssh-ed25519');
    assert.deepEqual(parsed.publicBlob, publicKeyBlob(ed.publicKey));
  });

  it('refuses encrypted keys, OpenSSH and PEM alike, with the same clear message', { skip }, () => {
    const ENCRYPTED = /^encrypted private keys are not supported; host keys are unencrypted$/;
    refuses(keygen('enc', ['-t', 'ed25519'], 'passphrase').text, ENCRYPTED);
    refuses(keygen('encpem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'passphrase').text, ENCRYPTED);
    const p8 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'passphrase' }) as string;
    refuses(p8, ENCRYPTED);
  });

  it('refuses truncated, oversize and foreign files', { skip }, () => {
    const lines = keys.ed!.text.trim().split('\n');
    const cut = [...lines.slice(0, 3), lines.at(-1)!].join('\n');
    refuses(cut, /^the private key file is malformed \(truncated\)$/);
    refuses(lines.slice(0, -1).join('\n'), /no BEGIN\/END lines/);
    refuses(keys.ed!.text.replace(/\n(.)/, '\n*$1'), /not base64/);
    refuses(`${keys.ed!.text}${' '.repeat(64 * 1024)}`, /over 64 KiB/);
    refuses(readFileSync(`${keys.ed!.path}.pub`, 'utf8'), /expected an OpenSSH or PEM private key file/);
    refuses(generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, /unsupported private key type/);
    refuses(keygen('rsa1024', ['-t', 'rsa', '-b', '1024']).text, /^the host key is refused: RSA keys must have at least 2048 bits; this one has 1024$/);
  });

  it('refuses a file whose private and public parts do not belong together', { skip }, () => {
    const ed = decodeV1(keys.ed!.text);
    const ed2 = decodeV1(keys.ed2!.text);
    // Sanity: the helpers rebuild the real file byte for byte.
    assert.equal(encodeV1(ed), keys.ed!.text);
    refuses(encodeV1({ ...ed, outer: ed2.outer }), /public key inside the private section differs/);
    // Another key's public key everywhere, with this key's seed: the seed derives a different public key.
    const [type, , sk] = fieldsOf(ed.key) as [Buffer, Buffer, Buffer];
    const pk2 = fieldsOf(ed2.key)[1]!;
    refuses(encodeV1({ ...ed, outer: ed2.outer, key: joinFields([type, pk2, Buffer.concat([sk.subarray(0, 32), pk2])]) }), /^the private key does not match its public key$/);
    refuses(encodeV1({ ...ed, key: joinFields([type, fieldsOf(ed.key)[1]!, Buffer.concat([sk.subarray(0, 32), pk2])]) }), /malformed ssh-ed25519 private key/);

    const ec = decodeV1(keys.p256!.text);
    const ec2 = decodeV1(keys.p256b!.text);
    const ecFields = fieldsOf(ec.key);
    // The other key's scalar under this key's point: only the signing check can tell.
    refuses(encodeV1({ ...ec, key: joinFields([...ecFields.slice(0, 3), fieldsOf(ec2.key)[3]!]) }), /^the private key does not match its public key$/);
    refuses(encodeV1({ ...ec, key: joinFields([ecFields[0]!, Buffer.from('nistp384'), ...ecFields.slice(2)]) }), /the curve does not match ecdsa-sha2-nistp256/);

    const rsa = decodeV1(keys.rsa!.text);
    const rsa2 = decodeV1(keys.rsa2!.text);
    const [t, n, e, d, iqmp, p, q] = fieldsOf(rsa.key) as Buffer[];
    refuses(encodeV1({ ...rsa, key: joinFields([t!, n!, e!, d!, iqmp!, fieldsOf(rsa2.key)[5]!, q!]) }), /primes do not multiply to the modulus/);
    refuses(encodeV1({ ...rsa, key: joinFields([t!, n!, e!, d!, iqmp!, q!, p!]) }), /CRT coefficient/);
    const dPlus2 = Buffer.from(d!);
    dPlus2[dPlus2.length - 1]! ^= 2;
    refuses(encodeV1({ ...rsa, key: joinFields([t!, n!, e!, dPlus2, iqmp!, p!, q!]) }), /^the private key does not match its public key$/);
  });

  it('checks the container: check integers, padding, block size, key count, magic', { skip }, () => {
    const ed = decodeV1(keys.ed!.text);
    assert.deepEqual(parsePrivateKeyFile(encodeV1(ed)).publicBlob, keys.ed!.pubBlob);
    refuses(encodeV1({ ...ed, check: [ed.check[0], ed.check[0] ^ 1] }), /check integers differ/);
    const padLength = (8 - ((8 + ed.key.length + 4 + ed.comment.length) % 8)) % 8;
    assert.ok(padLength > 0, 'this comment leaves room for padding');
    refuses(encodeV1({ ...ed, pad: Buffer.alloc(padLength) }), /padding is not 1, 2, 3/);
    refuses(encodeV1({ ...ed, pad: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9].slice(0, padLength + 1)) }), /not padded to a whole block/);
    refuses(encodeV1({ ...ed, count: 2 }), /exactly one key/);
    refuses(encodeV1({ ...ed, cipher: 'aes256-ctr', kdf: 'bcrypt' }), /^encrypted private keys are not supported/);
    const wrongMagic = keys.ed!.text.replace(/\n[A-Za-z]/, '\nA');
    refuses(wrongMagic, /not an openssh-key-v1 private key/);
  });

  it('refuses oversize and non-string input without ssh-keygen', () => {
    refuses('x'.repeat(64 * 1024 + 1), /over 64 KiB/);
    refuses(undefined as unknown as string, /missing or over 64 KiB/);
    refuses('', /expected an OpenSSH or PEM private key file/);
  });
});
