import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import type { CaKeyRow } from '../access-cas/access-cas-store.ts';
import { caKeyAad } from '../access-cas/ca-key-material.ts';
import { p256PublicKeyObject } from '../openssh/ecdsa-p256.ts';
import { keyObjectSigner, type SshSigner } from '../openssh/ssh-signer.ts';
import { noCaKeyToken, type CaKeyToken } from '../signers/ca-key-token.ts';

export interface LoadedCaKey {
  signer: SshSigner;
  /** To re-verify each certificate before it leaves. */
  publicKey: KeyObject;
}

const MAX_CACHED = 10_000;

/**
 * Opens CA keys once per process: an import costs about fifteen signatures. The cache is keyed by key
 * id and only saves the import; which key signs is read from the store on every request, so a key of a
 * deleted or rotated CA stops signing as soon as the store says so, on every node.
 */
export function createCaSigners(deps: {
  vault: Pick<KeyVault, 'open'>;
  /** What a sealed key is bound to; an application CA's key (caKeyAad) unless said. */
  aad?: (caId: string, keyId: string) => string;
  /** Where keys stored as 'pkcs11' sign (`serve --pkcs11-*`); none: they answer 503 saying so. */
  token?: Pick<CaKeyToken, 'signer'> | undefined;
}) {
  const aad = deps.aad ?? caKeyAad;
  const token = deps.token ?? noCaKeyToken;
  const cache = new Map<string, LoadedCaKey>();
  const openSealed = (row: Pick<CaKeyRow, 'id' | 'ca_id' | 'private_key_sealed'>, blob: Buffer): SshSigner => {
    const der = deps.vault.open(row.private_key_sealed, aad(row.ca_id, row.id));
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    return keyObjectSigner(privateKey, blob);
  };
  return {
    forKey(row: Pick<CaKeyRow, 'id' | 'ca_id' | 'public_key' | 'private_key_sealed'> & Partial<Pick<CaKeyRow, 'key_storage' | 'token_object_id'>>): LoadedCaKey {
      const hit = cache.get(row.id);
      if (hit) return hit;
      const blob = Buffer.from(row.public_key, 'base64');
      // A token key stays in the token: its signer holds the object id; the store's public key re-verifies.
      const loaded = { signer: row.key_storage === 'pkcs11' ? token.signer(row.token_object_id ?? '', blob) : openSealed(row, blob), publicKey: p256PublicKeyObject(blob) };
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(row.id, loaded);
      return loaded;
    },
  };
}

export type CaSigners = ReturnType<typeof createCaSigners>;
