import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';
import { parseUserPublicKey, PublicKeyError } from './user-public-key.ts';

/** Why an SSHSIG signature was refused or could not be made; the message is safe to show. */
export class SshsigError extends Error {
  override name = 'SshsigError';
}

export type SshsigHash = 'sha256' | 'sha512';

/** PROTOCOL.sshsig: the preamble of both the blob and the signed data, so no SSH-auth signature is ever one. */
const MAGIC = Buffer.from('SSHSIG', 'latin1');
const VERSION = 1;
const HASHES: readonly string[] = ['sha256', 'sha512'];
const MAX_BLOB = 64 * 1024;
/** The armour of a 64 KiB blob: base64 plus a newline every 70 characters, and the two marker lines. */
const MAX_ARMOR_CHARS = 96 * 1024;
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** SPKI for an Ed25519 public key up to its 32 bytes (RFC 8410 §4). */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** RFC 5656 §6.2.1: each curve signs with its own hash. */
const CURVES: Record<string, { crv: string; bytes: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', bytes: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { crv: 'P-384', bytes: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { crv: 'P-521', bytes: 66, hash: 'sha512' },
};
const RSA_HASHES: Record<string, string> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' };

/** What the inner signature covers (PROTOCOL.sshsig §3): the message enters only as its hash. */
function signedData(namespace: Buffer, hash: string, message: Buffer): Buffer {
  const digest = createHash(hash).update(message).digest();
  // The reserved string is always empty here: OpenSSH verifies with an empty one whatever the blob holds.
  return new SshWriter().raw(MAGIC).string(namespace).string('').string(hash).string(digest).toBuffer();
}

function checkNamespace(namespace: string): Buffer {
  // OpenSSH reads the namespace as a C string, and PROTOCOL.sshsig forbids the empty one.
  if (typeof namespace !== 'string' || namespace === '' || namespace.includes('\0')) {
    throw new SshsigError('the namespace must be a non-empty string without NUL');
  }
  return Buffer.from(namespace, 'utf8');
}

/** Signs `message` as `ssh-keygen -Y sign -n <namespace>` would; returns the raw SSHSIG blob. */
export function signSshsig(
  key: { privateKey: KeyObject; publicBlob: Buffer }, namespace: string, message: Buffer, hash: SshsigHash = 'sha512',
): Buffer {
  const ns = checkNamespace(namespace);
  if (!HASHES.includes(hash)) throw new SshsigError('the hash algorithm must be sha256 or sha512');
  let type: string;
  try {
    type = new SshReader(key.publicBlob).text();
    if (!publicKeyBlob(createPublicKey(key.privateKey)).equals(key.publicBlob)) throw new SshsigError('the public key blob is not the private key\'s');
  } catch (error) {
    if (error instanceof SshsigError) throw error;
    throw new SshsigError('unsupported or malformed signing key');
  }
  const data = signedData(ns, hash, message);
  const w = new SshWriter();
  const curve = CURVES[type];
  if (type === 'ssh-ed25519') {
    w.string(type).string(sign(null, data, key.privateKey));
  } else if (curve) {
    // SSH wants mpint r ‖ mpint s, not node's default DER.
    const rs = sign(curve.hash, data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    w.string(type).string(new SshWriter().mpint(rs.subarray(0, curve.bytes)).mpint(rs.subarray(curve.bytes)).toBuffer());
  } else if (type === 'ssh-rsa') {
    w.string('rsa-sha2-512').string(sign('sha512', data, key.privateKey));
  } else {
    throw new SshsigError('unsupported signing key type');
  }
  return new SshWriter().raw(MAGIC).uint32(VERSION).string(key.publicBlob).string(ns).string('').string(hash)
    .string(w.toBuffer()).toBuffer();
}

/** The armoured form `ssh-keygen -Y sign` writes: header, base64 wrapped at 70 columns, footer. */
export function armorSshsig(blob: Buffer): string {
  const lines = blob.toString('base64').match(/.{1,70}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** The raw blob inside an armoured SSHSIG signature; throws SshsigError. */
export function dearmorSshsig(text: string): Buffer {
  if (typeof text !== 'string' || text.length > MAX_ARMOR_CHARS) throw new SshsigError('the signature is missing or too long');
  // As sshsig_dearmor: the header starts the text; the base64 runs up to "\n" + footer.
  const m = /^-----BEGIN SSH SIGNATURE-----\r?\n([A-Za-z0-9+/=\r\n]*)\n-----END SSH SIGNATURE-----\s*$/.exec(text);
  const body = m?.[1]?.replace(/[\r\n]/g, '');
  if (body === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
    throw new SshsigError('not an armoured SSH signature (-----BEGIN SSH SIGNATURE----- … base64 … -----END SSH SIGNATURE-----)');
  }
  return Buffer.from(body, 'base64');
}

/**
 * A node public KeyObject for an OpenSSH public key blob, after parseUserPublicKey's checks (weak keys,
 * short RSA, points off the curve); throws PublicKeyError.
 */
export function publicKeyObjectFromBlob(blob: Buffer): KeyObject {
  let line: string;
  try {
    line = authorizedKeyLine(blob);
  } catch {
    throw new PublicKeyError('malformed key blob');
  }
  const { type } = parseUserPublicKey(line);
  const r = new SshReader(blob);
  r.text();
  if (type === 'ssh-ed25519') return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, r.bytes()]), format: 'der', type: 'spki' });
  const curve = CURVES[type];
  if (curve) {
    r.text();
    const q = r.bytes();
    const [x, y] = [q.subarray(1, 1 + curve.bytes), q.subarray(1 + curve.bytes)];
    return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  }
  // parseUserPublicKey refused non-minimal mpints, so a leading zero is there only before a set top bit.
  const [e, n] = [r.bytes(), r.bytes()].map((m) => (m[0] === 0 ? m.subarray(1) : m)) as [Buffer, Buffer];
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
}

/**
 * Verifies a raw SSHSIG blob over `message` for `namespace`, as `ssh-keygen -Y verify` does (but without
 * deciding who may sign: the caller checks the returned key); throws SshsigError on any failure.
 */
export function verifySshsig(sig: Buffer, namespace: string, message: Buffer): { publicBlob: Buffer } {
  const ns = checkNamespace(namespace);
  if (!Buffer.isBuffer(sig) || sig.length > MAX_BLOB) throw new SshsigError('the signature is missing or over 64 KiB');
  try {
    if (!sig.subarray(0, MAGIC.length).equals(MAGIC)) throw new SshsigError('not an SSHSIG signature (no SSHSIG preamble)');
    const r = new SshReader(sig.subarray(MAGIC.length));
    // PROTOCOL.sshsig: verifiers MUST reject versions greater than those they support.
    if (r.uint32() !== VERSION) throw new SshsigError('unsupported SSHSIG version');
    const publicBlob = Buffer.from(r.bytes());
    const gotNamespace = r.bytes();
    const reserved = r.bytes();
    const hash = r.text();
    const signature = r.bytes();
    r.end();
    if (!gotNamespace.equals(ns)) throw new SshsigError('the signature was made for another namespace');
    // OpenSSH ignores the reserved field and leaves it out of what it verifies; refusing it keeps every byte signed.
    if (reserved.length !== 0) throw new SshsigError('the reserved field is not empty');
    if (!HASHES.includes(hash)) throw new SshsigError('unsupported hash algorithm; SSHSIG allows sha256 and sha512');
    const key = publicKeyObjectFromBlob(publicBlob);
    const keyType = new SshReader(publicBlob).text();
    if (!verifyInner(keyType, key, signedData(ns, hash, message), signature)) throw new SshsigError('the signature does not verify');
    return { publicBlob };
  } catch (error) {
    if (error instanceof SshsigError) throw error;
    if (error instanceof PublicKeyError) throw new SshsigError(`the signing key is refused: ${error.message}`);
    if (error instanceof SshWireError) throw new SshsigError(`malformed signature (${error.message})`);
    throw new SshsigError('the signature does not verify');
  }
}

/** Verifies an SSH signature blob (string algorithm ‖ string signature) made by a key of `keyType`. */
function verifyInner(keyType: string, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  const r = new SshReader(signature);
  const algorithm = r.text();
  const body = r.bytes();
  r.end();
  if (algorithm === 'ssh-rsa') throw new SshsigError('ssh-rsa signatures (RSA with SHA-1) are refused; sign with rsa-sha2-512');
  const curve = CURVES[keyType];
  const rsaHash = RSA_HASHES[algorithm];
  if (keyType === 'ssh-ed25519' && algorithm === keyType) {
    if (body.length !== 64) throw new SshsigError('an ssh-ed25519 signature is 64 bytes');
    return verify(null, data, key, body);
  }
  if (curve && algorithm === keyType) {
    const inner = new SshReader(body);
    const rs = Buffer.concat([fixedWidth(inner.bytes(), curve.bytes), fixedWidth(inner.bytes(), curve.bytes)]);
    inner.end();
    return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, rs);
  }
  if (keyType === 'ssh-rsa' && rsaHash) {
    // As OpenSSH's ssh_rsa_verify: a signature shorter than the modulus is left-padded, a longer one refused.
    const width = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    if (body.length > width) throw new SshsigError('the RSA signature is longer than the modulus');
    return verify(rsaHash, data, key, Buffer.concat([Buffer.alloc(width - body.length), body]));
  }
  throw new SshsigError(`a ${keyType} key cannot make a ${JSON.stringify(algorithm.slice(0, 64))} signature`);
}

/** An ECDSA r or s: a minimal non-negative mpint, as the fixed-width big-endian number P1363 wants. */
function fixedWidth(mpint: Buffer, width: number): Buffer {
  if (mpint.length > 0 && mpint[0]! & 0x80) throw new SshsigError('an ECDSA signature integer is negative');
  if (mpint[0] === 0 && (mpint.length === 1 || !(mpint[1]! & 0x80))) throw new SshsigError('an ECDSA signature integer is not minimal');
  const v = mpint[0] === 0 ? mpint.subarray(1) : mpint;
  if (v.length > width) throw new SshsigError('an ECDSA signature integer is too large');
  return Buffer.concat([Buffer.alloc(width - v.length), v]);
}

/** The SSHSIG namespace an access-ca host signs its enrollment challenge in: a signature made for anything else never enrolls. */
export const HOST_ENROLL_NAMESPACE = 'host-enroll@access-ca';
