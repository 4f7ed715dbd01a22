import { PostgresAdapter, sql } from 'kysely';
import type { Database, Db } from './schema.ts';
import { hostOfDomain } from '../hostnames.ts';

/** Every table an export carries, parents before children, so an import never breaks a foreign key. */
export const TRANSFER_TABLES = [
  'accounts', 'zones', 'users', 'account_members', 'api_tokens', 'api_token_permissions', 'access_apps',
  'ssh_cas', 'ssh_ca_keys', 'identity_providers', 'ssh_cert_policies', 'ssh_certificates', 'audit_events',
  'access_groups', 'access_policies', 'access_app_policies', 'ssh_revocations', 'ssh_revoked_keys', 'ssh_krl_versions',
  'infrastructure_targets', 'host_join_tokens', 'host_enrollments', 'host_cas', 'host_ca_keys', 'host_revoked_keys',
] as const satisfies readonly (keyof Database)[];

export type TransferTable = (typeof TRANSFER_TABLES)[number];
type Table = TransferTable;

/** Tables added after the first export format: an older export is read with them empty. */
const LATER_TABLES: readonly Table[] = [
  'access_groups', 'access_policies', 'access_app_policies', 'ssh_revocations', 'ssh_revoked_keys', 'ssh_krl_versions',
  'infrastructure_targets', 'host_join_tokens', 'host_enrollments', 'host_cas', 'host_ca_keys', 'host_revoked_keys',
];

/** A whole deployment: rows as they are stored, sealed keys still sealed under the same master key. */
export interface StoreExport {
  format: 'access-ca-export';
  version: 1;
  exported_at: string;
  /** The source store's master key check, so an import can prove it holds the same master key. */
  master_key_check: string;
  tables: Record<Table, Record<string, unknown>[]>;
  /**
   * Each account's fleet revision: hosts hold the version they last enforced and refuse an older one, so
   * an import carries it forward instead of restarting it from the rows' count. Absent in older exports.
   */
  fleet_revisions?: Record<string, number>;
}

export class TransferError extends Error {
  override name = 'TransferError';
}

const B64 = '$base64';

/** Bytes become `{"$base64": "…"}` so the document is plain JSON. */
function encodeRow(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Uint8Array ? { [B64]: Buffer.from(v).toString('base64') } : v]));
}

function decodeRow(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([k, v]) => {
    if (v && typeof v === 'object' && B64 in v) return [k, Buffer.from(String((v as Record<string, unknown>)[B64]), 'base64')];
    return [k, v];
  }));
}

/**
 * Reads every table in one read-only snapshot, so the export is one consistent point in time while
 * servers keep writing: no child row without its parent (which would break the import's foreign keys),
 * no revocation without its certificate. PostgreSQL's default, read committed, gives each statement a
 * snapshot of its own: the transaction asks for repeatable read. A SQLite read transaction holds its
 * snapshot from its first read, and takes no write lock. `afterTable` lets a test write between two
 * tables' reads.
 */
export async function exportStore(db: Db, at: Date, hooks: { afterTable?: (table: Table) => Promise<void> } = {}): Promise<StoreExport> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  // Read only: on SQLite a deferred transaction, which takes no write lock (database.ts), so servers on
  // the same file keep writing while a large store is exported.
  const readOnly = db.transaction().setAccessMode('read only');
  return (postgres ? readOnly.setIsolationLevel('repeatable read') : readOnly).execute(async (trx) => {
    const check = await trx.selectFrom('settings').select('value').where('name', '=', 'master_key_check').executeTakeFirst();
    if (!check) throw new TransferError('the store has no master key check; run any verb on it once');
    const tables = {} as StoreExport['tables'];
    for (const table of TRANSFER_TABLES) {
      const rows = await trx.selectFrom(table).selectAll().execute();
      tables[table] = (rows as Record<string, unknown>[]).map(encodeRow);
      await hooks.afterTable?.(table);
    }
    const fleet = await trx.selectFrom('fleet_revisions').select(['account_id', 'revision']).execute();
    const fleetRevisions = Object.fromEntries(fleet.map((r) => [r.account_id, Number(r.revision)]));
    return { format: 'access-ca-export', version: 1, exported_at: at.toISOString(), master_key_check: check.value, tables, fleet_revisions: fleetRevisions };
  });
}

/** Checks that a parsed file is an export this version reads. */
export function checkExport(doc: unknown): StoreExport {
  const d = doc as Partial<StoreExport>;
  if (d?.format !== 'access-ca-export') throw new TransferError('not an access-ca export (format field missing)');
  if (d.version !== 1) throw new TransferError(`export version ${String(d.version)} is not one this release reads`);
  if (typeof d.master_key_check !== 'string' || !d.tables || typeof d.tables !== 'object') throw new TransferError('the export is incomplete');
  for (const t of TRANSFER_TABLES) {
    // An export made before a table existed simply has none of its rows.
    if (d.tables[t] === undefined && LATER_TABLES.includes(t)) d.tables[t] = [];
    if (!Array.isArray(d.tables[t])) throw new TransferError(`the export has no ${t} table`);
  }
  return d as StoreExport;
}

/** True when the store holds any account (a served store always does). */
export async function storeIsEmpty(db: Db): Promise<boolean> {
  return (await db.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) === undefined;
}

/** Writes every row in one transaction: all of it lands, or none of it. Returns rows per table. */
export async function importStore(db: Db, doc: StoreExport): Promise<Record<string, number>> {
  return db.transaction().execute(async (trx) => {
    const counts: Record<string, number> = {};
    for (const table of TRANSFER_TABLES) {
      const rows = doc.tables[table].map(decodeRow);
      // Exports made before apps had a host column: the host is derived from the domain, as on create.
      if (table === 'access_apps') for (const row of rows) if (row['host'] === undefined) row['host'] = hostOfDomain(row['domain'] as string | null);
      for (let i = 0; i < rows.length; i += 200) {
        await trx.insertInto(table).values(rows.slice(i, i + 200) as never).execute();
      }
      counts[table] = rows.length;
    }
    // The inserts bumped each account's revision from zero; what hosts hold is the exported one: go past it.
    for (const [accountId, revision] of Object.entries(doc.fleet_revisions ?? {})) {
      if (!Number.isSafeInteger(revision) || revision < 0) throw new TransferError(`the export's fleet revision of ${accountId.slice(0, 64)} is not a count`);
      await trx.insertInto('fleet_revisions').values({ account_id: accountId, revision: revision + 1 })
        .onConflict((oc) => oc.column('account_id').doUpdateSet((eb) => ({ revision: sql`${eb.ref('fleet_revisions.revision')} + ${revision}` }))).execute();
    }
    return counts;
  });
}
