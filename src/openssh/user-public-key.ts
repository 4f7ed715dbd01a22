import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { SshReader, SshWireError } from './ssh-wire.ts';
import { checkEcPoint, checkEd25519Key, checkRsaKey, PublicKeyError, rsaInteger } from './weak-keys.ts';

export { PublicKeyError };

/** The user key types a certificate can be issued for. */
export const USER_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
export type UserKeyType = (typeof USER_KEY_TYPES)[number];

export const MIN_RSA_BITS = 2048;
/** OpenSSH's SSH_RSA_MAXIMUM_MODULUS_SIZE; it also bounds the cost of the checks in weak-keys.ts. */
const MAX_RSA_BITS = 16384;

/** A user public key, checked and ready to be certified. */
export interface UserPublicKey {
  type: UserKeyType;
  /** The whole OpenSSH public key blob. */
  blob: Buffer;
  /** The blob without its leading type string: what a certificate embeds. */
  fields: Buffer;
  /** `SHA256:…`, as ssh-keygen -l prints it. */
  fingerprint: string;
  /** Bits of the key (RSA modulus size, curve size, 256 for Ed25519). */
  bits: number;
  comment: string;
}

const CURVES: Record<string, { name: string; crv: string; bytes: number; bits: number }> = {
  'ecdsa-sha2-nistp256': { name: 'nistp256', crv: 'P-256', bytes: 32, bits: 256 },
  'ecdsa-sha2-nistp384': { name: 'nistp384', crv: 'P-384', bytes: 48, bits: 384 },
  'ecdsa-sha2-nistp521': { name: 'nistp521', crv: 'P-521', bytes: 66, bits: 521 },
};

/** `SHA256:<base64, no padding>` of a key blob. */
export const fingerprintOf = (blob: Buffer): string =>
  `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

/** Checks the key's math by importing it: a point off the curve or a broken modulus throws. */
function importCheck(jwk: Record<string, string>): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new PublicKeyError('the public key is not a valid key of its type');
  }
}

const toBase64url = (v: bigint): string => {
  const hex = v.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
};

function readFields(type: string, r: SshReader): { bits: number } {
  if (type === 'ssh-ed25519') {
    const pk = r.bytes();
    if (pk.length !== 32) throw new PublicKeyError('an ssh-ed25519 key is 32 bytes');
    // No import check: OpenSSL takes any 32 bytes as an Ed25519 public key, so checkEd25519Key (canonical,
    // on the curve, not of small order) is the whole check, and the import only cost time on the hot path.
    checkEd25519Key(pk);
    return { bits: 256 };
  }
  const curve = CURVES[type];
  if (curve) {
    if (r.text() !== curve.name) throw new PublicKeyError(`the curve does not match ${type}`);
    const q = r.bytes();
    // SEC 1 §2.3.3: 0x04 ‖ x ‖ y. The point at infinity (a lone 0x00) and compressed points fail here.
    if (q.length !== 1 + 2 * curve.bytes || q[0] !== 4) throw new PublicKeyError(`${type} needs an uncompressed point`);
    // No import: the arithmetic is the whole check, as for Ed25519 (OpenSSL's import makes the same one).
    checkEcPoint(curve.crv, q.subarray(1, 1 + curve.bytes), q.subarray(1 + curve.bytes));
    return { bits: curve.bits };
  }
  if (type === 'ssh-rsa') {
    const e = rsaInteger(r.bytes(), 'exponent');
    const n = rsaInteger(r.bytes(), 'modulus');
    if (n === 0n) throw new PublicKeyError('the RSA modulus is empty');
    const bits = n.toString(2).length;
    if (bits < MIN_RSA_BITS) throw new PublicKeyError(`RSA keys must have at least ${MIN_RSA_BITS} bits; this one has ${bits}`);
    if (bits > MAX_RSA_BITS) throw new PublicKeyError(`RSA keys over ${MAX_RSA_BITS} bits are not accepted`);
    checkRsaKey(e, n);
    importCheck({ kty: 'RSA', n: toBase64url(n), e: toBase64url(e) });
    return { bits };
  }
  if (type === 'ssh-dss') throw new PublicKeyError('DSA keys are not accepted (OpenSSH disabled them); use ssh-ed25519');
  throw new PublicKeyError(`unsupported key type ${JSON.stringify(type.slice(0, 64))}`);
}

/** Parses one authorized_keys line (`type base64 [comment]`) for a user key; throws PublicKeyError. */
export function parseUserPublicKey(line: string): UserPublicKey {
  if (typeof line !== 'string' || line.length > 16_384) throw new PublicKeyError('the public key is missing or too long');
  const parts = line.trim().split(/[ \t]+/);
  if (parts.length < 2) throw new PublicKeyError('expected an authorized_keys line: "<type> <base64> [comment]"');
  const [declared, b64] = parts as [string, string];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new PublicKeyError('the key blob is not base64');
  const blob = Buffer.from(b64, 'base64');
  try {
    const r = new SshReader(blob);
    const type = r.text();
    if (type !== declared) throw new PublicKeyError(`the line says ${JSON.stringify(declared.slice(0, 64))} but the key is ${JSON.stringify(type.slice(0, 64))}`);
    if (type.includes('-cert-v01@openssh.com')) throw new PublicKeyError('send a public key, not a certificate');
    const { bits } = readFields(type, r);
    r.end();
    return {
      type: type as UserKeyType, blob, fields: blob.subarray(4 + Buffer.byteLength(type)), fingerprint: fingerprintOf(blob), bits,
      comment: parts.slice(2).join(' '),
    };
  } catch (error) {
    if (error instanceof SshWireError) throw new PublicKeyError(`malformed key blob (${error.message})`);
    throw error;
  }
}
