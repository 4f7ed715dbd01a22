import { PostgresAdapter, sql, type SqlBool } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import { ipAddressKey } from '../platform/db/migrations.ts';
import { zoneHolding } from '../identity/host-delegation.ts';

/** A target as the services see it; the address keys beside it are the store's own (written from the addresses). */
export type TargetRow = Omit<Database['infrastructure_targets'], 'ipv4_key' | 'ipv6_key'>;

const COLUMNS = ['id', 'account_id', 'hostname', 'host', 'ipv4', 'ipv4_vnet', 'ipv6', 'ipv6_vnet', 'tags', 'aliases', 'created_at', 'modified_at'] as const satisfies readonly (keyof TargetRow)[];

/** An inclusive range of addresses of one family. */
export interface AddressRange {
  start: string;
  end: string;
}

/**
 * What a target list is narrowed to; all given fields must hold. Addresses are compared as addresses
 * (`fd00::1` is `FD00:0::1`), times are ISO strings compared inclusively, `hostContains` is a literal.
 */
export interface TargetFilter {
  host?: string | undefined;
  hostContains?: string | undefined;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  /** Any of these addresses, of either family. */
  ips?: readonly string[] | undefined;
  /** A pattern over the address as written, `*` for any run; matched whole. */
  ipLike?: string | undefined;
  ipv4Range?: AddressRange | undefined;
  ipv6Range?: AddressRange | undefined;
  virtualNetworkId?: string | undefined;
  /** Any of these ids (lowercase). */
  ids?: readonly string[] | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  modifiedFrom?: string | undefined;
  modifiedTo?: string | undefined;
  /** Every one of these tags, as [name, value]. */
  tags?: readonly (readonly [string, string])[] | undefined;
}

/** How a list is sorted; the id breaks ties, so pages never overlap. */
export interface TargetOrder {
  by: 'created_at' | 'hostname';
  direction: 'asc' | 'desc';
}

/** What a batch upsert writes, decided from the targets already holding its hosts. */
export interface TargetBatchPlan {
  insert: TargetRow[];
  update: TargetRow[];
  also?: (trx: Db) => Promise<void>;
}

/** `%` and `_` are LIKE wildcards, `\` the escape: a value is matched as itself. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The address keys a row is stored with. */
const withKeys = <T extends Pick<TargetRow, 'ipv4' | 'ipv6'>>(row: T) => ({
  ...row,
  ipv4_key: row.ipv4 === null ? null : ipAddressKey(row.ipv4),
  ipv6_key: row.ipv6 === null ? null : ipAddressKey(row.ipv6),
});

/** At most this many values in one IN list or multi-row insert: well inside both databases' parameter limits. */
const CHUNK = 500;
const chunks = <T>(items: readonly T[]): T[][] => Array.from({ length: Math.ceil(items.length / CHUNK) }, (_, i) => items.slice(i * CHUNK, (i + 1) * CHUNK));

/** Persistence of an account's infrastructure targets; every read and write is confined to one account. */
export interface TargetsStore {
  insert(row: TargetRow, also?: (trx: Db) => Promise<void>): Promise<void>;
  get(accountId: string, id: string): Promise<TargetRow | undefined>;
  /** The account's targets with this hostname (lowercased), oldest first. */
  byHost(accountId: string, host: string): Promise<TargetRow[]>;
  /** One page of the account's targets; by creation time, oldest first, unless `order` says otherwise. */
  list(accountId: string, filter: TargetFilter, offset: number, limit: number, order?: TargetOrder): Promise<{ rows: TargetRow[]; total: number }>;
  update(accountId: string, id: string, fields: Omit<TargetRow, 'id' | 'account_id' | 'created_at'>, also?: (trx: Db) => Promise<void>): Promise<TargetRow | undefined>;
  delete(accountId: string, id: string, also?: (trx: Db) => Promise<void>): Promise<boolean>;
  /**
   * One transaction: `plan` gets the account's targets holding any of `hosts` (read inside it) and says
   * which rows to insert and which to update; its `also` runs last. A `plan` that throws writes nothing.
   */
  upsertByHost(accountId: string, hosts: readonly string[], plan: (existing: TargetRow[]) => TargetBatchPlan): Promise<void>;
  /**
   * Deletes every one of `ids` of the account, with `also`, in one transaction; when any id is not the
   * account's target, deletes none and answers those ids.
   */
  deleteMany(accountId: string, ids: readonly string[], also?: (trx: Db) => Promise<void>): Promise<{ missing: string[] }>;
  /** The account whose zone holds this host, if a zone does (identity/host-delegation.ts). */
  zoneAccount(host: string): Promise<string | undefined>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createTargetsStore(db: Db): TargetsStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const get = (accountId: string, id: string) =>
    db.selectFrom('infrastructure_targets').select(COLUMNS).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  const keys = (ips: readonly string[]) => ips.map(ipAddressKey).filter((k): k is string => k !== null);
  /** A tag held with this value: read with each dialect's JSON operator, the name and value as parameters. */
  const hasTag = (name: string, value: string) => (postgres
    ? sql<SqlBool>`(tags::jsonb ->> ${name}) = ${value}`
    : sql<SqlBool>`exists (select 1 from json_each(infrastructure_targets.tags) where json_each.key = ${name} and json_each.value = ${value})`);
  const filtered = (accountId: string, f: TargetFilter) => {
    let q = db.selectFrom('infrastructure_targets').where('account_id', '=', accountId);
    if (f.host !== undefined) q = q.where('host', '=', f.host);
    if (f.hostContains !== undefined) q = q.where(sql<boolean>`host like ${`%${likeLiteral(f.hostContains)}%`} escape '\\'`);
    if (f.ipv4 !== undefined) q = q.where('ipv4_key', '=', ipAddressKey(f.ipv4) ?? '');
    if (f.ipv6 !== undefined) q = q.where('ipv6_key', '=', ipAddressKey(f.ipv6) ?? '');
    if (f.ips !== undefined) {
      const wanted = keys(f.ips);
      q = wanted.length === 0 ? q.where(sql<SqlBool>`1 = 0`) : q.where((eb) => eb.or([eb('ipv4_key', 'in', wanted), eb('ipv6_key', 'in', wanted)]));
    }
    if (f.ipLike !== undefined) {
      const pattern = likeLiteral(f.ipLike.toLowerCase()).replace(/\*/g, '%');
      q = q.where(sql<SqlBool>`(ipv4 like ${pattern} escape '\\' or lower(ipv6) like ${pattern} escape '\\')`);
    }
    for (const [column, range] of [['ipv4_key', f.ipv4Range], ['ipv6_key', f.ipv6Range]] as const) {
      if (range !== undefined) q = q.where(column, '>=', ipAddressKey(range.start) ?? '').where(column, '<=', ipAddressKey(range.end) ?? '');
    }
    if (f.virtualNetworkId !== undefined) q = q.where((eb) => eb.or([eb('ipv4_vnet', '=', f.virtualNetworkId!), eb('ipv6_vnet', '=', f.virtualNetworkId!)]));
    if (f.ids !== undefined) q = f.ids.length === 0 ? q.where(sql<SqlBool>`1 = 0`) : q.where('id', 'in', [...f.ids]);
    if (f.createdFrom !== undefined) q = q.where('created_at', '>=', f.createdFrom);
    if (f.createdTo !== undefined) q = q.where('created_at', '<=', f.createdTo);
    if (f.modifiedFrom !== undefined) q = q.where('modified_at', '>=', f.modifiedFrom);
    if (f.modifiedTo !== undefined) q = q.where('modified_at', '<=', f.modifiedTo);
    for (const [name, value] of f.tags ?? []) q = q.where(hasTag(name, value));
    return q;
  };
  return {
    async insert(row, also) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('infrastructure_targets').values(withKeys(row)).execute();
        await also?.(trx);
      });
    },
    get,
    byHost: (accountId, host) => db.selectFrom('infrastructure_targets').select(COLUMNS).where('account_id', '=', accountId).where('host', '=', host)
      .orderBy('created_at').orderBy('id').limit(100).execute(),
    async list(accountId, filter, offset, limit, order = { by: 'created_at', direction: 'asc' }) {
      const [rows, count] = await Promise.all([
        filtered(accountId, filter).select(COLUMNS).orderBy(order.by === 'hostname' ? 'host' : 'created_at', order.direction).orderBy('id', order.direction)
          .limit(limit).offset(offset).execute(),
        filtered(accountId, filter).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async update(accountId, id, fields, also) {
      const updated = await db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('infrastructure_targets').set(withKeys(fields)).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        await also?.(trx);
        return true;
      });
      return updated ? get(accountId, id) : undefined;
    },
    async upsertByHost(accountId, hosts, plan) {
      await db.transaction().execute(async (trx) => {
        const existing: TargetRow[] = [];
        for (const part of chunks([...new Set(hosts)])) {
          existing.push(...await trx.selectFrom('infrastructure_targets').select(COLUMNS).where('account_id', '=', accountId).where('host', 'in', part)
            .orderBy('created_at').orderBy('id').execute());
        }
        const { insert, update, also } = plan(existing);
        for (const part of chunks(insert)) await trx.insertInto('infrastructure_targets').values(part.map(withKeys)).execute();
        for (const { id, account_id: _account, created_at: _created, ...fields } of update) {
          await trx.updateTable('infrastructure_targets').set(withKeys(fields)).where('account_id', '=', accountId).where('id', '=', id).execute();
        }
        await also?.(trx);
      });
    },
    async deleteMany(accountId, ids, also) {
      return db.transaction().execute(async (trx) => {
        const wanted = [...new Set(ids)];
        const found = new Set<string>();
        for (const part of chunks(wanted)) {
          for (const r of await trx.selectFrom('infrastructure_targets').select('id').where('account_id', '=', accountId).where('id', 'in', part).execute()) found.add(r.id);
        }
        const missing = wanted.filter((id) => !found.has(id));
        if (missing.length > 0) return { missing };
        for (const part of chunks(wanted)) await trx.deleteFrom('infrastructure_targets').where('account_id', '=', accountId).where('id', 'in', part).execute();
        await also?.(trx);
        return { missing };
      });
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
