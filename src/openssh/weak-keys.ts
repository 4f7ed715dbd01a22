/**
 * Refuses public keys that no one needs a secret to use. A certificate for such a key is a bearer
 * credential: anyone who sees the certificate can sign for its key and log in (an Ed25519 key of small
 * order verifies forged signatures; an RSA key with e = 1, or whose modulus anyone can factor, lets anyone
 * compute the private key). Pure arithmetic over the key's bytes, no I/O.
 */

/** Why a public key was refused; the message is safe to show to the person who sent it. */
export class PublicKeyError extends Error {
  override name = 'PublicKeyError';
}

import { legendre25519 } from './jacobi-25519.ts';

const NEW_ED25519 = 'generate a new key with ssh-keygen -t ed25519';
const NEW_RSA = 'generate a new key with ssh-keygen -t ed25519 (or -t rsa -b 3072)';

// ---- Ed25519 ----

const P25519 = 2n ** 255n - 19n;
const D25519 = ((P25519 - 121665n) * modPow(121666n, P25519 - 2n, P25519)) % P25519; // d = −121665/121666

/**
 * The y coordinates of the 8 points of small order (the blocklist of libsodium's `ge25519_has_small_order`
 * in crypto_core/ed25519/ref10/ed25519_ref10.c, which ignores the sign bit too; newer releases test the
 * same eight points after decoding): 0 (order 4), 1 (the identity),
 * two of order 8, and p − 1 (order 2). libsodium also lists p and p + 1, the non-canonical encodings of
 * 0 and 1; those are refused by the canonical check below. For such a key A, the term [k]A of the
 * verification equation [S]B = R + [k]A takes at most 8 values (always the neutral point when A is the
 * identity), so a forger who picks S and R = [S]B − guess succeeds at least one time in 8, no secret needed.
 */
const SMALL_ORDER_Y = [
  0n,
  1n,
  2707385501144840649318225287225658788936804267575313519463743609750303402022n,
  55188659117513257062467267217118295137698188065244968500265048394206261417927n,
  P25519 - 1n,
];

/** Throws unless a 32-byte Ed25519 key is a canonical encoding of a curve point not of small order. */
export function checkEd25519Key(pk: Buffer): void {
  if (pk.every((b) => b === 0)) throw new PublicKeyError(`this ssh-ed25519 key is all zero bytes; ${NEW_ED25519}`);
  // RFC 8032 §5.1.3: little-endian y in the low 255 bits, the sign of x in the top bit.
  const y = BigInt(`0x${Buffer.from(pk).reverse().toString('hex')}`) & (2n ** 255n - 1n);
  // libsodium's ge25519_is_canonical: y ≥ p is a second spelling of y − p, so one key has two fingerprints.
  if (y >= P25519) throw new PublicKeyError(`this ssh-ed25519 key is not canonically encoded (y ≥ 2^255 - 19); ${NEW_ED25519}`);
  if (SMALL_ORDER_Y.includes(y)) {
    throw new PublicKeyError(`this ssh-ed25519 key is a point of small order (such as the identity), which anyone can sign for without a private key; ${NEW_ED25519}`);
  }
  // RFC 8032 §5.1.3 decoding: x² = (y² − 1) / (d·y² + 1) must have a root. The divisor is never 0 and u/v
  // is a square exactly when u·v is, so one Euler criterion decides. Node's import does not check this.
  const y2 = (y * y) % P25519;
  const uv = (((y2 - 1n) * ((D25519 * y2 + 1n) % P25519)) % P25519 + P25519) % P25519;
  if (legendre25519(uv) === -1) throw new PublicKeyError(`this ssh-ed25519 key is not a point on the curve; ${NEW_ED25519}`);
  // Not checked: a torsion component on an otherwise sound point (libsodium's is_on_main_subgroup). It does
  // not remove the need for the private scalar, and OpenSSH and Go accept such keys.
}

// ---- ECDSA ----

/** Field primes of the NIST curves (SEC 2 §2.4–2.6). */
const EC_FIELD_PRIME: Record<string, bigint> = {
  'P-256': 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
  'P-384': 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
  'P-521': 2n ** 521n - 1n,
};

/** The curves' b (SEC 2 §2.4–2.6); all three are y² = x³ − 3x + b with cofactor 1. */
const EC_B: Record<string, bigint> = {
  'P-256': 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  'P-384': 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  'P-521': 0x051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
};

/**
 * Throws unless (x, y) is a point of the curve's group, in its one canonical spelling:
 * - both coordinates below the field prime, as Go's crypto/elliptic Unmarshal requires (x + p spells the
 *   same point as x, so one key would have two fingerprints);
 * - y² = x³ − 3x + b. The cofactor is 1, so every curve point but infinity (which has no affine spelling)
 *   generates the whole prime-order group: no small-subgroup points exist to refuse.
 * This is the check OpenSSL makes when it imports the key, in a few microseconds instead of ~60.
 */
export function checkEcPoint(crv: string, x: Buffer, y: Buffer): void {
  const p = EC_FIELD_PRIME[crv];
  const b = EC_B[crv];
  if (p === undefined || b === undefined) throw new PublicKeyError(`unsupported curve ${crv}`);
  const [X, Y] = [toBigInt(x), toBigInt(y)];
  if (X >= p || Y >= p) throw new PublicKeyError(`this ${crv} key has a coordinate not below the field prime; generate a new key with ssh-keygen -t ecdsa`);
  const rhs = ((((X * X) % p) * X - 3n * X + b) % p + p) % p;
  if ((Y * Y) % p !== rhs) throw new PublicKeyError('the public key is not a valid key of its type: the point is not on the curve');
}

// ---- RSA ----

/**
 * The value of an RSA mpint, refusing negative and non-minimal encodings (RFC 4251 §5: "unnecessary
 * leading bytes with the value 0 … MUST NOT be included"). ssh-keygen re-encodes a padded key minimally,
 * so a padded blob would be recorded under a fingerprint that OpenSSH never shows or revokes.
 */
export function rsaInteger(mpint: Buffer, what: 'exponent' | 'modulus'): bigint {
  if (mpint.length > 0 && mpint[0]! & 0x80) throw new PublicKeyError(`the RSA ${what} is negative`);
  // A lead 0x00 is needed only before a byte with its top bit set; zero itself is the empty string.
  if (mpint[0] === 0 && (mpint.length === 1 || !(mpint[1]! & 0x80))) {
    throw new PublicKeyError(`the RSA ${what} is not minimally encoded (a redundant leading zero byte); export the key again with ssh-keygen -y`);
  }
  return toBigInt(mpint);
}

/** Odd primes below 1000, by a sieve at load time. */
const SMALL_PRIMES: bigint[] = (() => {
  const composite = new Uint8Array(1000);
  const out: bigint[] = [];
  for (let i = 3; i < 1000; i += 2) {
    if (composite[i]) continue;
    out.push(BigInt(i));
    for (let j = i * i; j < 1000; j += 2 * i) composite[j] = 1;
  }
  return out;
})();

/**
 * Throws unless (e, n) could be a real RSA key. The exponent rule is Go x/crypto/ssh's parseRSA: at most
 * 24 bits, odd, at least 3 (e = 1 makes the signature equal the padded message). The modulus must be odd
 * (a product of two large primes is; Go's crypto/rsa checkPublicKey refuses "public modulus is even"). Two further checks are
 * cheap (microseconds, even at 16384 bits) and catch moduli whose private key anyone can compute: a
 * factor below 1000, which no real key has, and a perfect square p², where φ(n) = p(p − 1). A prime n
 * (φ = n − 1) is not tested: that needs a modular exponentiation, about a second at 16384 bits.
 */
export function checkRsaKey(e: bigint, n: bigint): void {
  if (e >= 1n << 24n) throw new PublicKeyError('the RSA public exponent is over 24 bits; keys from ssh-keygen use 65537');
  if (e < 3n || e % 2n === 0n) throw new PublicKeyError(`the RSA public exponent must be odd and at least 3 (this key's is ${e}); ${NEW_RSA}`);
  if (n % 2n === 0n) throw new PublicKeyError(`the RSA modulus is even, so it is not a product of two large primes; ${NEW_RSA}`);
  for (const p of SMALL_PRIMES) {
    if (n % p === 0n) throw new PublicKeyError(`the RSA modulus has the small factor ${p}, so it is not a product of two large primes; ${NEW_RSA}`);
  }
  if (isSquare(n)) throw new PublicKeyError(`the RSA modulus is a perfect square, so anyone can compute its private key; ${NEW_RSA}`);
}

// ---- arithmetic ----

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = ((base % m) + m) % m;
  for (let x = exp; x > 0n; x >>= 1n) {
    if (x & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

function isSquare(n: bigint): boolean {
  // Newton's method from a start above √n decreases monotonically to ⌊√n⌋.
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const next = (x + n / x) >> 1n;
    if (next >= x) break;
    x = next;
  }
  return x * x === n;
}
