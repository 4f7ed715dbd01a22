import type { KeyObject } from 'node:crypto';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';

const EC: Record<string, [type: string, curve: string]> = {
  'P-256': ['ecdsa-sha2-nistp256', 'nistp256'],
  'P-384': ['ecdsa-sha2-nistp384', 'nistp384'],
  'P-521': ['ecdsa-sha2-nistp521', 'nistp521'],
};

/** The OpenSSH public key blob of an Ed25519, ECDSA (P-256/384/521) or RSA key. */
export function publicKeyBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.x) {
    return new SshWriter().string('ssh-ed25519').string(Buffer.from(jwk.x, 'base64url')).toBuffer();
  }
  if (jwk.kty === 'EC' && jwk.crv && EC[jwk.crv] && jwk.x && jwk.y) {
    const [type, curve] = EC[jwk.crv]!;
    const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    return new SshWriter().string(type).string(curve).string(point).toBuffer();
  }
  if (jwk.kty === 'RSA' && jwk.n && jwk.e) {
    return new SshWriter().string('ssh-rsa').mpint(Buffer.from(jwk.e, 'base64url')).mpint(Buffer.from(jwk.n, 'base64url')).toBuffer();
  }
  throw new SshWireError('unsupported key type for an OpenSSH public key');
}

/** An authorized_keys line: `<type> <base64 blob> [comment]`. */
export function authorizedKeyLine(blob: Buffer, comment = ''): string {
  const type = new SshReader(blob).text();
  return comment ? `${type} ${blob.toString('base64')} ${comment}` : `${type} ${blob.toString('base64')}`;
}
