import type { Clock } from '../platform/clock.ts';
import { ApiError, errors } from '../platform/http/errors.ts';
import { clientKey } from '../platform/client-address.ts';

/** How many clients and credentials are tracked at once; an entry not seen for long has refilled anyway. */
const MAX_TRACKED = 10_000;

/**
 * How the allowance is told, as Cloudflare's API tells its own (developers.cloudflare.com/fundamentals/api/
 * reference/limits, since September 2025): IETF draft-ietf-httpapi-ratelimit-headers' structured fields
 * `Ratelimit: "<policy>";r=<remaining>;t=<seconds until more>` and `Ratelimit-Policy: "<policy>";q=<quota>;
 * w=<window seconds>`, with `retry-after` (whole seconds, rounded up) on a 429 only. The official
 * TypeScript SDK reads none of the Ratelimit fields: it retries 408, 409, 429 and 5xx (unless
 * `x-should-retry: false`) up to maxRetries (2) times, waiting `retry-after-ms`, else `retry-after`
 * (seconds or an HTTP date; v7 with no upper bound, v4 only when under 60 s), else 0.5 s doubling to 8 s
 * with jitter (cloudflare 7.3.0 client.js shouldRetry/retryRequest; cloudflare 4.5.0 core.js). So
 * `retry-after` is what makes it back off, and it is exact here: the time until one more failure is allowed.
 * The policy's name says what it counts; a request consumes a unit only when it is refused.
 */
const POLICY = '"failures"';

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
  /**
   * The client's own allowance as `ratelimit` / `ratelimit-policy` headers, for a refusal the limiter
   * counted but let through; none when the limiter is off. Never a credential's: an email's bucket is
   * shared by whoever names that email, so its count would tell one client of another's failures.
   */
  allowance(address: string): Record<string, string>;
}

type Bucket = { tokens: number; at: number };

/** `perMinute` failures are allowed per client and per credential each minute; 0 turns the limiter off. */
export function createAuthFailureLimiter(perMinute: number, clock: Clock): AuthFailureLimiter {
  const refillPerMs = perMinute / 60_000;
  const policy = { 'ratelimit-policy': `${POLICY};q=${perMinute};w=60` };
  /** Whole seconds until the bucket holds `target` again (at least 1: retry-after is never 0). */
  const secondsUntil = (tokens: number, target: number) => Math.max(1, Math.ceil((target - tokens) / refillPerMs / 1000));
  /** A bucket's content now, refilled since it was last written. */
  const level = (old: Bucket | undefined, now: number) => (old ? Math.min(perMinute, old.tokens + (now - old.at) * refillPerMs) : perMinute);

  function bucket(map: Map<string, Bucket>) {
    return (key: string): number | null => {
      const now = clock.now().getTime();
      const tokens = level(map.get(key), now);
      map.delete(key);
      // Oldest first out: the map is bounded, and a flood of new keys only pushes out quiet ones.
      if (map.size >= MAX_TRACKED) map.delete(map.keys().next().value!);
      if (tokens < 1) {
        map.set(key, { tokens, at: now });
        return secondsUntil(tokens, 1);
      }
      map.set(key, { tokens: tokens - 1, at: now });
      return null;
    };
  }
  // Separate maps, so a flood of made-up credentials cannot push the flooding client out of its own.
  const clientMap = new Map<string, Bucket>();
  const clients = bucket(clientMap);
  const credentials = bucket(new Map());

  return {
    fail(address, credential) {
      if (perMinute <= 0) return null;
      const a = clients(clientKey(address));
      const c = credential === undefined ? null : credentials(credential);
      const wait = Math.max(a ?? 0, c ?? 0);
      // The draft: retry-after should not point earlier than t; here they are the same instant.
      return wait > 0 ? errors.rateLimited(wait, { ratelimit: `${POLICY};r=0;t=${wait}`, ...policy }) : null;
    },
    allowance(address) {
      if (perMinute <= 0) return {};
      // A read only: neither the count nor the bucket's place in the eviction order changes.
      const tokens = level(clientMap.get(clientKey(address)), clock.now().getTime());
      const remaining = Math.floor(tokens);
      // A full bucket gets nothing more, so no time is given (t is optional in the draft).
      const reset = remaining >= perMinute ? '' : `;t=${secondsUntil(tokens, remaining + 1)}`;
      return { ratelimit: `${POLICY};r=${remaining}${reset}`, ...policy };
    },
  };
}
