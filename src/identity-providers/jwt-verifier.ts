import { createHash, createPublicKey } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { errors as joseErrors } from 'jose';
import type { Clock } from '../platform/clock.ts';
import { formatGoDuration } from '../platform/go-duration.ts';
import { JwksFetchError, type JwksDocument, type JwksFetcher } from './jwks-fetch.ts';
import type { IdpRow } from './identity-providers-store.ts';

export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
/** Seconds of clock skew forgiven on exp, nbf and iat. */
export const CLOCK_TOLERANCE_S = 30;
/** The column's default, used should a row ever hold something that is not a positive number. */
const FALLBACK_MAX_TOKEN_LIFETIME_S = 86_400;

/** Providers whose key sets stay in memory, and their total size: real key sets are a few KiB. */
export const KEY_SET_CACHE_ENTRIES = 1_000;
export const KEY_SET_CACHE_BYTES = 16 * 1024 * 1024;
/** A remote key set is fetched again after this long, or when a token names a kid it lacks… */
const KEY_SET_MAX_AGE_MS = 600_000;
/** …but at most once per provider in this long, so tokens naming made-up kids cannot make us fetch in a loop. */
const REFETCH_COOLDOWN_MS = 10_000;

/** A token refused; the message tells the person what to do about it. */
export class TokenRejected extends Error {
  override name = 'TokenRejected';
}

/**
 * The provider's keys cannot be had, so no token of it can be verified: not the person's fault (it never
 * counts against them). `transient`: the provider did not answer, and trying again later may work;
 * otherwise the provider's entry or this server's settings must change, and the message says which.
 */
export class ProviderKeysUnavailable extends TokenRejected {
  override name = 'ProviderKeysUnavailable';
  constructor(readonly transient: boolean, message: string) {
    super(message);
  }
}

const DEVELOPMENT_HINT = 'for development only, serve --allow-private-idp (or ACCESS_CA_ALLOW_PRIVATE_IDP=1) allows it';

/**
 * What the person is told when a provider's keys could not be fetched: one of three kinds, never the
 * details (the log has them, for the operator), so a token cannot be used to map a network. The provider
 * did not answer (try again); it is on an address or scheme this server does not fetch (the development
 * flag); or it answered with no usable key set (the administrator's to fix).
 */
export function keysUnavailable(failure: JwksFetchError | undefined): ProviderKeysUnavailable {
  const lead = 'the identity provider\'s keys could not be fetched';
  const kind = failure?.failure;
  if (kind === undefined || kind === 'unreachable' || kind === 'timeout' || (kind === 'http-status' && /HTTP (5\d\d|429)\b/.test(failure!.message))) {
    return new ProviderKeysUnavailable(true, `${lead}: the provider did not answer; try again shortly`);
  }
  if (kind === 'private-address' || kind === 'bad-url') {
    return new ProviderKeysUnavailable(false, `${lead}: its JWKS URL is on a private, loopback or link-local address or is not https, which this server does not fetch (${DEVELOPMENT_HINT}); tell the server's administrator`);
  }
  return new ProviderKeysUnavailable(false, `${lead}: its JWKS URL does not serve a usable key set; tell the server's administrator (the server's log says why)`);
}

/** Reads a JWT's header and claims without trusting them, to find which app and provider it is for. */
export function peekJwt(jwt: string): { alg: string; payload: JWTPayload } {
  try {
    const { alg } = decodeProtectedHeader(jwt);
    const payload = decodeJwt(jwt);
    if (typeof alg !== 'string') throw new Error('no alg');
    if (!JWT_ALGORITHMS.includes(alg)) throw new TokenRejected(`token algorithm ${alg.slice(0, 20)} is not accepted (use ${JWT_ALGORITHMS.join(', ')})`);
    return { alg, payload };
  } catch (error) {
    if (error instanceof TokenRejected) throw error;
    throw new TokenRejected('the token is not a well-formed JWT');
  }
}

// What each key type can verify among JWT_ALGORITHMS, and the public members kept of it.
const KEY_TYPES: Record<string, { alg: string; curves?: string[]; members: string[] }> = {
  RSA: { alg: 'RS256', members: ['n', 'e'] },
  EC: { alg: 'ES256', curves: ['P-256'], members: ['crv', 'x', 'y'] },
  OKP: { alg: 'EdDSA', curves: ['Ed25519', 'Ed448'], members: ['crv', 'x'] },
};
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * The keys of a JWKS that can verify an accepted token — public signing keys of an accepted type, RSA
 * of 2048 bits or more — each cut down to its public members, so what is cached is small and nothing
 * else a document carries is kept.
 */
export function usableKeys(doc: JwksDocument): JWK[] {
  const usable: JWK[] = [];
  for (const jwk of doc.keys) {
    const type = typeof jwk['kty'] === 'string' ? KEY_TYPES[jwk['kty']] : undefined;
    if (!type || PRIVATE_MEMBERS.some((m) => m in jwk)) continue;
    if (jwk['use'] !== undefined && jwk['use'] !== 'sig') continue;
    if (jwk['alg'] !== undefined && jwk['alg'] !== type.alg) continue;
    if (jwk['key_ops'] !== undefined && !(Array.isArray(jwk['key_ops']) && jwk['key_ops'].includes('verify'))) continue;
    if (type.curves && !type.curves.includes(jwk['crv'] as string)) continue;
    if (jwk['kid'] !== undefined && (typeof jwk['kid'] !== 'string' || jwk['kid'].length > 256)) continue;
    const kept: JWK = { kty: jwk['kty'] as string, ...(jwk['kid'] === undefined ? {} : { kid: jwk['kid'] as string }), alg: type.alg };
    for (const member of type.members) (kept as Record<string, unknown>)[member] = jwk[member];
    try {
      const key = createPublicKey({ key: kept as never, format: 'jwk' });
      if (jwk['kty'] === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
    } catch {
      continue;
    }
    usable.push(kept);
  }
  return usable;
}

function explain(error: unknown): TokenRejected {
  if (error instanceof TokenRejected) return error;
  if (error instanceof JwksFetchError) return keysUnavailable(error);
  if (error instanceof joseErrors.JWTExpired) return new TokenRejected('token expired: sign in again');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iat' && error.reason === 'missing') {
      return new TokenRejected('the token has no iat (issued at) claim: the identity provider must say when it issued the token');
    }
    if (['iat', 'exp', 'nbf'].includes(error.claim) && error.reason === 'invalid') return new TokenRejected(`token claim ${error.claim} is not a time in seconds`);
    if (error.claim === 'exp' && error.reason === 'missing') return new TokenRejected('the token has no exp (expiry) claim');
    if (error.claim === 'nbf') return new TokenRejected('token is not valid yet: check this machine\'s clock');
    if (error.claim === 'aud') return new TokenRejected('token is for another application (audience does not match)');
    if (error.claim === 'iss') return new TokenRejected('token issuer does not match the identity provider');
    return new TokenRejected(`token claim ${error.claim} is invalid`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenRejected('token signature does not verify');
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new TokenRejected('token was signed by a key the identity provider does not publish');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejected('token algorithm is not accepted');
  return new TokenRejected('token could not be verified');
}

/**
 * The times a token states, beyond what jose checks: all finite, issued in the past, and neither older
 * nor longer-lived than the provider allows (a token "valid until the year 3000" is refused).
 */
function checkTimes(payload: JWTPayload, idp: IdpRow, now: Date): void {
  for (const claim of ['exp', 'iat', 'nbf'] as const) {
    const value = payload[claim];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      throw new TokenRejected(`token claim ${claim} is not a time in seconds`);
    }
  }
  const nowS = now.getTime() / 1000;
  const iat = payload.iat!;
  const exp = payload.exp!;
  const configured = Number(idp.max_token_lifetime);
  const max = Number.isFinite(configured) && configured > 0 ? configured : FALLBACK_MAX_TOKEN_LIFETIME_S;
  if (iat > nowS + CLOCK_TOLERANCE_S) throw new TokenRejected('token was issued in the future: check the identity provider\'s clock');
  if (nowS - iat > max + CLOCK_TOLERANCE_S) {
    throw new TokenRejected(`token was issued more than ${formatGoDuration(max)} ago (iat), longer than this identity provider allows: sign in again`);
  }
  if (exp - iat > max) {
    throw new TokenRejected(`token lifetime (exp − iat) is longer than the ${formatGoDuration(max)} this identity provider allows: `
      + 'its administrator should shorten the provider\'s token lifetime or raise max_token_lifetime');
  }
}

/**
 * OpenID Connect Core §3.1.3.7: a token with several audiences names the party it was issued to in `azp`,
 * and that party must be one of ours: the audience verified, the provider's client or an audience the
 * provider entry lists (a Keycloak audience mapper: aud [client, app tag], azp client). Without it, any
 * other client named beside us could replay its token here. A token with one audience may carry another
 * `azp` (Google's cross-client tokens): its audience is us alone.
 */
function checkAuthorizedParty(payload: JWTPayload, idp: IdpRow, audience: string): void {
  const auds = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (auds.length <= 1) return;
  const azp = payload['azp'];
  const ours = azp === audience || (typeof azp === 'string' && (azp === idp.client_id || (JSON.parse(idp.audiences) as string[]).includes(azp)));
  if (!ours) throw new TokenRejected('token names several audiences and was not issued to this application or its provider\'s client (azp): it may be another client\'s');
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * The version of a provider's key set: a hash of what it is made from — the inline JWKS, or the
 * provider and its URL — so any change to the keys or where they come from changes it. (A timestamp
 * would not: two updates within one second share it.)
 */
function revisionOf(idp: IdpRow): string {
  return idp.jwks_json !== null ? sha256(`inline\n${idp.jwks_json}`) : sha256(`remote\n${idp.id}\n${idp.jwks_url}`);
}

interface KeySet {
  revision: string;
  /** null: the last fetch failed and there is nothing fresh to fall back on. */
  keys: JWTVerifyGetKey | null;
  /** When the keys were fetched or built (ms, from the clock); they are fetched again after the maximum age. */
  fetchedAt: number;
  /** When a fetch was last tried, whatever came of it: the cooldown runs from here. */
  triedAt: number;
  /** Its share of the cache's byte budget: the length of the keys kept. */
  bytes: number;
  /** Why the last fetch failed, when `keys` is null: what the person is told. */
  failure?: JwksFetchError | undefined;
}

/** Least recently used first out, bounded by entries and by total bytes. */
function createKeySetCache(maxEntries: number, maxBytes: number) {
  const map = new Map<string, KeySet>();
  let bytes = 0;
  const remove = (id: string) => {
    const old = map.get(id);
    if (old) bytes -= old.bytes;
    map.delete(id);
  };
  return {
    get(id: string): KeySet | undefined {
      const entry = map.get(id);
      if (entry) {
        map.delete(id);
        map.set(id, entry);
      }
      return entry;
    },
    set(id: string, entry: KeySet): void {
      remove(id);
      map.set(id, entry);
      bytes += entry.bytes;
      for (const oldest of map.keys()) {
        if (map.size <= maxEntries && bytes <= maxBytes) break;
        if (oldest === id) break;
        remove(oldest);
      }
    },
    delete: remove,
    get size() {
      return map.size;
    },
  };
}

export interface JwtVerifierDeps {
  clock: Clock;
  /** How remote key sets are fetched: the guarded fetcher, which decides which addresses may be reached. */
  fetcher: JwksFetcher;
  refetchCooldownMs?: number;
  maxAgeMs?: number;
  cacheEntries?: number;
  cacheBytes?: number;
  /** Told why a provider's keys could not be fetched (the person only learns that they could not). */
  onFetchFailure?: (idpId: string, error: JwksFetchError) => void;
}

/**
 * Verifies JWTs against providers' key sets. Key sets are cached per provider, versioned by a content
 * hash, in a bounded LRU; a remote set is fetched again when it is 10 minutes old or a token names a kid
 * it lacks, at most once per cooldown per provider, and a failed fetch is not retried within it either.
 */
export function createJwtVerifier(deps: JwtVerifierDeps) {
  const cooldown = deps.refetchCooldownMs ?? REFETCH_COOLDOWN_MS;
  const maxAge = deps.maxAgeMs ?? KEY_SET_MAX_AGE_MS;
  const cache = createKeySetCache(deps.cacheEntries ?? KEY_SET_CACHE_ENTRIES, deps.cacheBytes ?? KEY_SET_CACHE_BYTES);
  // One fetch at a time per provider and revision: a burst of tokens shares it.
  const inflight = new Map<string, Promise<KeySet>>();
  const nowMs = () => deps.clock.now().getTime();

  function build(revision: string, doc: JwksDocument): KeySet {
    const keys = usableKeys(doc);
    const at = nowMs();
    return { revision, keys: createLocalJWKSet({ keys }), fetchedAt: at, triedAt: at, bytes: JSON.stringify(keys).length };
  }

  /** Fetches a provider's set; a failure keeps `previous` while it is fresh, and starts the cooldown either way. */
  function fetchSet(idp: IdpRow, revision: string, previous: KeySet | undefined): Promise<KeySet> {
    const flight = `${idp.id}\n${revision}`;
    let pending = inflight.get(flight);
    if (!pending) {
      pending = deps.fetcher.fetch(idp.jwks_url!).then(
        (doc) => build(revision, doc),
        (error: unknown) => {
          if (error instanceof JwksFetchError) deps.onFetchFailure?.(idp.id, error);
          const at = nowMs();
          const fresh = previous?.keys && previous.revision === revision && at - previous.fetchedAt < maxAge;
          const failure = error instanceof JwksFetchError ? error : undefined;
          return fresh ? { ...previous, triedAt: at } : { revision, keys: null, fetchedAt: 0, triedAt: at, bytes: 0, failure };
        },
      ).then((set) => {
        cache.set(idp.id, set);
        return set;
      }).finally(() => inflight.delete(flight));
      inflight.set(flight, pending);
    }
    return pending;
  }

  async function keySet(idp: IdpRow): Promise<KeySet> {
    const revision = revisionOf(idp);
    const cached = cache.get(idp.id);
    if (idp.jwks_json !== null) {
      if (cached?.revision === revision) return cached;
      const set = build(revision, JSON.parse(idp.jwks_json) as JwksDocument);
      cache.set(idp.id, set);
      return set;
    }
    if (cached?.revision === revision) {
      const now = nowMs();
      if (cached.keys ? now - cached.fetchedAt < maxAge : now - cached.triedAt < cooldown) return cached;
    }
    return fetchSet(idp, revision, cached);
  }

  async function verifyWith(jwt: string, idp: IdpRow, options: Parameters<typeof jwtVerify>[2]): Promise<JWTPayload> {
    const set = await keySet(idp);
    if (!set.keys) throw keysUnavailable(set.failure);
    try {
      return (await jwtVerify(jwt, set.keys, options)).payload;
    } catch (error) {
      // Key rotation at the provider: a kid we do not hold is worth one more look, once per cooldown.
      const retry = idp.jwks_json === null && error instanceof joseErrors.JWKSNoMatchingKey && nowMs() - set.triedAt >= cooldown;
      if (!retry) throw error;
    }
    const fresh = await fetchSet(idp, set.revision, set);
    if (fresh.triedAt !== fresh.fetchedAt || !fresh.keys) throw keysUnavailable(fresh.failure);
    return (await jwtVerify(jwt, fresh.keys, options)).payload;
  }

  return {
    /** Verifies signature, issuer, audience and times; returns the claims. Throws TokenRejected. */
    async verify(jwt: string, idp: IdpRow, audience: string): Promise<JWTPayload> {
      const now = deps.clock.now();
      let payload: JWTPayload;
      try {
        payload = await verifyWith(jwt, idp, {
          issuer: idp.issuer, audience, algorithms: JWT_ALGORITHMS, clockTolerance: CLOCK_TOLERANCE_S, currentDate: now, requiredClaims: ['exp', 'iat'],
        });
      } catch (error) {
        throw explain(error);
      }
      checkTimes(payload, idp, now);
      checkAuthorizedParty(payload, idp, audience);
      return payload;
    },
    /**
     * For claims verified earlier and remembered: the same time checks a fresh verify makes (exp and nbf
     * with the clock tolerance, then checkTimes), so a remembered token expires exactly when it would.
     */
    checkStillValid(payload: JWTPayload, idp: IdpRow): void {
      const now = deps.clock.now();
      const nowS = Math.floor(now.getTime() / 1000);
      if (typeof payload.exp !== 'number' || payload.exp <= nowS - CLOCK_TOLERANCE_S) throw new TokenRejected('token expired: sign in again');
      if (typeof payload.nbf === 'number' && payload.nbf > nowS + CLOCK_TOLERANCE_S) throw new TokenRejected('token is not valid yet: check this machine\'s clock');
      checkTimes(payload, idp, now);
    },
    /** Drops a provider's cached keys: it was changed or removed. */
    forget(idpId: string): void {
      cache.delete(idpId);
    },
    /** How many providers' key sets are held (for tests and metrics). */
    get cachedProviders(): number {
      return cache.size;
    },
  };
}

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
