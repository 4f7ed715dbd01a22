import { sign, verify, type KeyObject } from 'node:crypto';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';
import { ECDSA_P256 } from './ecdsa-p256.ts';

/**
 * An OpenSSH ecdsa-sha2-nistp256 signature blob: string type ‖ string(mpint r ‖ mpint s), over SHA-256.
 * Node's default DER form is rejected by sshd; r and s come from IEEE P1363 and become minimal mpints.
 */
export function signP256(key: KeyObject, data: Buffer): Buffer {
  return p256SignatureBlob(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
}

/**
 * The OpenSSH blob of a raw P-256 signature r ‖ s (IEEE P1363, 64 bytes: what Node's 'ieee-p1363' and a
 * PKCS#11 token's CKM_ECDSA return); r and s become minimal mpints.
 */
export function p256SignatureBlob(rs: Buffer): Buffer {
  if (rs.length !== 64) throw new SshWireError(`a P-256 signature is 64 bytes (r ‖ s), not ${rs.length}`);
  const inner = new SshWriter().mpint(rs.subarray(0, 32)).mpint(rs.subarray(32)).toBuffer();
  return new SshWriter().string(ECDSA_P256).string(inner).toBuffer();
}

function fixed32(mpint: Buffer): Buffer {
  let v = mpint;
  while (v.length > 0 && v[0] === 0) v = v.subarray(1);
  if (v.length > 32) throw new SshWireError('signature integer too large');
  return Buffer.concat([Buffer.alloc(32 - v.length), v]);
}

/** Verifies an OpenSSH P-256 signature blob over `data`. */
export function verifyP256(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  const r = new SshReader(signature);
  if (r.text() !== ECDSA_P256) return false;
  const inner = new SshReader(r.bytes());
  r.end();
  const rs = Buffer.concat([fixed32(inner.bytes()), fixed32(inner.bytes())]);
  inner.end();
  return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, rs);
}

