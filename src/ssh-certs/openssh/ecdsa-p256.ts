import type { KeyObject } from 'node:crypto';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';

export const ECDSA_P256 = 'ecdsa-sha2-nistp256';
const CURVE = 'nistp256';

/** The OpenSSH public key blob of a P-256 key: string type ‖ string curve ‖ string (0x04 ‖ X ‖ Y). */
export function encodeP256PublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new SshWireError('not a P-256 key');
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return new SshWriter().string(ECDSA_P256).string(CURVE).string(point).toBuffer();
}

/** Reads a P-256 public key blob back to its uncompressed point; throws on anything else. */
export function decodeP256PublicKey(blob: Buffer): Buffer {
  const r = new SshReader(blob);
  if (r.text() !== ECDSA_P256 || r.text() !== CURVE) throw new SshWireError('not an ecdsa-sha2-nistp256 key');
  const point = r.bytes();
  r.end();
  if (point.length !== 65 || point[0] !== 4) throw new SshWireError('not an uncompressed P-256 point');
  return point;
}

/** An authorized_keys line: `<type> <base64 blob> <comment>`. */
export function authorizedKeyLine(blob: Buffer, comment: string): string {
  const type = new SshReader(blob).text();
  return comment ? `${type} ${blob.toString('base64')} ${comment}` : `${type} ${blob.toString('base64')}`;
}
