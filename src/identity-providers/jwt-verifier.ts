import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { errors as joseErrors } from 'jose';
import type { Clock } from '../platform/clock.ts';
import type { IdpRow } from './identity-providers-store.ts';

export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
/** Seconds of clock skew forgiven on exp, nbf and iat. */
export const CLOCK_TOLERANCE_S = 30;

/** A token refused; the message tells the person what to do about it. */
export class TokenRejected extends Error {
  override name = 'TokenRejected';
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

function explain(error: unknown): TokenRejected {
  if (error instanceof joseErrors.JWTExpired) return new TokenRejected('token expired: sign in again');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new TokenRejected('token is not valid yet: check this machine\'s clock');
    if (error.claim === 'aud') return new TokenRejected('token is for another application (audience does not match)');
    if (error.claim === 'iss') return new TokenRejected('token issuer does not match the identity provider');
    return new TokenRejected(`token claim ${error.claim} is invalid`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenRejected('token signature does not verify');
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new TokenRejected('token was signed by a key the identity provider does not publish');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejected('token algorithm is not accepted');
  // A fetch that fails outright (refused, DNS) surfaces as a TypeError from fetch.
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error instanceof TypeError) {
    return new TokenRejected('the identity provider\'s keys could not be fetched; try again');
  }
  return new TokenRejected('token could not be verified');
}

/**
 * Verifies JWTs against providers' JWKS. Remote key sets are cached per URL and refetched when a token
 * names an unknown `kid` (jose's cooldown bounds how often); inline key sets are keyed by row version.
 */
export function createJwtVerifier(deps: { clock: Clock; fetchTimeoutMs?: number; refetchCooldownMs?: number }) {
  const remote = new Map<string, JWTVerifyGetKey>();
  const local = new Map<string, { version: string; keys: JWTVerifyGetKey }>();

  function keySet(idp: IdpRow): JWTVerifyGetKey {
    if (idp.jwks_json !== null) {
      const cached = local.get(idp.id);
      if (cached && cached.version === idp.updated_at + idp.jwks_json.length) return cached.keys;
      const keys = createLocalJWKSet(JSON.parse(idp.jwks_json));
      local.set(idp.id, { version: idp.updated_at + idp.jwks_json.length, keys });
      return keys;
    }
    const url = idp.jwks_url!;
    let keys = remote.get(url);
    if (!keys) {
      keys = createRemoteJWKSet(new URL(url), { timeoutDuration: deps.fetchTimeoutMs ?? 5000, cooldownDuration: deps.refetchCooldownMs ?? 10_000, cacheMaxAge: 600_000 });
      remote.set(url, keys);
    }
    return keys;
  }

  return {
    /** Verifies signature, issuer, audience and times; returns the claims. Throws TokenRejected. */
    async verify(jwt: string, idp: IdpRow, audience: string): Promise<JWTPayload> {
      const now = deps.clock.now();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(jwt, keySet(idp), {
          issuer: idp.issuer, audience, algorithms: JWT_ALGORITHMS, clockTolerance: CLOCK_TOLERANCE_S, currentDate: now, requiredClaims: ['exp'],
        }));
      } catch (error) {
        throw explain(error);
      }
      if (typeof payload.iat === 'number' && payload.iat > now.getTime() / 1000 + CLOCK_TOLERANCE_S) {
        throw new TokenRejected('token was issued in the future: check the identity provider\'s clock');
      }
      return payload;
    },
  };
}

export type JwtVerifier = ReturnType<typeof createJwtVerifier>;
