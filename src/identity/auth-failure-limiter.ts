import type { Clock } from '../platform/clock.ts';
import { ApiError, errors } from '../platform/http/errors.ts';
import { clientKey } from '../platform/client-address.ts';

/** How many clients and credentials are tracked at once; an entry not seen for long has refilled anyway. */
const MAX_TRACKED = 10_000;

/**
 * Slows down credential guessing and id probing without letting one client lock out another. Failures
 * are counted per client (an IPv4 address, or an IPv6 /64, the block one host is given) and per presented
 * credential, each in a bucket that refills over a minute. The limit is looked at only after a request
 * has failed: a valid credential is never refused because of anyone's failures, and a client over its
 * allowance gets 429 instead of the refusal it would have had.
 */
export interface AuthFailureLimiter {
  /** Records one failure for the client and the credential (if any); returns the 429 to send when either is out of attempts. */
  fail(address: string, credential?: string): ApiError | null;
}

/** `perMinute` failures are allowed per client and per credential each minute; 0 turns the limiter off. */
export function createAuthFailureLimiter(perMinute: number, clock: Clock): AuthFailureLimiter {
  const refillPerMs = perMinute / 60_000;

  function bucket(map: Map<string, { tokens: number; at: number }>) {
    return (key: string): number | null => {
      const now = clock.now().getTime();
      const old = map.get(key);
      const tokens = old ? Math.min(perMinute, old.tokens + (now - old.at) * refillPerMs) : perMinute;
      map.delete(key);
      // Oldest first out: the map is bounded, and a flood of new keys only pushes out quiet ones.
      if (map.size >= MAX_TRACKED) map.delete(map.keys().next().value!);
      if (tokens < 1) {
        map.set(key, { tokens, at: now });
        return Math.max(1, Math.ceil((1 - tokens) / refillPerMs / 1000));
      }
      map.set(key, { tokens: tokens - 1, at: now });
      return null;
    };
  }
  // Separate maps, so a flood of made-up credentials cannot push the flooding client out of its own.
  const clients = bucket(new Map());
  const credentials = bucket(new Map());

  return {
    fail(address, credential) {
      if (perMinute <= 0) return null;
      const a = clients(clientKey(address));
      const c = credential === undefined ? null : credentials(credential);
      const wait = Math.max(a ?? 0, c ?? 0);
      return wait > 0 ? errors.rateLimited(wait) : null;
    },
  };
}
