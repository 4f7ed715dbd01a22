import { randomBytes, randomFillSync, randomUUID } from 'node:crypto';

/** The one source of identifiers and secrets, all from the OS CSPRNG. */
export interface Random {
  hex(bytes: number): string;
  /**
   * A record's id: 32 hex digits, the first 12 the current millisecond and the other 20 random (80 bits).
   * Ids that grow with time are appended to the store's indexes instead of touching a random page each:
   * for the rows written on every request (certificates, audit events).
   */
  recordId(): string;
  /**
   * A certificate serial for a certificate made at `nowMs`: the millisecond in the top 42 bits (until the
   * year 2109), 22 random bits below. Serials that grow with time are appended to the per-CA serial
   * index, as record ids are; two in one millisecond can collide (1 in 4 million), so a caller retries
   * with a fresh one when the store refuses a duplicate.
   */
  serial(nowMs: number): bigint;
  uuid(): string;
  /** A bearer secret of `bytes` random bytes, base64url (no padding). */
  secret(bytes: number): string;
}

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let used = POOL_SIZE;

/**
 * Random bytes for values that are public once made (ids, certificate nonces and serials), drawn from the
 * CSPRNG a pool at a time: each draw into OpenSSL costs several microseconds, and a certificate needs
 * four. Each byte is handed out once and zeroed in the pool. Secrets never come from here.
 */
export function publicRandomBytes(n: number): Buffer {
  if (n > POOL_SIZE / 8) return randomBytes(n);
  if (used + n > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.from(pool.subarray(used, used + n));
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

export function recordId(now = Date.now()): string {
  return now.toString(16).padStart(12, '0').slice(-12) + publicRandomBytes(10).toString('hex');
}

const SERIAL_RANDOM_BITS = 22n;

export function certSerial(nowMs: number): bigint {
  const ms = BigInt(Math.floor(nowMs)) & ((1n << (64n - SERIAL_RANDOM_BITS)) - 1n);
  for (;;) {
    const serial = (ms << SERIAL_RANDOM_BITS) | BigInt(publicRandomBytes(3).readUIntBE(0, 3) >>> 2);
    // Zero is avoided: some tools read serial 0 as "no serial".
    if (serial !== 0n) return serial;
  }
}

export const cryptoRandom: Random = {
  // Some hex values are secrets (the Global API key): never from the pool.
  hex: (bytes) => randomBytes(bytes).toString('hex'),
  recordId: () => recordId(),
  serial: (nowMs) => certSerial(nowMs),
  uuid: () => randomUUID(),
  secret: (bytes) => randomBytes(bytes).toString('base64url'),
};
