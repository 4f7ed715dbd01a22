import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { peekJwt } from '../identity-providers/jwt-verifier.ts';
import { lruMemo } from '../platform/lru-memo.ts';

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
  /** Throws TokenRejected for a token that is not a well-formed JWT of an accepted algorithm. */
  const peek = lruMemo((jwt: string): TokenPeek => {
    const { payload } = peekJwt(jwt);
    return Object.freeze({
      iss: typeof payload.iss === 'string' ? payload.iss : undefined,
      auds: Object.freeze(audiencesOf(payload)),
      digest: createHash('sha256').update(jwt).digest('base64url'),
    });
  }, { maxEntries: options.maxEntries ?? 1_000, maxInputLength: options.maxTokenLength ?? 8_192 });
  return { peek };
}
