import { sql } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import { zoneHolding } from '../identity/host-delegation.ts';

export type TargetRow = Database['infrastructure_targets'];

/** What a target list is narrowed to; every field is an exact match but `hostContains`. */
export interface TargetFilter {
  host?: string | undefined;
  hostContains?: string | undefined;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  virtualNetworkId?: string | undefined;
}

/** `%` and `_` are LIKE wildcards, `\` the escape: a value is matched as itself. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Persistence of an account's infrastructure targets; every read and write is confined to one account. */
export interface TargetsStore {
  insert(row: TargetRow, also?: (trx: Db) => Promise<void>): Promise<void>;
  get(accountId: string, id: string): Promise<TargetRow | undefined>;
  /** The account's targets with this hostname (lowercased), oldest first. */
  byHost(accountId: string, host: string): Promise<TargetRow[]>;
  list(accountId: string, filter: TargetFilter, offset: number, limit: number): Promise<{ rows: TargetRow[]; total: number }>;
  update(accountId: string, id: string, fields: Omit<TargetRow, 'id' | 'account_id' | 'created_at'>, also?: (trx: Db) => Promise<void>): Promise<TargetRow | undefined>;
  delete(accountId: string, id: string, also?: (trx: Db) => Promise<void>): Promise<boolean>;
  /** The account whose zone holds this host, if a zone does (identity/host-delegation.ts). */
  zoneAccount(host: string): Promise<string | undefined>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createTargetsStore(db: Db): TargetsStore {
  const get = (accountId: string, id: string) =>
    db.selectFrom('infrastructure_targets').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  const filtered = (accountId: string, f: TargetFilter) => {
    let q = db.selectFrom('infrastructure_targets').where('account_id', '=', accountId);
    if (f.host !== undefined) q = q.where('host', '=', f.host);
    if (f.hostContains !== undefined) q = q.where(sql<boolean>`host like ${`%${likeLiteral(f.hostContains)}%`} escape '\\'`);
    if (f.ipv4 !== undefined) q = q.where('ipv4', '=', f.ipv4);
    if (f.ipv6 !== undefined) q = q.where('ipv6', '=', f.ipv6);
    if (f.virtualNetworkId !== undefined) q = q.where((eb) => eb.or([eb('ipv4_vnet', '=', f.virtualNetworkId!), eb('ipv6_vnet', '=', f.virtualNetworkId!)]));
    return q;
  };
  return {
    async insert(row, also) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('infrastructure_targets').values(row).execute();
        await also?.(trx);
      });
    },
    get,
    byHost: (accountId, host) => db.selectFrom('infrastructure_targets').selectAll().where('account_id', '=', accountId).where('host', '=', host)
      .orderBy('created_at').orderBy('id').limit(100).execute(),
    async list(accountId, filter, offset, limit) {
      const [rows, count] = await Promise.all([
        filtered(accountId, filter).selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        filtered(accountId, filter).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async update(accountId, id, fields, also) {
      const updated = await db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('infrastructure_targets').set(fields).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        await also?.(trx);
        return true;
      });
      return updated ? get(accountId, id) : undefined;
    },
    zoneAccount: async (host) => (await zoneHolding(db, host))?.account_id,
    async delete(accountId, id, also) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('infrastructure_targets').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await also?.(trx);
        return true;
      });
    },
  };
}
