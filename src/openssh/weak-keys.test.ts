import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, generatePrimeSync } from 'node:crypto';
import { parseUserPublicKey, PublicKeyError } from './user-public-key.ts';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';
import { SshWriter } from './ssh-wire.ts';

const P25519 = 2n ** 255n - 19n;
// libsodium's ge25519_has_small_order blocklist, as y values (crypto_core/ed25519/ref10/ed25519_ref10.c).
const ORDER_8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;
const SMALL_ORDER: [string, bigint][] = [['y = 0, order 4', 0n], ['y = 1, the identity', 1n], ['order 8', ORDER_8_Y], ['order 8, −y', P25519 - ORDER_8_Y], ['y = p − 1, order 2', P25519 - 1n]];

/** A 32-byte little-endian Ed25519 encoding of y, with the sign of x in the top bit. */
const ed25519Bytes = (y: bigint, sign = 0): Buffer => {
  const b = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse();
  b[31]! |= sign << 7;
  return b;
};
const edLine = (pk: Buffer) => `ssh-ed25519 ${new SshWriter().string('ssh-ed25519').string(pk).toBuffer().toString('base64')}`;

const be = (v: bigint, bytes: number) => Buffer.from(v.toString(16).padStart(bytes * 2, '0'), 'hex');
const unsigned = (v: bigint) => be(v, Math.ceil(v.toString(16).length / 2));
/** An ssh-rsa line from raw mpint bodies, so that non-canonical encodings can be written. */
const rsaRaw = (e: Buffer, n: Buffer) => `ssh-rsa ${new SshWriter().string('ssh-rsa').string(e).string(n).toBuffer().toString('base64')}`;
const rsaLine = (e: bigint, n: bigint) => `ssh-rsa ${new SshWriter().string('ssh-rsa').mpint(unsigned(e)).mpint(unsigned(n)).toBuffer().toString('base64')}`;

const EC = {
  'P-256': { type: 'ecdsa-sha2-nistp256', name: 'nistp256', bytes: 32, p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n },
  'P-384': { type: 'ecdsa-sha2-nistp384', name: 'nistp384', bytes: 48, p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n },
  'P-521': { type: 'ecdsa-sha2-nistp521', name: 'nistp521', bytes: 66, p: 2n ** 521n - 1n },
} as const;
type Crv = keyof typeof EC;
const ecLine = (crv: Crv, point: Buffer) => {
  const c = EC[crv];
  return `${c.type} ${new SshWriter().string(c.type).string(c.name).string(point).toBuffer().toString('base64')}`;
};
const ecPoint = (crv: Crv, x: bigint, y: bigint) => Buffer.concat([Buffer.of(4), be(x, EC[crv].bytes), be(y, EC[crv].bytes)]);
const modPow = (b: bigint, e: bigint, m: bigint): bigint => {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
};
/**
 * The point with the smallest x on a NIST curve (y² = x³ − 3x + b, b read off a generated key). Its x + p
 * still fits the coordinate's bytes: the same point, spelled a second way.
 */
function smallPoint(crv: Crv): { x: bigint; y: bigint } {
  const { p } = EC[crv];
  const jwk = generateKeyPairSync('ec', { namedCurve: crv }).publicKey.export({ format: 'jwk' });
  const [gx, gy] = [jwk.x!, jwk.y!].map((c) => BigInt(`0x${Buffer.from(c, 'base64url').toString('hex')}`)) as [bigint, bigint];
  const b = (((gy * gy - gx * gx * gx + 3n * gx) % p) + p) % p;
  for (let x = 0n; ; x++) {
    const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
    const y = modPow(rhs, (p + 1n) / 4n, p); // all three primes are 3 mod 4
    if ((y * y) % p === rhs) return { x, y };
  }
}

const refused = (line: string, message: RegExp, label: string) =>
  assert.throws(() => parseUserPublicKey(line), (e: Error) => e instanceof PublicKeyError && message.test(e.message), label);

describe('weak keys: keys that need no secret are refused', () => {
  it('Ed25519: all zeros, every small-order point in either sign, non-canonical y, and points off the curve', () => {
    const rows: [string, Buffer, RegExp][] = [
      ['all zeros', Buffer.alloc(32), /all zero bytes; generate a new key with ssh-keygen -t ed25519/],
      ...SMALL_ORDER.flatMap(([name, y]) => [0, 1].map((sign): [string, Buffer, RegExp] => [
        `${name}, sign ${sign}`, ed25519Bytes(y, sign),
        y === 0n && sign === 0 ? /all zero bytes/ : /a point of small order \(such as the identity\), which anyone can sign for/,
      ])),
      // p and p + 1 are libsodium's non-canonical spellings of 0 and 1; p + 3 spells y = 3, a point that is accepted.
      ['y = p (0)', ed25519Bytes(P25519), /not canonically encoded \(y ≥ 2\^255 - 19\)/],
      ['y = p + 1 (the identity)', ed25519Bytes(P25519 + 1n), /not canonically encoded/],
      ['y = p + 3', ed25519Bytes(P25519 + 3n), /not canonically encoded/],
      ['y = 2^255 − 1, sign set', Buffer.alloc(32, 0xff), /not canonically encoded/],
      ['y = 2, off the curve', ed25519Bytes(2n), /not a point on the curve/],
    ];
    assert.equal(rows.length, 16);
    for (const [name, pk, message] of rows) refused(edLine(pk), message, name);
  });

  it('RSA: Go x/crypto/ssh exponent rules, even and degenerate moduli, non-canonical mpints', () => {
    const n = BigInt(`0x${Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
    /** An odd 2048-bit multiple of q with no other factor below q. */
    const multipleOf = (q: bigint): bigint => {
      let m = (n / q) * q;
      if (m % 2n === 0n) m -= q;
      const smaller = (v: bigint) => { for (let f = 3n; f < q; f += 2n) if (v % f === 0n) return true; return false; };
      while (smaller(m)) m -= 2n * q;
      return m;
    };
    const prime = generatePrimeSync(1024, { bigint: true });
    assert.equal((prime * prime).toString(2).length, 2048);
    const nBytes = unsigned(n); // top bit set: the canonical mpint is 00 ‖ n
    const rows: [string, string, RegExp][] = [
      ['e = 1', rsaLine(1n, n), /public exponent must be odd and at least 3 \(this key's is 1\)/],
      ['e = 2', rsaLine(2n, n), /public exponent must be odd and at least 3 \(this key's is 2\)/],
      ['e = 4, even', rsaLine(4n, n), /this key's is 4/],
      ['e = 65536, even', rsaLine(65536n, n), /this key's is 65536/],
      ['e = 2^24 + 1, over 24 bits', rsaLine(2n ** 24n + 1n, n), /public exponent is over 24 bits/],
      ['e = 0, the empty string', rsaRaw(Buffer.alloc(0), Buffer.concat([Buffer.of(0), nBytes])), /this key's is 0/],
      ['even modulus', rsaLine(65537n, n - 1n), /the RSA modulus is even/],
      ['modulus divisible by 3', rsaLine(65537n, multipleOf(3n)), /the RSA modulus has the small factor 3\b/],
      ['modulus divisible by 997', rsaLine(65537n, multipleOf(997n)), /small factor 997\b/],
      ['modulus p², φ known', rsaLine(65537n, prime * prime), /the RSA modulus is a perfect square/],
      ['e with a redundant 00', rsaRaw(Buffer.from('00010001', 'hex'), Buffer.concat([Buffer.of(0), nBytes])), /RSA exponent is not minimally encoded/],
      ['e = 00 (zero is the empty string)', rsaRaw(Buffer.of(0), Buffer.concat([Buffer.of(0), nBytes])), /RSA exponent is not minimally encoded/],
      ['n with a redundant 00 00', rsaRaw(Buffer.from('010001', 'hex'), Buffer.concat([Buffer.of(0, 0), nBytes])), /RSA modulus is not minimally encoded/],
      ['n with 00 before a clear top bit', rsaRaw(Buffer.from('010001', 'hex'), Buffer.concat([Buffer.of(0), unsigned(n >> 1n)])), /RSA modulus is not minimally encoded/],
      ['n without the 00 its top bit needs', rsaRaw(Buffer.from('010001', 'hex'), nBytes), /RSA modulus is negative/],
      ['zero-length modulus', rsaRaw(Buffer.from('010001', 'hex'), Buffer.alloc(0)), /the RSA modulus is empty/],
    ];
    for (const [name, line, message] of rows) refused(line, message, name);
  });

  it('ECDSA: the point at infinity, compressed points, points off the curve, and coordinates ≥ p', () => {
    const rows: [string, string, RegExp][] = [];
    for (const crv of Object.keys(EC) as Crv[]) {
      const { p, bytes, type } = EC[crv];
      const { x, y } = smallPoint(crv);
      const real = generateKeyPairSync('ec', { namedCurve: crv }).publicKey.export({ format: 'jwk' });
      const offCurve = Buffer.concat([Buffer.of(4), Buffer.from(real.x!, 'base64url'), Buffer.from(real.y!, 'base64url')]);
      offCurve[offCurve.length - 1]! ^= 1;
      rows.push(
        [`${crv} infinity (a lone 00)`, ecLine(crv, Buffer.of(0)), new RegExp(`${type} needs an uncompressed point`)],
        [`${crv} compressed`, ecLine(crv, Buffer.concat([Buffer.of(2), be(x, bytes)])), /needs an uncompressed point/],
        [`${crv} (0, 0)`, ecLine(crv, ecPoint(crv, 0n, 0n)), /not a valid key of its type/],
        [`${crv} off the curve`, ecLine(crv, offCurve), /not a valid key of its type/],
        [`${crv} x + p`, ecLine(crv, ecPoint(crv, x + p, y)), new RegExp(`this ${crv} key has a coordinate not below the field prime`)],
        [`${crv} y = p`, ecLine(crv, ecPoint(crv, x, p)), /coordinate not below the field prime/],
      );
    }
    for (const [name, line, message] of rows) refused(line, message, name);
  });
});

describe('weak keys: real keys still parse', () => {
  it('generated Ed25519, P-256/384/521 and RSA keys (e = 65537, 3, 2^24 − 1), and the canonical twins of refused rows', () => {
    const rsa65537 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const n = BigInt(`0x${Buffer.from(rsa65537.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
    const rows: [string, string, string][] = [
      ['RSA 2048, e = 65537', authorizedKeyLine(publicKeyBlob(rsa65537)), 'ssh-rsa/2048'],
      ['RSA 2048, e = 3', authorizedKeyLine(publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey)), 'ssh-rsa/2048'],
      ['RSA 4096', authorizedKeyLine(publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 4096 }).publicKey)), 'ssh-rsa/4096'],
      ['RSA, e = 2^24 − 1 (24 bits, odd: Go accepts)', rsaLine(2n ** 24n - 1n, n), 'ssh-rsa/2048'],
      ['Ed25519 y = 3 (canonical twin of p + 3)', edLine(ed25519Bytes(3n)), 'ssh-ed25519/256'],
    ];
    for (const crv of Object.keys(EC) as Crv[]) {
      const { x, y } = smallPoint(crv);
      rows.push([`${crv} generated`, authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: crv }).publicKey)), `${EC[crv].type}/${crv.slice(2)}`]);
      rows.push([`${crv} small x (canonical twin of x + p)`, ecLine(crv, ecPoint(crv, x, y)), `${EC[crv].type}/${crv.slice(2)}`]);
    }
    for (let i = 0; i < 200; i++) rows.push([`Ed25519 #${i}`, authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey)), 'ssh-ed25519/256']);
    for (const [name, line, expected] of rows) {
      const key = parseUserPublicKey(line);
      assert.equal(`${key.type}/${key.bits}`, expected, name);
    }
  });
});
