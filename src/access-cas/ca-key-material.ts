import { generateKeyPairSync } from 'node:crypto';
import { publicKeyBlob } from '../openssh/public-key-blob.ts';

export const CA_KEY_ALGORITHM = 'ecdsa-sha2-nistp256';

/** Cloudflare's constant comment on a CA public key line. */
export const DEFAULT_CA_KEY_COMMENT = 'open-ssh-ca@cloudflareaccess.org';

/** A fresh P-256 CA key: its OpenSSH public blob and its private key as PKCS#8 DER (to be sealed). */
export function generateCaKey(): { publicBlob: Buffer; pkcs8: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    publicBlob: publicKeyBlob(publicKey),
    pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

/** Associated data that binds a sealed CA private key to its CA and key rows. */
export const caKeyAad = (caId: string, keyId: string): string => `access-ca/ssh_ca_keys/v1/${caId}/${keyId}`;
