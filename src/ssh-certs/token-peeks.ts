import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { peekJwt } from '../identity-providers/jwt-verifier.ts';

/** What `cert_sign` reads from a token before verifying it: where to look, never whom to trust. */
export interface TokenPeek {
  readonly iss: string | undefined;
  readonly auds: readonly string[];
  /** SHA-256 of the token's bytes (base64url): its key among verified tokens. */
  readonly digest: string;
}

const audiencesOf = (payload: JWTPayload): string[] =>
  typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a) => typeof a === 'string') : [];

/**
 * Decoding a token's header and claims and hashing its bytes, remembered by the token itself: cloudflared
 * sends one token on every `cert_sign` until it expires. Nothing here is trusted (the token is verified,
 * or found among verified ones by `digest`, after), so sharing it across accounts leaks nothing; bounded
 * in entries and in token length, least recently used out. A malformed token is never remembered.
 */
export function createTokenPeeks(options: { maxEntries?: number; maxTokenLength?: number } = {}) {
  const maxEntries = options.maxEntries ?? 1_000;
  const maxLength = options.maxTokenLength ?? 8_192;
  const seen = new Map<string, TokenPeek>();
  return {
    /** Throws TokenRejected for a token that is not a well-formed JWT of an accepted algorithm. */
    peek(jwt: string): TokenPeek {
      const hit = seen.get(jwt);
      if (hit) {
        // Least recently used out: a token in use stays while others pass through.
        seen.delete(jwt);
        seen.set(jwt, hit);
        return hit;
      }
      const { payload } = peekJwt(jwt);
      const peeked: TokenPeek = Object.freeze({
        iss: typeof payload.iss === 'string' ? payload.iss : undefined,
        auds: Object.freeze(audiencesOf(payload)),
        digest: createHash('sha256').update(jwt).digest('base64url'),
      });
      if (jwt.length <= maxLength) {
        seen.set(jwt, peeked);
        if (seen.size > maxEntries) seen.delete(seen.keys().next().value!);
      }
      return peeked;
    },
  };
}
