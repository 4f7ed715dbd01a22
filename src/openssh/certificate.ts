import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';
import type { UserKeyType } from './user-public-key.ts';

export const SSH_CERT_TYPE_USER = 1;
export const SSH_CERT_TYPE_HOST = 2;

/** The certificate type string for a key type: `<key type>-cert-v01@openssh.com`. */
export const certTypeFor = (keyType: string): string => `${keyType}-cert-v01@openssh.com`;

/** What a certificate says, before it is signed (PROTOCOL.certkeys). */
export interface CertificateBody {
  keyType: UserKeyType;
  /** The user key's blob without its type string. */
  keyFields: Buffer;
  nonce: Buffer;
  serial: bigint;
  certType: typeof SSH_CERT_TYPE_USER | typeof SSH_CERT_TYPE_HOST;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  /** name → value; `force-command` and `source-address` carry a value, others an empty string. */
  criticalOptions: Record<string, string>;
  /** name → value; OpenSSH's standard extensions carry an empty value. */
  extensions: Record<string, string>;
  /** The CA's public key blob. */
  signatureKey: Buffer;
}

export interface Certificate extends CertificateBody {
  /** Everything the signature covers: from the type string through the signature key. */
  signed: Buffer;
  signature: Buffer;
  blob: Buffer;
}

/**
 * PROTOCOL.certkeys orders options lexically by their bytes (UTF-8), not by UTF-16 code units. The two
 * orders differ only where surrogates or U+E000 and above are involved; other names (every real one)
 * compare as they are, without two buffers per comparison.
 */
const AFTER_SURROGATES = /[\uD800-\uFFFF]/;
const byteOrder = (a: string, b: string): number =>
  AFTER_SURROGATES.test(a) || AFTER_SURROGATES.test(b) ? Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) : a < b ? -1 : a > b ? 1 : 0;
const sorted = (o: Record<string, string>) => Object.keys(o).sort(byteOrder);

/** Options and extensions: sorted by name; a value is itself a string inside the data string. */
function encodeOptions(options: Record<string, string>): Buffer {
  const w = new SshWriter();
  for (const name of sorted(options)) {
    const value = options[name]!;
    w.string(name).string(value === '' ? Buffer.alloc(0) : new SshWriter().string(value).toBuffer());
  }
  return w.toBuffer();
}

function decodeOptions(data: Buffer): Record<string, string> {
  const r = new SshReader(data);
  const out: Record<string, string> = {};
  let previous: string | null = null;
  while (!r.done) {
    const name = r.text();
    if (previous !== null && byteOrder(previous, name) >= 0) throw new SshWireError('options are not sorted and unique');
    previous = name;
    const value = r.bytes();
    let text = '';
    if (value.length > 0) {
      const inner = new SshReader(value);
      text = inner.text();
      inner.end();
    }
    // An own property even for a name like __proto__, which plain assignment would swallow.
    Object.defineProperty(out, name, { value: text, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The bytes a CA signs: every field from the type string through the signature key. */
export function encodeToBeSigned(body: CertificateBody): Buffer {
  const principals = new SshWriter();
  for (const p of body.principals) principals.string(p);
  return new SshWriter()
    .string(certTypeFor(body.keyType))
    .string(body.nonce)
    .raw(body.keyFields)
    .uint64(body.serial)
    .uint32(body.certType)
    .string(body.keyId)
    .string(principals.toBuffer())
    .uint64(body.validAfter)
    .uint64(body.validBefore)
    .string(encodeOptions(body.criticalOptions))
    .string(encodeOptions(body.extensions))
    .string('')
    .string(body.signatureKey)
    .toBuffer();
}

/** The whole certificate blob: the signed part followed by its signature. */
export function assembleCertificate(signed: Buffer, signature: Buffer): Buffer {
  return Buffer.concat([signed, new SshWriter().string(signature).toBuffer()]);
}

/** Reads the key fields of each supported user key type, so the parser knows where they end. */
function readKeyFields(keyType: string, r: SshReader): void {
  if (keyType === 'ssh-ed25519') r.bytes();
  else if (keyType.startsWith('ecdsa-sha2-')) { r.bytes(); r.bytes(); }
  else if (keyType === 'ssh-rsa') { r.bytes(); r.bytes(); }
  else throw new SshWireError(`unsupported certificate key type ${keyType}`);
}

/** Parses a certificate blob; the caller verifies `signature` over `signed` with `signatureKey`. */
export function parseCertificate(blob: Buffer): Certificate {
  const r = new SshReader(blob);
  const typeString = r.text();
  const m = /^(.+)-cert-v01@openssh\.com$/.exec(typeString);
  if (!m) throw new SshWireError(`not a certificate type: ${typeString}`);
  const keyType = m[1]! as UserKeyType;
  const nonce = r.bytes();
  const fieldsStart = r.position;
  readKeyFields(keyType, r);
  const keyFields = blob.subarray(fieldsStart, r.position);
  const serial = r.uint64();
  const certType = r.uint32();
  if (certType !== SSH_CERT_TYPE_USER && certType !== SSH_CERT_TYPE_HOST) throw new SshWireError('unknown certificate type');
  const keyId = r.text();
  const pr = new SshReader(r.bytes());
  const principals: string[] = [];
  while (!pr.done) principals.push(pr.text());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = decodeOptions(r.bytes());
  const extensions = decodeOptions(r.bytes());
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  const signed = blob.subarray(0, r.position);
  const signature = r.bytes();
  r.end();
  return { keyType, keyFields, nonce, serial, certType, keyId, principals, validAfter, validBefore, criticalOptions, extensions, signatureKey, signed, signature, blob };
}
