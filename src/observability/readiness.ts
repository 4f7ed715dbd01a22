import { DEFAULT_MIGRATION_TABLE, sql } from 'kysely';
import type { Db } from '../platform/db/schema.ts';
import { migrationProvider } from '../platform/db/migrations.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { masterKeyMatches } from '../platform/store-runtime.ts';
import type { StoreHealth } from '../platform/db/store-health.ts';
import type { CaKeyToken } from '../signers/ca-key-token.ts';

/** What /readyz checks, in the order it checks them; ca_key_token only on a server with a PKCS#11 token. */
export const READINESS_CHECKS = ['store', 'migrations', 'master_key', 'store_writes', 'ca_key_token'] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];
/** `skipped`: not tried because a check it needs (the store) failed. */
export type CheckOutcome = 'ok' | 'failed' | 'skipped';

export interface ReadinessReport {
  ready: boolean;
  checks: Partial<Record<ReadinessCheck, CheckOutcome>>;
  /** The checks that failed, in order (not those skipped after them); empty when ready. */
  failed: ReadinessCheck[];
  /** Why, for a failed check whose reason is safe to show anyone (the token's: no path, label or PIN). */
  reasons?: Partial<Record<ReadinessCheck, string>>;
}

/** Whether this node can serve: store reachable, schema current, master key the store's. */
export interface Readiness {
  check(): Promise<ReadinessReport>;
  /** The checks this server runs (ca_key_token only with a token). */
  readonly names: readonly ReadinessCheck[];
}

/** The settings row /readyz writes to learn whether the store takes writes again. */
const WRITE_PROBE = 'readyz_write_probe';

/** The settings row that openStoreRuntime seals under the master key (store-runtime.ts). */
const MASTER_KEY_CHECK = 'master_key_check';

/**
 * The migrations this code knows, by name. The set is the same on every engine (only column types
 * differ between them), so the SQLite list names them for both.
 */
export async function codeMigrationNames(): Promise<string[]> {
  return Object.keys(await migrationProvider('sqlite').getMigrations());
}

class CheckTimedOut extends Error {}

/** `work`, or a rejection once `ms` have passed (the work itself is left to finish on its own). */
async function within<T>(ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work(), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new CheckTimedOut()), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness over the store: `select 1`; every code migration recorded in Kysely's migration table; the
 * store's master key check value opens under this vault. Each check has its own deadline, and probes that
 * arrive while one run is under way share it, so a load balancer's polling costs at most three small
 * queries at a time. Reports name checks only, never an error's text (it may hold hosts or paths).
 */
export function createReadiness(deps: {
  db: Db;
  vault: Pick<KeyVault, 'open'>;
  /** The migration names this code expects to find applied. */
  expectedMigrations: readonly string[];
  /** Deadline of each check, in milliseconds. */
  timeoutMs?: number;
  /** What requests have seen of the store: after a failed write, readiness fails until a write succeeds. */
  health?: Pick<StoreHealth, 'state' | 'wrote'>;
  /** The server's PKCS#11 token (`serve --pkcs11-*`): checked, with its reason, only when there is one. */
  token?: Pick<CaKeyToken, 'check'> | undefined;
}): Readiness {
  const { db, vault, expectedMigrations, health, token } = deps;
  const checksHere = READINESS_CHECKS.filter((name) => name !== 'ca_key_token' || token);
  const reasons: Partial<Record<ReadinessCheck, string>> = {};
  const timeoutMs = deps.timeoutMs ?? 1000;

  const probes: Record<ReadinessCheck, () => Promise<boolean>> = {
    store: async () => {
      await sql`select 1`.execute(db);
      return true;
    },
    migrations: async () => {
      const rows = await sql<{ name: string }>`select name from ${sql.table(DEFAULT_MIGRATION_TABLE)}`.execute(db);
      const applied = new Set(rows.rows.map((r) => r.name));
      return expectedMigrations.every((name) => applied.has(name));
    },
    master_key: async () => {
      const row = await db.selectFrom('settings').select('value').where('name', '=', MASTER_KEY_CHECK).executeTakeFirst();
      return row !== undefined && masterKeyMatches(vault, row.value);
    },
    // Healthy: nothing to do. In an outage (a full disk still answers reads), one small write tells
    // whether writes work again; if it commits, the outage is over for every request too.
    store_writes: async () => {
      if (!health || health.state().healthy) return true;
      await db.insertInto('settings').values({ name: WRITE_PROBE, value: new Date().toISOString() })
        .onConflict((oc) => oc.column('name').doUpdateSet({ value: new Date().toISOString() })).execute();
      health.wrote();
      return true;
    },
    // Sealed-key CAs sign without it, but a node whose token cannot sign is not ready for every CA.
    ca_key_token: async () => {
      const problem = await token!.check();
      if (problem) reasons.ca_key_token = problem.reason;
      return problem === null;
    },
  };

  async function run(): Promise<ReadinessReport> {
    const checks: Partial<Record<ReadinessCheck, CheckOutcome>> = {};
    delete reasons.ca_key_token;
    for (const name of checksHere) {
      // store_writes and the token stand alone: what they say does not depend on select 1 now.
      if (name !== 'store' && name !== 'store_writes' && name !== 'ca_key_token' && checks.store !== 'ok') {
        checks[name] = 'skipped';
        continue;
      }
      const passed = await within(timeoutMs, probes[name]).catch(() => false);
      checks[name] = passed ? 'ok' : 'failed';
    }
    const failed = checksHere.filter((name) => checks[name] === 'failed');
    const report: ReadinessReport = { ready: checksHere.every((name) => checks[name] === 'ok'), checks, failed };
    return Object.keys(reasons).length > 0 ? { ...report, reasons: { ...reasons } } : report;
  }

  let running: Promise<ReadinessReport> | undefined;
  return {
    names: checksHere,
    check() {
      running ??= run().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}
