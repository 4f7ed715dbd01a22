import type { KeyObject } from 'node:crypto';
import { ECDSA_P256 } from './ecdsa-p256.ts';
import { signP256 } from './ecdsa-signature.ts';

/**
 * What signs certificates for a CA key. The in-process implementation holds a KeyObject; an HSM
 * (PKCS#11) implementation holds a handle and signs there, so the private key never enters the process.
 */
export interface SshSigner {
  readonly algorithm: typeof ECDSA_P256;
  /** The CA's OpenSSH public key blob, embedded in every certificate as the signature key. */
  readonly publicKeyBlob: Buffer;
  /** Returns an OpenSSH signature blob over `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** A signer over a P-256 private KeyObject kept in memory. */
export function keyObjectSigner(privateKey: KeyObject, publicKeyBlob: Buffer): SshSigner {
  return {
    algorithm: ECDSA_P256,
    publicKeyBlob,
    sign: async (data) => signP256(privateKey, data),
  };
}
