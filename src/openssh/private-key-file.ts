import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';
import { parseUserPublicKey, PublicKeyError } from './user-public-key.ts';

/** The host key types sshd writes and we can sign with. */
export type HostKeyType = 'ssh-ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521' | 'ssh-rsa';

/** A host private key read from its file, with the OpenSSH public key blob it belongs to. */
export interface HostPrivateKey {
  type: HostKeyType;
  publicBlob: Buffer;
  privateKey: KeyObject;
  comment: string;
}

/** Why a private key file was refused; the message never holds key material. */
export class PrivateKeyFileError extends Error {
  override name = 'PrivateKeyFileError';
}

const MAX_FILE_CHARS = 64 * 1024;
const ENCRYPTED = 'encrypted private keys are not supported; host keys are unencrypted';
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
/** PROTOCOL.key: the file's bytes start with this C string, NUL included. */
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
/** With cipher "none" the private section is padded to 8 bytes (OpenSSH's blocksize for "none"). */
const BLOCK = 8;
/** PKCS#8 for an Ed25519 key up to its 32-byte seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const CURVES: Record<string, { name: string; crv: string; bytes: number }> = {
  'ecdsa-sha2-nistp256': { name: 'nistp256', crv: 'P-256', bytes: 32 },
  'ecdsa-sha2-nistp384': { name: 'nistp384', crv: 'P-384', bytes: 48 },
  'ecdsa-sha2-nistp521': { name: 'nistp521', crv: 'P-521', bytes: 66 },
};
/** OpenSSL's names for the curves, as KeyObject.asymmetricKeyDetails reports them. */
const PEM_CURVES: Record<string, HostKeyType> = {
  prime256v1: 'ecdsa-sha2-nistp256', secp384r1: 'ecdsa-sha2-nistp384', secp521r1: 'ecdsa-sha2-nistp521',
};

const fail = (message: string) => new PrivateKeyFileError(message);

/**
 * Parses an unencrypted host private key file: OpenSSH's own format (openssh-key-v1) or PEM (PKCS#8,
 * SEC 1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY"); throws PrivateKeyFileError.
 */
export function parsePrivateKeyFile(text: string): HostPrivateKey {
  if (typeof text !== 'string' || text.length > MAX_FILE_CHARS) throw fail('the private key file is missing or over 64 KiB');
  try {
    const key = text.includes(BEGIN) ? parseOpenssh(text) : parsePem(text);
    // The key's own math: a private part that does not belong to the public one would sign for nobody.
    const probe = Buffer.from('access-ca: does this private key match its public key?');
    const digest = key.type === 'ssh-ed25519' ? null : 'sha256';
    if (!verify(digest, probe, createPublicKey(key.privateKey), sign(digest, probe, key.privateKey))) {
      throw fail('the private key does not match its public key');
    }
    // The checks every user key gets (weak keys, RSA under 2048 bits): the server would refuse its signatures.
    parseUserPublicKey(authorizedKeyLine(key.publicBlob));
    return key;
  } catch (error) {
    if (error instanceof PrivateKeyFileError) throw error;
    if (error instanceof PublicKeyError) throw fail(`the host key is refused: ${error.message}`);
    if (error instanceof SshWireError) throw fail(`the private key file is malformed (${error.message})`);
    // OpenSSL's messages are not passed on: what they quote is not ours to vouch for.
    throw fail('the private key could not be loaded (not a valid key of its type)');
  }
}

function parsePem(text: string): HostPrivateKey {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4, *ENCRYPTED/.test(text)) throw fail(ENCRYPTED);
  if (!/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(text)) throw fail('expected an OpenSSH or PEM private key file');
  const privateKey = createPrivateKey({ key: text, format: 'pem' });
  const kind = privateKey.asymmetricKeyType;
  const type = kind === 'ed25519' ? 'ssh-ed25519' : kind === 'rsa' ? 'ssh-rsa'
    : kind === 'ec' ? PEM_CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!type) throw fail('unsupported private key type; host keys are Ed25519, ECDSA P-256/384/521 or RSA');
  return { type, publicBlob: publicKeyBlob(createPublicKey(privateKey)), privateKey, comment: '' };
}

function parseOpenssh(text: string): HostPrivateKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith(BEGIN) || !trimmed.endsWith(END)) throw fail('the OpenSSH private key has no BEGIN/END lines around it');
  const body = trimmed.slice(BEGIN.length, -END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw fail('the OpenSSH private key is not base64');
  const bytes = Buffer.from(body, 'base64');
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw fail('not an openssh-key-v1 private key');
  const r = new SshReader(bytes.subarray(MAGIC.length));
  const cipher = r.text();
  const kdf = r.text();
  if (cipher !== 'none' || kdf !== 'none') throw fail(ENCRYPTED);
  if (r.bytes().length !== 0) throw fail('kdf "none" takes no options');
  if (r.uint32() !== 1) throw fail('the file must hold exactly one key');
  const outerBlob = r.bytes();
  const section = r.bytes();
  r.end();
  if (section.length % BLOCK !== 0) throw fail('the private section is not padded to a whole block');
  const p = new SshReader(section);
  // Two copies of one random number: after decryption they differ when the passphrase was wrong.
  if (p.uint32() !== p.uint32()) throw fail('the check integers differ (a corrupt file)');
  const type = p.text();
  const { privateKey, innerBlob } = readPrivate(type, p);
  const comment = p.text();
  for (let i = 1; !p.done; i++) if (p.byte() !== (i & 0xff)) throw fail('the private section padding is not 1, 2, 3, …');
  if (!innerBlob.equals(outerBlob)) throw fail('the public key inside the private section differs from the file\'s public key');
  const publicBlob = publicKeyBlob(createPublicKey(privateKey));
  if (!publicBlob.equals(outerBlob)) throw fail('the private key does not match its public key');
  return { type: type as HostKeyType, publicBlob, privateKey, comment };
}

/** One key of the private section (PROTOCOL.key, sshkey_private_serialize), and the public blob it spells. */
function readPrivate(type: string, p: SshReader): { privateKey: KeyObject; innerBlob: Buffer } {
  const w = new SshWriter().string(type);
  if (type === 'ssh-ed25519') {
    const pk = p.bytes();
    const sk = p.bytes();
    // OpenSSH's 64-byte "secret key" is seed ‖ public key, as in NaCl.
    if (pk.length !== 32 || sk.length !== 64 || !sk.subarray(32).equals(pk)) throw fail('malformed ssh-ed25519 private key');
    const der = Buffer.concat([ED25519_PKCS8_PREFIX, sk.subarray(0, 32)]);
    return { privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), innerBlob: w.string(pk).toBuffer() };
  }
  const curve = CURVES[type];
  if (curve) {
    const name = p.text();
    if (name !== curve.name) throw fail(`the curve does not match ${type}`);
    const q = p.bytes();
    const d = unsigned(p.bytes());
    if (q.length !== 1 + 2 * curve.bytes || q[0] !== 4) throw fail(`${type} needs an uncompressed point`);
    if (d.length > curve.bytes) throw fail(`the ${type} private scalar is too long`);
    const jwk = {
      kty: 'EC', crv: curve.crv, x: b64u(q.subarray(1, 1 + curve.bytes)), y: b64u(q.subarray(1 + curve.bytes)),
      d: b64u(Buffer.concat([Buffer.alloc(curve.bytes - d.length), d])),
    };
    return { privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), innerBlob: w.string(name).string(q).toBuffer() };
  }
  if (type === 'ssh-rsa') {
    // The private form orders n before e, the public blob e before n.
    const [nRaw, eRaw] = [p.bytes(), p.bytes()];
    const [n, e, d, iqmp, P, Q] = [nRaw, eRaw, p.bytes(), p.bytes(), p.bytes(), p.bytes()].map((m) => big(unsigned(m))) as
      [bigint, bigint, bigint, bigint, bigint, bigint];
    if (P < 2n || Q < 2n || P * Q !== n) throw fail('the RSA primes do not multiply to the modulus');
    if ((iqmp * Q) % P !== 1n) throw fail('the RSA CRT coefficient is not q⁻¹ mod p');
    const jwk = {
      kty: 'RSA', n: b64u(n), e: b64u(e), d: b64u(d), p: b64u(P), q: b64u(Q),
      dp: b64u(d % (P - 1n)), dq: b64u(d % (Q - 1n)), qi: b64u(iqmp),
    };
    return { privateKey: createPrivateKey({ key: jwk, format: 'jwk' }), innerBlob: w.string(eRaw).string(nRaw).toBuffer() };
  }
  throw fail(`unsupported key type ${JSON.stringify(type.slice(0, 64))}; host keys are Ed25519, ECDSA P-256/384/521 or RSA`);
}

/** The magnitude of a non-negative mpint, without its leading zero bytes. */
function unsigned(mpint: Buffer): Buffer {
  if (mpint.length > 0 && mpint[0]! & 0x80) throw fail('a private key integer is negative');
  let start = 0;
  while (start < mpint.length && mpint[start] === 0) start++;
  return mpint.subarray(start);
}

const big = (bytes: Buffer): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`));

function b64u(v: Buffer | bigint): string {
  if (Buffer.isBuffer(v)) return v.toString('base64url');
  const hex = v.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
}
