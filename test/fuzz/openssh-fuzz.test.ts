import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { fingerprintOf, parseUserPublicKey, PublicKeyError, USER_KEY_TYPES, type UserPublicKey } from '../../src/openssh/user-public-key.ts';
import { parseCertificate, SSH_CERT_TYPE_HOST, SSH_CERT_TYPE_USER, type Certificate, type CertificateBody } from '../../src/openssh/certificate.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { signCertificate } from '../../src/openssh/sign-certificate.ts';
import { SshReader, SshWireError, SshWriter } from '../../src/openssh/ssh-wire.ts';
import { keyObjectSigner } from '../../src/openssh/ssh-signer.ts';
import { fuzzParams, PER_INPUT_MS, ranEnough } from './fuzz-config.ts';
import { nastyString } from './fuzz-arbitraries.ts';

const RUNS = 1_000;

// ---- real keys and certificates, the seeds of the mutations ----

const userKeys: KeyObject[] = [
  generateKeyPairSync('ed25519').publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
  generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
];
const keyBlobs = userKeys.map(publicKeyBlob);
const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const caBlob = publicKeyBlob(ca.publicKey);
const signer = keyObjectSigner(ca.privateKey, caBlob);

function bodyFor(key: Buffer, more: Partial<CertificateBody> = {}): CertificateBody {
  const parsed = parseUserPublicKey(authorizedKeyLine(key));
  return {
    keyType: parsed.type, keyFields: parsed.fields, nonce: randomBytes(32), serial: 0x0123456789abcdefn, certType: SSH_CERT_TYPE_USER,
    keyId: 'jdoe@example.com cert=0123', principals: ['jdoe', 'ops'], validAfter: 1_700_000_000n, validBefore: 1_700_000_180n,
    criticalOptions: { 'force-command': '/usr/bin/backup', 'source-address': '10.0.0.0/8' },
    extensions: { 'permit-agent-forwarding': '', 'permit-pty': '', 'permit-user-rc': '' }, signatureKey: caBlob, ...more,
  };
}
const certBlobs: Buffer[] = await Promise.all(keyBlobs.map(async (k) => (await signCertificate(bodyFor(k), signer)).blob));

// ---- mutations ----

/**
 * Offsets of what look like SSH string lengths: a uint32 whose string fits in what is left of its
 * parent, followed into nested strings. Not exact for the uint32/uint64 fields of a certificate, which
 * is fine: those are edited too.
 */
function lengthOffsets(buf: Buffer, start = 0, end = buf.length, depth = 0, out: number[] = []): number[] {
  let p = start;
  while (p + 4 <= end) {
    const len = buf.readUInt32BE(p);
    if (p + 4 + len <= end) {
      out.push(p);
      if (depth < 3 && len >= 4) lengthOffsets(buf, p + 4, p + 4 + len, depth + 1, out);
      p += 4 + len;
    } else p += 4;
  }
  return out;
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'length'; which: number; value: 'zero' | 'minus1' | 'plus1' | 'max' | 'int-max' | 'high-bit' | 'rest' | number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 4) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('length' as const), which: fc.nat(),
      value: fc.oneof(fc.constantFrom('zero', 'minus1', 'plus1', 'max', 'int-max', 'high-bit', 'rest') as fc.Arbitrary<'zero'>, fc.nat({ max: 0xffffffff })),
    }),
  },
);

function mutate(blob: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(blob);
  const at = (n: number) => (b.length === 0 ? 0 : n % b.length);
  switch (m.kind) {
    case 'flip': if (b.length > 0) b[at(m.at)]! ^= 1 << m.bit; return b;
    case 'set': if (b.length > 0) b[at(m.at)] = m.value; return b;
    case 'truncate': return b.subarray(0, m.at % (b.length + 1));
    case 'append': return Buffer.concat([b, m.bytes]);
    case 'insert': return Buffer.concat([b.subarray(0, at(m.at)), m.bytes, b.subarray(at(m.at))]);
    case 'delete': return Buffer.concat([b.subarray(0, at(m.at)), b.subarray(at(m.at) + m.count)]);
    case 'length': {
      const offsets = lengthOffsets(b);
      if (offsets.length === 0) return b;
      const p = offsets[m.which % offsets.length]!;
      const old = b.readUInt32BE(p);
      const value = m.value === 'zero' ? 0 : m.value === 'minus1' ? old - 1 : m.value === 'plus1' ? old + 1 : m.value === 'max' ? 0xffffffff
        : m.value === 'int-max' ? 0x7fffffff : m.value === 'high-bit' ? (old | 0x80000000) >>> 0 : m.value === 'rest' ? b.length - p - 4 : m.value;
      b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, value)) >>> 0, p);
      return b;
    }
    default: {
      const unreachable: never = m;
      return unreachable;
    }
  }
}

const mutatedArb = (seeds: Buffer[]) =>
  fc.tuple(fc.integer({ min: 0, max: seeds.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
    .map(([i, ms]) => ms.reduce((b, m) => mutate(b, m), seeds[i]!));

// ---- what an accepted key must be ----

/** The time one call took, and what it returned or threw. */
function timed<T>(f: () => T): { ms: number; value?: T; error?: unknown } {
  const started = performance.now();
  try {
    const value = f();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

const describeError = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e));

/** The user key a parsed key's fields name, rebuilt through node:crypto, independent of the parser. */
function keyObjectOf(k: UserPublicKey): KeyObject {
  const r = new SshReader(k.fields);
  if (k.type === 'ssh-ed25519') return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: r.bytes().toString('base64url') }, format: 'jwk' });
  if (k.type === 'ssh-rsa') {
    const e = r.bytes();
    const n = r.bytes();
    const strip = (v: Buffer) => (v[0] === 0 ? v.subarray(1) : v).toString('base64url');
    return createPublicKey({ key: { kty: 'RSA', e: strip(e), n: strip(n) }, format: 'jwk' });
  }
  const crv = { 'ecdsa-sha2-nistp256': 'P-256', 'ecdsa-sha2-nistp384': 'P-384', 'ecdsa-sha2-nistp521': 'P-521' }[k.type];
  r.text();
  const q = r.bytes();
  const half = (q.length - 1) / 2;
  return createPublicKey({ key: { kty: 'EC', crv, x: q.subarray(1, 1 + half).toString('base64url'), y: q.subarray(1 + half).toString('base64url') }, format: 'jwk' });
}

/**
 * What holds of every input: it parses or is refused with PublicKeyError, quickly. What parses is the
 * blob that was sent, under its fingerprint, one of the accepted types, and canonical: node:crypto's
 * key for it encodes back to the same bytes (so one key has one fingerprint), and it parses again.
 */
function checkKeyLine(line: string, blob?: Buffer): UserPublicKey | null {
  const label = `line ${JSON.stringify(line.slice(0, 400))}`;
  const result = timed(() => parseUserPublicKey(line));
  assert.ok(result.ms < PER_INPUT_MS, `took ${Math.round(result.ms)} ms: ${label}`);
  if (result.error !== undefined) {
    assert.ok(result.error instanceof PublicKeyError, `threw ${describeError(result.error)} for ${label}`);
    assert.ok(result.error.message.length > 0 && result.error.message.length < 400, label);
    return null;
  }
  const k = result.value!;
  assert.ok((USER_KEY_TYPES as readonly string[]).includes(k.type), label);
  if (blob) assert.ok(k.blob.equals(blob), `the parsed blob is not the one sent: ${label}`);
  assert.equal(k.fingerprint, fingerprintOf(k.blob), label);
  assert.ok(k.blob.subarray(k.blob.length - k.fields.length).equals(k.fields), label);
  assert.ok(publicKeyBlob(keyObjectOf(k)).equals(k.blob), `an accepted blob that is not the canonical encoding of its key: ${label}`);
  const details = keyObjectOf(k).asymmetricKeyDetails;
  if (k.type === 'ssh-rsa') {
    assert.equal(k.bits, details?.modulusLength, label);
    assert.ok(k.bits >= 2048 && k.bits <= 16_384, label);
    const e = BigInt(details!.publicExponent!);
    assert.ok(e >= 3n && e < 1n << 24n && e % 2n === 1n, `exponent ${e}: ${label}`);
  }
  assert.equal(parseUserPublicKey(authorizedKeyLine(k.blob, k.comment)).fingerprint, k.fingerprint, label);
  return k;
}

// ---- Ed25519: an oracle of its own (RFC 8032 §5.1.3 decoding and [8]P), not the parser's Euler criterion ----

const P = 2n ** 255n - 19n;
const mod = (a: bigint) => ((a % P) + P) % P;
const pow = (b: bigint, e: bigint) => {
  let r = 1n;
  let x = mod(b);
  for (let k = e; k > 0n; k >>= 1n) {
    if (k & 1n) r = (r * x) % P;
    x = (x * x) % P;
  }
  return r;
};
const inv = (a: bigint) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

function decodeEd25519(bytes: Buffer): [bigint, bigint] | null {
  const le = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  const sign = le >> 255n;
  const y = le & ((1n << 255n) - 1n);
  if (y >= P) return null;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) { /* x is a root */ } else if (vx2 === mod(-u)) x = mod(x * SQRT_M1);
  else return null;
  if (x === 0n && sign === 1n) return null;
  if ((x & 1n) !== sign) x = mod(-x);
  return [x, y];
}

function edAdd([x1, y1]: [bigint, bigint], [x2, y2]: [bigint, bigint]): [bigint, bigint] {
  const t = mod(D * x1 * x2 * y1 * y2);
  return [mod((x1 * y2 + y1 * x2) * inv(1n + t)), mod((y1 * y2 + x1 * x2) * inv(1n - t))];
}

/** Whether a 32-byte Ed25519 key should be accepted: a canonical encoding of a curve point whose order is not small. */
function ed25519Acceptable(bytes: Buffer): boolean {
  const point = decodeEd25519(bytes);
  if (!point) return false;
  let q = point;
  for (let i = 0; i < 3; i++) q = edAdd(q, q);
  return !(q[0] === 0n && q[1] === 1n);
}

const le32 = (v: bigint) => Buffer.from(v.toString(16).padStart(64, '0'), 'hex').reverse();
const ed25519Line = (pk: Buffer) => authorizedKeyLine(new SshWriter().string('ssh-ed25519').string(pk).toBuffer());

// ---- P-256: on-curve by its equation ----

const P256 = { p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n, b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn };
const big = (b: Buffer) => BigInt(`0x${b.toString('hex') || '0'}`);
function p256Acceptable(x: bigint, y: bigint): boolean {
  const { p, b } = P256;
  return x < p && y < p && (y * y - (x * x * x - 3n * x + b)) % p === 0n;
}
const be = (v: bigint, bytes: number) => Buffer.from(v.toString(16).padStart(bytes * 2, '0'), 'hex');

describe('fuzz: the OpenSSH parsers either parse or refuse with their own error, quickly', () => {
  it('parseUserPublicKey: any text, and lines made of a key type and random base64', () => {
    const lines = fc.oneof(
      nastyString,
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.tuple(
        fc.constantFrom(...USER_KEY_TYPES, 'ssh-dss', 'ssh-ed25519-cert-v01@openssh.com', 'sk-ssh-ed25519@openssh.com', 'ssh-ed448', ''),
        fc.constantFrom(' ', '\t', '  ', ' \t ', '\u00a0', '\n'),
        fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b).toString('base64')),
        fc.constantFrom('', ' me@laptop', ' a b c', ' \u202e', '\n'),
        fc.constantFrom('', '=', '==', '===', '-_', '\u0000'),
      ).map(([type, sep, b64, comment, tail]) => `${type}${sep}${b64}${tail}${comment}`),
      fc.constantFrom(`ssh-rsa ${'A'.repeat(16_380)}`, `ssh-rsa ${'A'.repeat(16_385)}`, 'ssh-ed25519 AAAA', '  ', 'AAAA ssh-ed25519'),
    );
    fc.assert(fc.property(lines, (line) => void checkKeyLine(line)), fuzzParams(RUNS));
  });

  it('parseUserPublicKey: real keys with bytes flipped, set, cut, added, removed and length fields edited', () => {
    // The real keys themselves parse, under node:crypto's own blob.
    for (const blob of keyBlobs) assert.ok(checkKeyLine(authorizedKeyLine(blob), blob));
    let accepted = 0;
    fc.assert(fc.property(mutatedArb(keyBlobs), fc.constantFrom('', 'me@laptop'), (blob, comment) => {
      if (checkKeyLine(`${safeType(blob)} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`, blob)) accepted++;
    }), fuzzParams(RUNS));
    const runs = fuzzParams(RUNS).numRuns ?? RUNS;
    if (ranEnough(RUNS)) assert.ok(accepted < (runs * 3) / 4, `${accepted} of ${runs} mutated keys parsed: the mutations are too timid`);
  });

  it('Ed25519 keys: accepted exactly when RFC 8032 decodes them to a point whose order is not small', () => {
    const special = [0n, 1n, P - 1n, P, P + 1n, 2n ** 255n - 1n, 2n ** 255n - 20n, 19n,
      2707385501144840649318225287225658788936804267575313519463743609750303402022n,
      55188659117513257062467267217118295137698188065244968500265048394206261417927n];
    const keys = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.constantFrom(...special), fc.boolean()).map(([y, sign]) => {
        const b = le32(y & ((1n << 255n) - 1n));
        if (sign) b[31]! |= 0x80;
        return b;
      }),
      fc.tuple(fc.nat({ max: 31 }), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
        // The real key with one bit flipped: often another point, sometimes none.
        const r = new SshReader(keyBlobs[0]!);
        r.text();
        const b = Buffer.from(r.bytes());
        b[at]! ^= 1 << bit;
        return b;
      }),
    );
    fc.assert(fc.property(keys, (pk) => {
      const parsed = checkKeyLine(ed25519Line(pk));
      assert.equal(parsed !== null, ed25519Acceptable(pk), `key ${pk.toString('hex')}: parser ${parsed ? 'accepted' : 'refused'}`);
    }), fuzzParams(RUNS));
  });

  it('P-256 keys: accepted exactly when the point is on the curve with coordinates below p', () => {
    const point = (x: bigint, y: bigint, bytes = 32) => Buffer.concat([Buffer.of(4), be(x, bytes), be(y, bytes)]);
    const jwk = userKeys[1]!.export({ format: 'jwk' });
    const [x0, y0] = [big(Buffer.from(jwk.x!, 'base64url')), big(Buffer.from(jwk.y!, 'base64url'))];
    const points = fc.oneof(
      fc.constant([x0, y0] as [bigint, bigint]),
      fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 256n - 1n })),
      fc.constantFrom([x0 + P256.p, y0], [x0, y0 + P256.p], [x0, P256.p - y0], [0n, 0n], [P256.p, 0n], [x0, 0n]).filter(([x, y]) => x < 2n ** 256n && y < 2n ** 256n) as fc.Arbitrary<[bigint, bigint]>,
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([bit, inX]) => (inX ? [x0 ^ (1n << BigInt(bit)), y0] : [x0, y0 ^ (1n << BigInt(bit))]) as [bigint, bigint]),
    );
    fc.assert(fc.property(points, ([x, y]) => {
      const blob = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(point(x, y)).toBuffer();
      const parsed = checkKeyLine(authorizedKeyLine(blob), blob);
      assert.equal(parsed !== null, p256Acceptable(x, y), `point (${x.toString(16)}, ${y.toString(16)}): parser ${parsed ? 'accepted' : 'refused'}`);
    }), fuzzParams(RUNS));
  });

  it('RSA keys: odd moduli up to the 16384-bit limit and beyond, odd exponents, are checked in bounded time', () => {
    const rsa = fc.record({
      bytes: fc.oneof(fc.integer({ min: 200, max: 520 }), fc.integer({ min: 2040, max: 2060 })),
      e: fc.oneof(fc.constantFrom(65537n, 3n, 1n, 2n, 0n, (1n << 24n) - 1n, 1n << 24n, (1n << 64n) + 1n), fc.bigInt({ min: 0n, max: 1n << 40n })),
      top: fc.boolean(),
    });
    fc.assert(fc.property(rsa, ({ bytes, e, top }) => {
      const n = randomBytes(bytes);
      n[n.length - 1]! |= 1;
      if (top) n[0]! |= 0x80;
      const eBytes = be(e, Math.max(1, Math.ceil(e.toString(16).length / 2)));
      const blob = new SshWriter().string('ssh-rsa').mpint(eBytes).mpint(n).toBuffer();
      checkKeyLine(authorizedKeyLine(blob), blob);
    }), fuzzParams(Math.ceil(RUNS / 8)));
  });

  it('parseCertificate: arbitrary bytes, and byte strings that start like a certificate', () => {
    const blobs = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.constantFrom(...USER_KEY_TYPES, 'ssh-dss', 'x', ''), fc.uint8Array({ maxLength: 600 }))
        .map(([type, rest]) => Buffer.concat([new SshWriter().string(`${type}-cert-v01@openssh.com`).toBuffer(), rest])),
    );
    fc.assert(fc.property(blobs, (blob) => void checkCertificate(blob)), fuzzParams(RUNS));
  });

  it('parseCertificate: real certificates with bytes flipped, set, cut, added, removed and length fields edited', () => {
    for (const blob of certBlobs) assert.ok(checkCertificate(blob));
    fc.assert(fc.property(mutatedArb(certBlobs), (blob) => void checkCertificate(blob)), fuzzParams(RUNS));
  });

  it('certificates: what the encoder signs, the parser reads back field for field, with options in OpenSSH\'s (byte) order', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 24 });
    const optionName = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('force-command', 'source-address', 'permit-pty', 'permit-user-rc', 'x@example.com', 'constructor', 'toString', 'a', 'b', '\uff21', '\u{1f600}', '\ue000') },
      { weight: 2, arbitrary: text },
      { weight: 1, arbitrary: fc.constant('__proto__') },
    );
    const options = fc.array(fc.tuple(optionName, fc.oneof(fc.constant(''), text)), { maxLength: 5 })
      .map((entries) => Object.fromEntries(entries) as Record<string, string>)

    const bodies = fc.record({
      key: fc.integer({ min: 0, max: keyBlobs.length - 1 }),
      nonce: fc.uint8Array({ maxLength: 64 }),
      serial: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      certType: fc.constantFrom(SSH_CERT_TYPE_USER, SSH_CERT_TYPE_HOST),
      keyId: text,
      principals: fc.array(text, { maxLength: 5 }),
      validAfter: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      validBefore: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      criticalOptions: options,
      extensions: options,
    });
    await fc.assert(fc.asyncProperty(bodies, async (b) => {
      const body = bodyFor(keyBlobs[b.key]!, { ...b, nonce: Buffer.from(b.nonce) });
      const cert = await signCertificate(body, signer);
      const again = parseCertificate(cert.blob);
      for (const field of ['keyType', 'serial', 'certType', 'keyId', 'principals', 'validAfter', 'validBefore', 'criticalOptions', 'extensions'] as const) {
        assert.deepEqual(again[field], body[field], field);
      }
      assert.ok(again.keyFields.equals(body.keyFields) && again.nonce.equals(body.nonce) && again.signatureKey.equals(caBlob));
      for (const field of ['criticalOptions', 'extensions'] as const) {
        const names = optionNamesInOrder(cert, field);
        const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(names, byBytes, `${field} are not in byte order (PROTOCOL.certkeys: lexical order)`);
      }
    }), fuzzParams(Math.ceil(RUNS / 2)));
  });
});

/** Two names whose order differs between UTF-16 code units and UTF-8 bytes (one astral, one in U+E000–U+FFFF). */
/** The names of a certificate's options as they appear on the wire. */
function optionNamesInOrder(cert: Certificate, field: 'criticalOptions' | 'extensions'): string[] {
  const r = new SshReader(cert.signed);
  r.text();
  r.bytes();
  const keyFieldCount = cert.keyType === 'ssh-ed25519' ? 1 : 2;
  for (let i = 0; i < keyFieldCount; i++) r.bytes();
  r.uint64();
  r.uint32();
  r.bytes();
  r.bytes();
  r.uint64();
  r.uint64();
  const critical = r.bytes();
  const extensions = r.bytes();
  const data = new SshReader(field === 'criticalOptions' ? critical : extensions);
  const names: string[] = [];
  while (!data.done) {
    names.push(data.text());
    data.bytes();
  }
  return names;
}

/** The type string a blob starts with, when it has one that fits on a line; otherwise a plausible one. */
function safeType(blob: Buffer): string {
  try {
    const type = new SshReader(blob).text();
    return /^[\x21-\x7e]{1,64}$/.test(type) ? type : 'ssh-ed25519';
  } catch {
    return 'ssh-ed25519';
  }
}

/**
 * A certificate parses or is refused with SshWireError, quickly; what parses is the blob that was sent,
 * split where the signature starts, with fields in their ranges.
 */
function checkCertificate(blob: Buffer): Certificate | null {
  const label = `blob ${blob.toString('base64').slice(0, 400)}`;
  const result = timed(() => parseCertificate(blob));
  assert.ok(result.ms < PER_INPUT_MS, `took ${Math.round(result.ms)} ms: ${label}`);
  if (result.error !== undefined) {
    assert.ok(result.error instanceof SshWireError, `threw ${describeError(result.error)} for ${label}`);
    return null;
  }
  const c = result.value!;
  assert.ok(c.blob.equals(blob), label);
  assert.ok(blob.subarray(0, c.signed.length).equals(c.signed), label);
  assert.equal(c.signed.length + 4 + c.signature.length, blob.length, label);
  assert.ok(c.serial >= 0n && c.serial < 2n ** 64n && c.validAfter < 2n ** 64n && c.validBefore < 2n ** 64n, label);
  assert.ok(c.certType === SSH_CERT_TYPE_USER || c.certType === SSH_CERT_TYPE_HOST, label);
  assert.ok(c.principals.every((p) => typeof p === 'string'), label);
  assert.ok(Object.values({ ...c.criticalOptions, ...c.extensions }).every((v) => typeof v === 'string'), label);
  return c;
}
