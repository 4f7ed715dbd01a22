import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { systemClock } from '../platform/clock.ts';
import { createJwtVerifier, TokenRejected } from './jwt-verifier.ts';
import type { IdpRow } from './identity-providers-store.ts';

const ISSUER = 'https://idp.example';
const AUD = 'a'.repeat(64);

async function keyPair(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg };
  const sign = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ email: 'a@example.com', ...claims }).setProtectedHeader({ alg, kid }).setIssuer(ISSUER).setAudience(AUD).setExpirationTime('5m').sign(privateKey);
  return { jwk, sign };
}

const row = (fields: Partial<IdpRow>): IdpRow => ({
  id: 'idp', account_id: 'acct', name: 'idp', issuer: ISSUER, jwks_url: null, jwks_json: null, audiences: '[]',
  client_id: null, client_secret_sealed: null, scopes: 'openid', email_claim: 'email', created_at: '', updated_at: 't0', ...fields,
});

describe('JWT verifier', () => {
  it('accepts RS256, ES256 and EdDSA tokens from an inline JWKS', async () => {
    const keys = await Promise.all([keyPair('RS256', 'r'), keyPair('ES256', 'e'), keyPair('EdDSA', 'd')]);
    const idp = row({ jwks_json: JSON.stringify({ keys: keys.map((k) => k.jwk) }) });
    const verifier = createJwtVerifier({ clock: systemClock });
    for (const k of keys) assert.equal((await verifier.verify(await k.sign(), idp, AUD))['email'], 'a@example.com');
    await assert.rejects(verifier.verify(await keys[0]!.sign(), idp, 'b'.repeat(64)), (e: Error) => e instanceof TokenRejected && /another application/.test(e.message));
    await assert.rejects(verifier.verify(await keys[0]!.sign(), row({ ...idp, issuer: 'https://other.example' }), AUD), /issuer does not match/);
  });

  it('refetches a remote JWKS when a token names an unknown kid (key rotation at the provider)', async () => {
    const first = await keyPair('ES256', 'one');
    const second = await keyPair('ES256', 'two');
    let published = [first.jwk];
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const idp = row({ jwks_url: `http://127.0.0.1:${(server.address() as { port: number }).port}/keys` });
      const verifier = createJwtVerifier({ clock: systemClock, refetchCooldownMs: 0 });
      await verifier.verify(await first.sign(), idp, AUD);
      await verifier.verify(await first.sign(), idp, AUD);
      assert.equal(fetches, 1, 'the key set is cached');
      published = [first.jwk, second.jwk];
      await verifier.verify(await second.sign(), idp, AUD);
      assert.equal(fetches, 2, 'an unknown kid fetched the set again');
    } finally {
      server.close();
    }
  });

  it('says when the provider cannot be reached', async () => {
    const verifier = createJwtVerifier({ clock: systemClock, fetchTimeoutMs: 1000 });
    const k = await keyPair('ES256', 'x');
    await assert.rejects(verifier.verify(await k.sign(), row({ jwks_url: 'http://127.0.0.1:9/keys' }), AUD), /keys could not be fetched; try again/);
  });
});
