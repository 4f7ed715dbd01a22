import type { Clock } from '../platform/clock.ts';
import { errors } from '../platform/http/errors.ts';

const MAX_TRACKED = 10_000;

/**
 * Slows down credential guessing and id probing: each client address has a bucket of failed
 * authentications that refills over a minute; an empty bucket answers 429 until it refills.
 */
export interface AuthFailureLimiter {
  /** Throws 429 10429 while the address is out of attempts. */
  check(address: string): void;
  /** Records one failed authentication or authorization from the address. */
  fail(address: string): void;
}

/** `perMinute` failures are allowed per address and minute; 0 turns the limiter off. */
export function createAuthFailureLimiter(perMinute: number, clock: Clock): AuthFailureLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refillPerMs = perMinute / 60_000;

  function current(address: string) {
    const now = clock.now().getTime();
    const b = buckets.get(address);
    if (!b) return { tokens: perMinute, at: now };
    return { tokens: Math.min(perMinute, b.tokens + (now - b.at) * refillPerMs), at: now };
  }

  return {
    check(address) {
      if (perMinute <= 0) return;
      const b = current(address);
      if (b.tokens < 1) throw errors.rateLimited(Math.max(1, Math.ceil((1 - b.tokens) / refillPerMs / 1000)));
    },
    fail(address) {
      if (perMinute <= 0) return;
      const b = current(address);
      b.tokens = Math.max(0, b.tokens - 1);
      buckets.delete(address);
      buckets.set(address, b);
      // Oldest first: an address not seen for long has refilled anyway.
      if (buckets.size > MAX_TRACKED) buckets.delete(buckets.keys().next().value!);
    },
  };
}
