import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyObjectSigner, type SshSigner } from '../../src/openssh/ssh-signer.ts';
import { signCertificate } from '../../src/openssh/sign-certificate.ts';
import { certTypeFor, SSH_CERT_TYPE_USER } from '../../src/openssh/certificate.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseUserPublicKey, type UserPublicKey } from '../../src/openssh/user-public-key.ts';
import { SshReader } from '../../src/openssh/ssh-wire.ts';
import { decodeKrl, encodeKrl, type Krl } from '../../src/openssh/krl.ts';
import { missingTool } from '../helpers/system-tools.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const LIST = 0x20, RANGE = 0x21, BITMAP = 0x22, KEY_ID = 0x23;
const missing = missingTool('ssh-keygen', ['-?']);

interface Ca { signer: SshSigner; blob: Buffer; pubFile: string }

let dir = '';
let caA: Ca;
let caB: Ca;
let alice: UserPublicKey;
let bob: UserPublicKey;

function makeCa(name: string): Ca {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const blob = publicKeyBlob(publicKey);
  const pubFile = join(dir, `${name}.pub`);
  writeFileSync(pubFile, `${authorizedKeyLine(blob, name)}\n`);
  return { signer: keyObjectSigner(privateKey, blob), blob, pubFile };
}

const userKey = () => parseUserPublicKey(authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey)));

/** Signs a user certificate and writes it as an OpenSSH -cert.pub file (no comment); returns its path. */
async function certFile(ca: Ca, key: UserPublicKey, serial: bigint, keyId: string): Promise<string> {
  const now = BigInt(Math.floor(Date.now() / 1000));
  const cert = await signCertificate({
    keyType: key.type, keyFields: key.fields, nonce: randomBytes(32), serial, certType: SSH_CERT_TYPE_USER, keyId,
    principals: ['someone'], validAfter: now - 60n, validBefore: now + 3600n, criticalOptions: {},
    extensions: { 'permit-pty': '' }, signatureKey: ca.blob,
  }, ca.signer);
  const file = join(dir, `c-${randomBytes(6).toString('hex')}-cert.pub`);
  writeFileSync(file, `${certTypeFor(key.type)} ${cert.blob.toString('base64')}\n`);
  return file;
}

/** ssh-keygen -Q: each file's verdict, "ok" or "REVOKED"; fails if ssh-keygen could not read the KRL. */
function query(krl: Buffer, files: string[]): Map<string, string> {
  const krlFile = join(dir, `q-${randomBytes(6).toString('hex')}.krl`);
  writeFileSync(krlFile, krl);
  const r = spawnSync('ssh-keygen', ['-Q', '-f', krlFile, ...files], { encoding: 'utf8' });
  const verdicts = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    // `<path> (<comment>): <verdict>`; a file without a comment gets its path as the comment.
    const m = /^(\S+)(?: \(.*\))?: (ok|REVOKED)$/.exec(line);
    if (m) verdicts.set(m[1]!, m[2]!);
  }
  assert.equal(verdicts.size, files.length, `ssh-keygen -Q answered ${verdicts.size} of ${files.length}: ${r.stderr}`);
  assert.equal(r.status, [...verdicts.values()].includes('REVOKED') ? 1 : 0, r.stderr);
  return verdicts;
}

/** ssh-keygen -k over a spec file; returns the KRL bytes. */
function keygenKrl(specLines: string[], args: string[]): Buffer {
  const spec = join(dir, `s-${randomBytes(6).toString('hex')}.txt`);
  const out = join(dir, `k-${randomBytes(6).toString('hex')}.krl`);
  writeFileSync(spec, specLines.map((l) => `${l}\n`).join(''));
  const r = spawnSync('ssh-keygen', ['-k', '-q', '-f', out, ...args, spec], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out);
}

/** The certificate sub-section types our KRL used, so each test knows which encoding it exercised. */
function subsectionTypes(bytes: Buffer): number[] {
  const r = new SshReader(bytes.subarray(8));
  r.uint32(); r.uint64(); r.uint64(); r.uint64(); r.bytes(); r.bytes();
  const types: number[] = [];
  while (!r.done) {
    const type = r.byte();
    const s = new SshReader(r.bytes());
    if (type !== 1) continue;
    s.bytes(); s.bytes();
    while (!s.done) { types.push(s.byte()); s.bytes(); }
  }
  return types;
}

const krlOf = (certificates: Krl['certificates'], sha256Keys: Buffer[] = []): Krl =>
  ({ version: 3n, generatedDate: BigInt(Math.floor(Date.now() / 1000)), comment: 'access-ca test', certificates, sha256Keys });

/** Asserts ssh-keygen's verdict for each [file, expected] pair. */
function expectVerdicts(krl: Buffer, cases: Array<[string, 'ok' | 'REVOKED', string]>) {
  const verdicts = query(krl, cases.map(([f]) => f));
  for (const [file, expected, label] of cases) assert.equal(verdicts.get(file), expected, label);
}

describe('KRL: our encoder, read by ssh-keygen -Q', { skip: missing ?? false }, () => {
  before(() => {
    dir = testTempDir('access-ca-krl-');
    caA = makeCa('ca-a');
    caB = makeCa('ca-b');
    alice = userKey();
    bob = userKey();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('revokes by serial list, and only those serials', async () => {
    const listed = [(1n << 40n) + 1n, (1n << 52n) + 3n, (1n << 63n) + 5n];
    const krl = encodeKrl(krlOf([{ caKeyBlob: caA.blob, serials: listed, keyIds: [] }]));
    assert.deepEqual(subsectionTypes(krl), [LIST]);
    expectVerdicts(krl, [
      ...await Promise.all(listed.map(async (s) => [await certFile(caA, alice, s, 'a'), 'REVOKED', `serial ${s}`] as [string, 'REVOKED', string])),
      [await certFile(caA, alice, (1n << 40n) + 2n, 'a'), 'ok', 'neighbour of a listed serial'],
      [await certFile(caB, alice, (1n << 40n) + 1n, 'a'), 'ok', 'the same serial from another CA'],
      [await certFile(caA, alice, 0n, 'a'), 'ok', 'serial 0'],
    ]);
  });

  it('revokes by range, edges included', async () => {
    const krl = encodeKrl(krlOf([{ caKeyBlob: caA.blob, serials: Array.from({ length: 4001 }, (_, i) => 1000n + BigInt(i)), keyIds: [] }]));
    assert.deepEqual(subsectionTypes(krl), [RANGE]);
    expectVerdicts(krl, [
      [await certFile(caA, alice, 1000n, 'a'), 'REVOKED', 'low edge'],
      [await certFile(caA, alice, 3210n, 'a'), 'REVOKED', 'inside'],
      [await certFile(caA, alice, 5000n, 'a'), 'REVOKED', 'high edge'],
      [await certFile(caA, alice, 999n, 'a'), 'ok', 'below'],
      [await certFile(caA, alice, 5001n, 'a'), 'ok', 'above'],
    ]);
  });

  it('revokes by bitmap (relative offsets), including bitmaps larger than one 2048-byte bignum would hold', async () => {
    const small = [100n, 102n, 107n, 108n, 115n];
    const krl = encodeKrl(krlOf([{ caKeyBlob: caA.blob, serials: small, keyIds: [] }]));
    assert.deepEqual(subsectionTypes(krl), [BITMAP]);
    expectVerdicts(krl, [
      ...await Promise.all(small.map(async (s) => [await certFile(caA, alice, s, 'a'), 'REVOKED', `serial ${s}`] as [string, 'REVOKED', string])),
      ...await Promise.all([99n, 101n, 109n, 114n, 116n].map(async (s) => [await certFile(caA, alice, s, 'a'), 'ok', `serial ${s}`] as [string, 'ok', string])),
    ]);
    // Every other serial up to 40,000: ssh-keygen -k would write one 2,500-byte bitmap that it then
    // refuses to read ("bignum is too large"); ours splits it, and ssh-keygen reads it.
    const everyOther = Array.from({ length: 20_000 }, (_, i) => 2n * BigInt(i) + 1n);
    const big = encodeKrl(krlOf([{ caKeyBlob: caA.blob, serials: everyOther, keyIds: [] }]));
    assert.ok(subsectionTypes(big).length > 1 && subsectionTypes(big).every((t) => t === BITMAP));
    expectVerdicts(big, [
      [await certFile(caA, alice, 1n, 'a'), 'REVOKED', 'first'],
      [await certFile(caA, alice, 16_385n, 'a'), 'REVOKED', 'across a bitmap boundary'],
      [await certFile(caA, alice, 39_999n, 'a'), 'REVOKED', 'last'],
      [await certFile(caA, alice, 16_384n, 'a'), 'ok', 'an even serial'],
      [await certFile(caA, alice, 40_001n, 'a'), 'ok', 'past the end'],
    ]);
  });

  it('revokes by key id, per CA and for any CA', async () => {
    const krl = encodeKrl(krlOf([
      { caKeyBlob: caA.blob, serials: [], keyIds: ['alice@example.com', 'ops bot'] },
      { caKeyBlob: null, serials: [], keyIds: ['retired-host'] },
    ]));
    assert.deepEqual(subsectionTypes(krl), [KEY_ID, KEY_ID]);
    expectVerdicts(krl, [
      [await certFile(caA, alice, 77n, 'alice@example.com'), 'REVOKED', 'key id under CA A'],
      [await certFile(caA, alice, 78n, 'ops bot'), 'REVOKED', 'key id with a space'],
      [await certFile(caB, alice, 79n, 'alice@example.com'), 'ok', 'same key id, other CA'],
      [await certFile(caA, alice, 80n, 'alice@example.com2'), 'ok', 'a longer key id'],
      [await certFile(caB, alice, 81n, 'retired-host'), 'REVOKED', 'any-CA key id, CA B'],
      [await certFile(caA, alice, 82n, 'retired-host'), 'REVOKED', 'any-CA key id, CA A'],
    ]);
  });

  it('revokes a plain key by its SHA-256 hash, and with it every certificate for that key', async () => {
    const krl = encodeKrl(krlOf([], [createHash('sha256').update(bob.blob).digest()]));
    const bobPub = join(dir, 'bob.pub');
    writeFileSync(bobPub, `${authorizedKeyLine(bob.blob)}\n`);
    expectVerdicts(krl, [
      [bobPub, 'REVOKED', 'the plain key'],
      [await certFile(caA, bob, 500n, 'bob'), 'REVOKED', "bob's certificate from CA A"],
      [await certFile(caB, bob, 501n, 'bob'), 'REVOKED', "bob's certificate from CA B"],
      [await certFile(caA, alice, 500n, 'bob'), 'ok', "alice's certificate with the same serial and key id"],
    ]);
  });

  it('is byte-identical to ssh-keygen -k for the same revocations (krl.c\'s encoding choices)', () => {
    let seed = 12345;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const patterns: bigint[][] = [
      [1n],
      [5n, 6n, 7n, 9n, 40n, 41n, 300n],
      Array.from({ length: 200 }, () => BigInt(1 + Math.floor(next() * 10_000))),
      Array.from({ length: 2000 }, () => BigInt(1 + Math.floor(next() * 9_000))),
      Array.from({ length: 300 }, () => BigInt(1 + Math.floor(next() * 2 ** 31)) * 4096n),
      [...Array.from({ length: 50 }, (_, i) => 2n * BigInt(i) + 1n), ...Array.from({ length: 500 }, (_, i) => 700n + BigInt(i)), 1300n, 1302n, 5000n, 1n << 60n],
    ];
    for (const [i, serials] of patterns.entries()) {
      const keyIds = i % 2 ? ['id-b', 'id-a'] : [];
      const spec = [...serials.map((s) => `serial: ${s}`), ...keyIds.map((k) => `id: ${k}`)];
      const theirs = keygenKrl(spec, ['-z', String(100 + i), '-s', caA.pubFile]);
      const decoded = decodeKrl(theirs);
      const ours = encodeKrl({ version: BigInt(100 + i), generatedDate: decoded.generatedDate, comment: '', certificates: [{ caKeyBlob: caA.blob, serials, keyIds }], sha256Keys: [] });
      assert.equal(ours.toString('hex'), theirs.toString('hex'), `pattern ${i}`);
    }
  });
});

describe('KRL: ssh-keygen -k, read by our decoder', { skip: missing ?? false }, () => {
  before(() => {
    dir = testTempDir('access-ca-krl-');
    caA = makeCa('ca-a');
    alice = userKey();
    bob = userKey();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the serials, ranges, key ids, hashes and keys the spec named', () => {
    const bobLine = authorizedKeyLine(bob.blob);
    const aliceLine = authorizedKeyLine(alice.blob);
    const sparse = [(1n << 40n) + 7n, (1n << 62n) + 1n, 18446744073709551615n];
    const spec = [
      'serial: 5', 'serial: 9', 'serial: 0x11', ...sparse.map((s) => `serial: ${s}`),
      'serial: 1000-5000', 'serial: 20000-20003',
      ...Array.from({ length: 40 }, (_, i) => `serial: ${30_000 + 3 * i}`),
      'id: alice@example.com', 'id: ops bot', 'id: alice@example.com',
      `hash: ${bob.fingerprint}`, `sha256: ${aliceLine}`, `sha1: ${bobLine}`, `key: ${aliceLine}`,
    ];
    const first = keygenKrl(spec, ['-z', '41', '-s', caA.pubFile]);
    // -u merges a second, any-CA spec into the same KRL.
    const krlFile = join(dir, 'merged.krl');
    writeFileSync(krlFile, first);
    const anySpec = join(dir, 'any.txt');
    writeFileSync(anySpec, 'id: retired-host\n');
    const r = spawnSync('ssh-keygen', ['-k', '-u', '-q', '-z', '42', '-f', krlFile, '-s', 'none', anySpec], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const krl = decodeKrl(readFileSync(krlFile));

    assert.equal(krl.version, 42n);
    assert.ok(Math.abs(Number(krl.generatedDate) - Date.now() / 1000) < 600, `generated ${krl.generatedDate}`);
    const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => BigInt(lo + i));
    const serials = [5n, 9n, 17n, ...range(1000, 5000), ...range(20000, 20003), ...Array.from({ length: 40 }, (_, i) => BigInt(30_000 + 3 * i)), ...sparse];
    assert.deepEqual(krl.certificates, [
      { caKeyBlob: caA.blob, serials, keyIds: ['alice@example.com', 'ops bot'] },
      { caKeyBlob: null, serials: [], keyIds: ['retired-host'] },
    ].sort((a, b) => Buffer.compare(a.caKeyBlob ?? Buffer.alloc(0), b.caKeyBlob ?? Buffer.alloc(0))));
    const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
    assert.deepEqual(krl.sha256Keys, [sha256(bob.blob), sha256(alice.blob)].sort(Buffer.compare));
    assert.deepEqual(krl.sha1Keys, [createHash('sha1').update(bob.blob).digest()]);
    assert.deepEqual(krl.explicitKeys, [alice.blob]);
    // ssh-keygen chose every serial encoding for this spec, so all three were decoded.
    assert.deepEqual(new Set(subsectionTypes(readFileSync(krlFile))), new Set([LIST, RANGE, BITMAP, KEY_ID]));
  });

  it('decodes the over-large bitmap ssh-keygen writes for dense serials', () => {
    const everyOther = Array.from({ length: 20_000 }, (_, i) => 2n * BigInt(i) + 1n);
    const theirs = keygenKrl(everyOther.map((s) => `serial: ${s}`), ['-s', caA.pubFile]);
    assert.ok(subsectionTypes(theirs).every((t) => t === BITMAP));
    assert.deepEqual(decodeKrl(theirs).certificates[0]!.serials, everyOther);
  });
});
