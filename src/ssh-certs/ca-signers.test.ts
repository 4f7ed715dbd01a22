import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createKeyVault } from '../platform/crypto/key-vault.ts';
import { caKeyAad, generateCaKey } from '../access-cas/ca-key-material.ts';
import { createCaSigners } from './ca-signers.ts';
import { verifyP256 } from '../openssh/ecdsa-signature.ts';

describe('CA signers', () => {
  it('open and import a CA key once per process, then sign with the cached KeyObject', async () => {
    const vault = createKeyVault(randomBytes(32));
    let opened = 0;
    const counting = { open: (s: Uint8Array, aad: string) => (opened++, vault.open(s, aad)) };
    const { publicBlob, pkcs8 } = generateCaKey();
    const row = { id: 'k1', ca_id: 'c1', state: 'active', algorithm: 'ecdsa-sha2-nistp256', public_key: publicBlob.toString('base64'), private_key_sealed: vault.seal(pkcs8, caKeyAad('c1', 'k1')), created_at: '' };
    const signers = createCaSigners({ vault: counting });
    for (let i = 0; i < 100; i++) {
      const { signer, publicKey } = signers.forKey(row);
      const data = randomBytes(64);
      assert.equal(verifyP256(publicKey, data, await signer.sign(data)), true);
    }
    assert.equal(opened, 1);
    assert.throws(() => createCaSigners({ vault }).forKey({ ...row, ca_id: 'other' }), /does not open/, 'a key moved to another row does not open');
  });
});
