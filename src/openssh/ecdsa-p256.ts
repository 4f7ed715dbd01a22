import { createPublicKey, type KeyObject } from 'node:crypto';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';

export const ECDSA_P256 = 'ecdsa-sha2-nistp256';
const CURVE = 'nistp256';

/** Reads a P-256 public key blob back to its uncompressed point; throws on anything else. */
export function decodeP256PublicKey(blob: Buffer): Buffer {
  const r = new SshReader(blob);
  if (r.text() !== ECDSA_P256 || r.text() !== CURVE) throw new SshWireError('not an ecdsa-sha2-nistp256 key');
  const point = r.bytes();
  r.end();
  if (point.length !== 65 || point[0] !== 4) throw new SshWireError('not an uncompressed P-256 point');
  return point;
}

/** A KeyObject for a P-256 public key blob, to verify what a CA signed. */
export function p256PublicKeyObject(blob: Buffer): KeyObject {
  const point = decodeP256PublicKey(blob);
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
}

/** The OpenSSH public key blob of an uncompressed P-256 point (0x04 ‖ X ‖ Y). */
export function p256PublicKeyBlob(point: Buffer): Buffer {
  if (point.length !== 65 || point[0] !== 4) throw new SshWireError('not an uncompressed P-256 point');
  return new SshWriter().string(ECDSA_P256).string(CURVE).string(point).toBuffer();
}
