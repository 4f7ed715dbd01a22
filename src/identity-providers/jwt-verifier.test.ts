import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { systemClock, type Clock } from '../platform/clock.ts';
import { createJwtVerifier, ProviderKeysUnavailable, TokenRejected } from './jwt-verifier.ts';
import { createJwksFetcher } from './jwks-fetch.ts';
import type { IdpRow } from './identity-providers-store.ts';

const ISSUER = 'https://idp.example';
const AUD = 'a'.repeat(64);
const devFetcher = (timeoutMs = 2000) => createJwksFetcher({ allowPrivateAddresses: true, timeoutMs });

async function keyPair(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg };
  const sign = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ email: 'a@example.com', ...claims }).setProtectedHeader({ alg, kid }).setIssuer(ISSUER).setAudience(AUD).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  return { jwk, sign, privateKey };
}

/** A token whose claims are written as raw JSON, so they can hold what a JWT library would not write. */
async function rawToken(privateKey: CryptoKey, kid: string, claimsJson: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(claimsJson)).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
}

const row = (fields: Partial<IdpRow>): IdpRow => ({
  id: 'idp', account_id: 'acct', name: 'idp', issuer: ISSUER, jwks_url: null, jwks_json: null, audiences: '[]',
  client_id: null, client_secret_sealed: null, scopes: 'openid', email_claim: 'email',
  email_verified_required: 1, email_domains: '[]', max_token_lifetime: 86_400, trial_key_sealed: null, created_at: '', updated_at: 't0', ...fields,
});

/** A JWKS server on loopback that counts the requests for each path. */
async function jwksServer(handler?: RequestListener) {
  const published = new Map<string, JWK[]>();
  const hits = new Map<string, number>();
  const server = createServer(handler ?? ((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: published.get(req.url!) ?? [] }));
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { base, published, hits: (path: string) => hits.get(path) ?? 0, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A clock the test moves. */
function manualClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

describe('JWT verifier', () => {
  it('accepts RS256, ES256 and EdDSA tokens from an inline JWKS', async () => {
    const keys = await Promise.all([keyPair('RS256', 'r'), keyPair('ES256', 'e'), keyPair('EdDSA', 'd')]);
    const idp = row({ jwks_json: JSON.stringify({ keys: keys.map((k) => k.jwk) }) });
    const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher() });
    for (const k of keys) assert.equal((await verifier.verify(await k.sign(), idp, AUD))['email'], 'a@example.com');
    await assert.rejects(verifier.verify(await keys[0]!.sign(), idp, 'b'.repeat(64)), (e: Error) => e instanceof TokenRejected && /another application/.test(e.message));
    await assert.rejects(verifier.verify(await keys[0]!.sign(), row({ ...idp, issuer: 'https://other.example' }), AUD), /issuer does not match/);
  });

  it('refetches a remote JWKS when a token names an unknown kid (key rotation at the provider)', async () => {
    const first = await keyPair('ES256', 'one');
    const second = await keyPair('ES256', 'two');
    const jwks = await jwksServer();
    jwks.published.set('/keys', [first.jwk]);
    try {
      const idp = row({ jwks_url: `${jwks.base}/keys` });
      const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher(), refetchCooldownMs: 0 });
      await verifier.verify(await first.sign(), idp, AUD);
      await verifier.verify(await first.sign(), idp, AUD);
      assert.equal(jwks.hits('/keys'), 1, 'the key set is cached');
      jwks.published.set('/keys', [first.jwk, second.jwk]);
      await verifier.verify(await second.sign(), idp, AUD);
      assert.equal(jwks.hits('/keys'), 2, 'an unknown kid fetched the set again');
    } finally {
      await jwks.close();
    }
  });

  it('an unknown kid refetches at most once per cooldown, per provider', async () => {
    const known = await keyPair('ES256', 'known');
    const stranger = await keyPair('ES256', 'made-up');
    const jwks = await jwksServer();
    jwks.published.set('/a', [known.jwk]);
    jwks.published.set('/b', [known.jwk]);
    const clock = manualClock();
    try {
      const verifier = createJwtVerifier({ clock, fetcher: devFetcher(), refetchCooldownMs: 10_000 });
      const a = row({ id: 'a', jwks_url: `${jwks.base}/a` });
      const b = row({ id: 'b', jwks_url: `${jwks.base}/b` });
      await verifier.verify(await known.sign(), a, AUD);
      await verifier.verify(await known.sign(), b, AUD);
      clock.advance(10_000);
      for (let i = 0; i < 5; i++) {
        await assert.rejects(verifier.verify(await stranger.sign(), a, AUD), /signed by a key the identity provider does not publish/);
      }
      assert.equal(jwks.hits('/a'), 2, 'five tokens with an unknown kid made one refetch');
      await assert.rejects(verifier.verify(await stranger.sign(), b, AUD), /does not publish/);
      assert.equal(jwks.hits('/b'), 2, 'the cooldown is per provider: b refetched once on its own');
      clock.advance(9_000);
      await assert.rejects(verifier.verify(await stranger.sign(), a, AUD), /does not publish/);
      assert.equal(jwks.hits('/a'), 2, 'still within the cooldown');
      clock.advance(1_000);
      await assert.rejects(verifier.verify(await stranger.sign(), a, AUD), /does not publish/);
      assert.equal(jwks.hits('/a'), 3, 'after the cooldown, one more refetch');
      await verifier.verify(await known.sign(), a, AUD);
      assert.equal(jwks.hits('/a'), 3, 'a known kid never refetches');
    } finally {
      await jwks.close();
    }
  });

  it('says when the provider cannot be reached', async () => {
    const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher(1000) });
    const k = await keyPair('ES256', 'x');
    await assert.rejects(verifier.verify(await k.sign(), row({ jwks_url: 'http://127.0.0.1:9/keys' }), AUD), (e: Error) => {
      assert.ok(e instanceof ProviderKeysUnavailable && e.transient);
      assert.equal(e.message, 'the identity provider\'s keys could not be fetched: the provider did not answer; try again shortly');
      return true;
    });
  });

  it('tells a person one of three kinds of fetch failure, never the details, so a token cannot map the network', async () => {
    const k = await keyPair('ES256', 'x');
    const jwks = await jwksServer((req, res) => {
      if (req.url === '/redirect') res.writeHead(302, { location: '/keys' }).end();
      else if (req.url === '/missing') res.writeHead(404).end('not here');
      else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
      else res.writeHead(200).end(JSON.stringify({ keys: [k.jwk] }));
    });
    try {
      const failures = new Map<string, string>();
      const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher(1000), onFetchFailure: (id, e) => failures.set(id, e.failure) });
      const strict = createJwtVerifier({ clock: systemClock, fetcher: createJwksFetcher({ allowPrivateAddresses: false }), onFetchFailure: (id, e) => failures.set(id, e.failure) });
      const cases: [string, string, typeof verifier][] = [
        ['closed port', 'http://127.0.0.1:9/keys', verifier],
        ['redirect', `${jwks.base}/redirect`, verifier],
        ['404', `${jwks.base}/missing`, verifier],
        ['not JSON', `${jwks.base}/html`, verifier],
        ['answering, but private', `${jwks.base.replace('http:', 'https:')}/keys`, strict],
        ['metadata address', 'https://169.254.169.254/latest/meta-data/', strict],
        ['a name for loopback', `${jwks.base.replace('http://127.0.0.1', 'https://localhost')}/keys`, strict],
      ];
      const messages = new Map<string, string>();
      for (const [name, url, v] of cases) {
        await assert.rejects(v.verify(await k.sign(), row({ id: name, jwks_url: url }), AUD), (e: Error) => {
          assert.ok(e instanceof ProviderKeysUnavailable, name);
          messages.set(name, `${e.transient ? 'transient' : 'fix'}: ${e.message.replace('the identity provider\'s keys could not be fetched: ', '')}`);
          return true;
        });
      }
      const later = 'transient: the provider did not answer; try again shortly';
      const unusable = 'fix: its JWKS URL does not serve a usable key set; tell the server\'s administrator (the server\'s log says why)';
      const privateAddress = 'fix: its JWKS URL is on a private, loopback or link-local address or is not https, which this server does not fetch (for development only, serve --allow-private-idp (or ACCESS_CA_ALLOW_PRIVATE_IDP=1) allows it); tell the server\'s administrator';
      assert.deepEqual(Object.fromEntries(messages), {
        'closed port': later, redirect: unusable, '404': unusable, 'not JSON': unusable,
        'answering, but private': privateAddress, 'metadata address': privateAddress, 'a name for loopback': privateAddress,
      });
      assert.deepEqual(Object.fromEntries(failures), {
        'closed port': 'unreachable', redirect: 'redirect', '404': 'http-status', 'not JSON': 'not-jwks',
        'answering, but private': 'private-address', 'metadata address': 'private-address', 'a name for loopback': 'private-address',
      }, 'the operator is told the reason');
    } finally {
      await jwks.close();
    }
  });

  it('a failed fetch is not retried within the cooldown', async () => {
    const k = await keyPair('ES256', 'x');
    let up = false;
    let requests = 0;
    const jwks = await jwksServer((_req, res) => {
      requests++;
      if (up) res.writeHead(200).end(JSON.stringify({ keys: [k.jwk] }));
      else res.writeHead(503).end();
    });
    const clock = manualClock();
    try {
      const verifier = createJwtVerifier({ clock, fetcher: devFetcher(), refetchCooldownMs: 10_000 });
      const idp = row({ jwks_url: `${jwks.base}/keys` });
      for (let i = 0; i < 3; i++) await assert.rejects(verifier.verify(await k.sign(), idp, AUD), /could not be fetched/);
      assert.equal(requests, 1);
      up = true;
      clock.advance(10_000);
      assert.equal((await verifier.verify(await k.sign(), idp, AUD))['email'], 'a@example.com');
      assert.equal(requests, 2);
    } finally {
      await jwks.close();
    }
  });

  it('a key replaced within the same second by one of the same length is no longer trusted', async () => {
    const old = await keyPair('ES256', 'k');
    const replacement = await keyPair('ES256', 'k');
    const before = JSON.stringify({ keys: [old.jwk] });
    const after = JSON.stringify({ keys: [replacement.jwk] });
    assert.equal(before.length, after.length, 'the two JWKS have the same length');
    const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher() });
    const updatedAt = '2030-01-01T00:00:00Z';
    await verifier.verify(await old.sign(), row({ jwks_json: before, updated_at: updatedAt }), AUD);
    const replaced = row({ jwks_json: after, updated_at: updatedAt });
    await assert.rejects(verifier.verify(await old.sign(), replaced, AUD), /token signature does not verify/);
    assert.equal((await verifier.verify(await replacement.sign(), replaced, AUD))['email'], 'a@example.com');
  });

  it('caches at most N providers\' key sets, least recently used out, and refetches a changed provider', async () => {
    const k = await keyPair('ES256', 'k');
    const jwks = await jwksServer();
    for (const p of ['/1', '/2', '/3', '/3b']) jwks.published.set(p, [k.jwk]);
    try {
      const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher(), cacheEntries: 2 });
      const p = (n: string, path = `/${n}`) => row({ id: `idp-${n}`, jwks_url: `${jwks.base}${path}` });
      await verifier.verify(await k.sign(), p('1'), AUD);
      await verifier.verify(await k.sign(), p('2'), AUD);
      await verifier.verify(await k.sign(), p('1'), AUD); // 1 is now the most recently used
      await verifier.verify(await k.sign(), p('3'), AUD); // evicts 2
      assert.equal(verifier.cachedProviders, 2);
      await verifier.verify(await k.sign(), p('1'), AUD);
      await verifier.verify(await k.sign(), p('3'), AUD);
      assert.deepEqual([jwks.hits('/1'), jwks.hits('/2'), jwks.hits('/3')], [1, 1, 1], '1 and 3 stayed cached');
      await verifier.verify(await k.sign(), p('2'), AUD);
      assert.equal(jwks.hits('/2'), 2, '2 was evicted and fetched again');
      // The provider changed where its keys live: a new revision, fetched at once.
      await verifier.verify(await k.sign(), p('3', '/3b'), AUD);
      assert.equal(jwks.hits('/3b'), 1);
      // Changed or removed through the service: forgotten, so the next token fetches again.
      verifier.forget('idp-3');
      await verifier.verify(await k.sign(), p('3', '/3b'), AUD);
      assert.equal(jwks.hits('/3b'), 2);
    } finally {
      await jwks.close();
    }
  });

  it('bounds the cache by bytes too', async () => {
    const k = await keyPair('RS256', 'r');
    const jwks = await jwksServer();
    for (const n of ['1', '2', '3']) jwks.published.set(`/${n}`, [k.jwk]);
    try {
      // An RSA-2048 JWK kept is about 400 bytes: two fit in 1000, three do not.
      const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher(), cacheBytes: 1000 });
      for (const n of ['1', '2', '3']) await verifier.verify(await k.sign(), row({ id: n, jwks_url: `${jwks.base}/${n}` }), AUD);
      assert.equal(verifier.cachedProviders, 2);
      await verifier.verify(await k.sign(), row({ id: '1', jwks_url: `${jwks.base}/1` }), AUD);
      assert.equal(jwks.hits('/1'), 2, 'the oldest was evicted to stay within the byte budget');
    } finally {
      await jwks.close();
    }
  });

  it('refuses tokens without iat, with absurd times, or living or aged beyond the provider\'s max_token_lifetime', async () => {
    const { jwk, privateKey, sign } = await keyPair('ES256', 'k');
    const idp = row({ jwks_json: JSON.stringify({ keys: [jwk] }) });
    const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher() });
    const now = Math.floor(Date.now() / 1000);
    const claims = (times: string) => `{"iss":"${ISSUER}","aud":"${AUD}","email":"a@example.com"${times}}`;
    const cases: [string, string, RegExp][] = [
      ['iat missing', `,"exp":${now + 300}`, /^the token has no iat \(issued at\) claim/],
      ['iat 0, exp far future', `,"iat":0,"exp":32503680000`, /^token was issued more than 24h ago \(iat\), longer than this identity provider allows: sign in again$/],
      ['exp 1e300', `,"iat":${now},"exp":1e300`, /^token lifetime \(exp − iat\) is longer than the 24h this identity provider allows/],
      ['exp 1e400 (Infinity once parsed)', `,"iat":${now},"exp":1e400`, /^token claim exp is not a time in seconds$/],
      ['exp − iat = 25 h', `,"iat":${now},"exp":${now + 25 * 3600}`, /^token lifetime \(exp − iat\) is longer than the 24h/],
      ['age > 24 h', `,"iat":${now - 25 * 3600},"exp":${now + 300}`, /^token was issued more than 24h ago/],
      ['iat negative', `,"iat":-5,"exp":${now + 300}`, /^token claim iat is not a time in seconds$/],
      ['iat a string', `,"iat":"yesterday","exp":${now + 300}`, /^token claim iat is not a time in seconds$/],
      ['exp a string', `,"iat":${now},"exp":"never"`, /^token claim exp is not a time in seconds$/],
      ['iat -1e300', `,"iat":-1e300,"exp":${now + 300}`, /^token claim iat is not a time in seconds$/],
    ];
    for (const [name, times, message] of cases) {
      await assert.rejects(verifier.verify(await rawToken(privateKey, 'k', claims(times)), idp, AUD), (e: Error) => {
        assert.ok(e instanceof TokenRejected, `${name}: ${e}`);
        assert.match(e.message, message, name);
        return true;
      }, name);
    }
    assert.equal((await verifier.verify(await sign(), idp, AUD))['email'], 'a@example.com', 'a normal 5-minute token is accepted');
    assert.equal((await verifier.verify(await rawToken(privateKey, 'k', claims(`,"iat":${now},"exp":${now + 24 * 3600}`)), idp, AUD))['email'], 'a@example.com', 'exactly 24 h is allowed');
    const shorter = row({ ...idp, max_token_lifetime: 3600 });
    await assert.rejects(verifier.verify(await rawToken(privateKey, 'k', claims(`,"iat":${now},"exp":${now + 7200}`)), shorter, AUD), /longer than the 1h this identity provider allows/);
  });

  it('a token with several audiences must have been issued to us (azp); one with a single audience may name another party', async () => {
    const { jwk, privateKey } = await keyPair('ES256', 'k');
    const idp = row({ jwks_json: JSON.stringify({ keys: [jwk] }) });
    const verifier = createJwtVerifier({ clock: systemClock, fetcher: devFetcher() });
    const now = Math.floor(Date.now() / 1000);
    const token = (aud: string, azp?: string) =>
      rawToken(privateKey, 'k', `{"iss":"${ISSUER}","aud":${aud},"email":"a@example.com","iat":${now},"exp":${now + 300}${azp === undefined ? '' : `,"azp":"${azp}"`}}`);
    const refused = /several audiences and was not issued to this application or its provider's client \(azp\)/;
    await assert.rejects(verifier.verify(await token(`["${AUD}","other-client"]`), idp, AUD), refused);
    await assert.rejects(verifier.verify(await token(`["other-client","${AUD}"]`, 'other-client'), idp, AUD), refused);
    assert.equal((await verifier.verify(await token(`["other-client","${AUD}"]`, AUD), idp, AUD))['email'], 'a@example.com');
    assert.equal((await verifier.verify(await token(`["${AUD}"]`, 'android-client'), idp, AUD))['email'], 'a@example.com');
    assert.equal((await verifier.verify(await token(`"${AUD}"`), idp, AUD))['email'], 'a@example.com');
    // Keycloak's audience mapper: issued to the provider's client, with the app's tag beside it.
    const withClient = row({ ...idp, client_id: 'our-client', audiences: '["https://api"]' });
    assert.equal((await verifier.verify(await token(`["our-client","${AUD}"]`, 'our-client'), withClient, AUD))['email'], 'a@example.com');
    assert.equal((await verifier.verify(await token(`["https://api","${AUD}"]`, 'https://api'), withClient, AUD))['email'], 'a@example.com');
    await assert.rejects(verifier.verify(await token(`["our-client","${AUD}"]`, 'their-client'), withClient, AUD), refused);
  });
});
