import type { Selectable } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { Scope } from '../identity/authenticate.ts';
import { errors } from '../platform/http/errors.ts';

export type AppRow = Selectable<Database['access_apps']>;
export type AppFields = Pick<AppRow, 'name' | 'domain' | 'host' | 'type' | 'session_duration' | 'updated_at'> & Partial<Pick<AppRow, 'settings' | 'target_criteria'>>;

/** Persistence of Access applications; every read and write is confined to one scope. */
export interface AccessAppsStore {
  /** Inserts the row in one transaction with `first` before it (the host claim) and `also` after it (the app's policy links). */
  insert(row: AppRow, also?: (trx: Db) => Promise<void>, first?: (trx: Db) => Promise<void>): Promise<void>;
  get(scope: Scope, id: string): Promise<AppRow | undefined>;
  list(scope: Scope, offset: number, limit: number): Promise<{ rows: AppRow[]; total: number }>;
  /** Updates the row in one transaction with `first` before it and `also` after it, as `insert` does. */
  update(scope: Scope, id: string, fields: AppFields, also?: (trx: Db) => Promise<void>, first?: (trx: Db) => Promise<void>): Promise<AppRow | undefined>;
  delete(scope: Scope, id: string): Promise<boolean>;
  /** Apps whose aud tag is one of these, in any scope: how a signed token names its application. */
  findByAud(auds: readonly string[]): Promise<AppRow[]>;
  /** The app whose domain's host is this one (`h`, `h/path`, `h:port`), in any scope: hosts are unique. */
  findByHost(host: string): Promise<AppRow | undefined>;
}

/** Narrows a query on `access_apps` to a scope: account-level objects have no zone. */
export function inScope<Q extends { where: (...args: any[]) => Q }>(q: Q, scope: Scope, table = 'access_apps'): Q {
  const scoped = q.where(`${table}.account_id`, '=', scope.accountId);
  return scope.zoneId === null
    ? scoped.where(`${table}.zone_id`, 'is', null)
    : scoped.where(`${table}.zone_id`, '=', scope.zoneId);
}

/** The app with this id in this scope, or 404: an app is only reached through a scope that may see it. */
export async function requireApp(apps: Pick<AccessAppsStore, 'get'>, scope: Scope, id: string): Promise<AppRow> {
  const row = await apps.get(scope, id.toLowerCase());
  if (!row) throw errors.notFound();
  return row;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createAccessAppsStore(db: Db): AccessAppsStore {
  const get = (scope: Scope, id: string) =>
    inScope(db.selectFrom('access_apps').selectAll(), scope).where('id', '=', id).executeTakeFirst();
  return {
    async insert(row, also, first) {
      await db.transaction().execute(async (trx) => {
        await first?.(trx);
        await trx.insertInto('access_apps').values(row).execute();
        await also?.(trx);
      });
    },
    get,
    async list(scope, offset, limit) {
      const [rows, count] = await Promise.all([
        inScope(db.selectFrom('access_apps').selectAll(), scope)
          .orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        inScope(db.selectFrom('access_apps').select((eb) => eb.fn.countAll<number | string>().as('n')), scope)
          .executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async update(scope, id, fields, also, first) {
      const updated = await db.transaction().execute(async (trx) => {
        await first?.(trx);
        const r = await inScope(trx.updateTable('access_apps').set(fields), scope).where('id', '=', id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        await also?.(trx);
        return true;
      });
      return updated ? get(scope, id) : undefined;
    },
    async delete(scope, id) {
      const r = await inScope(db.deleteFrom('access_apps'), scope).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async findByAud(auds) {
      if (auds.length === 0) return [];
      return db.selectFrom('access_apps').selectAll().where('aud', 'in', auds.slice(0, 20)).orderBy('created_at').execute();
    },
    findByHost: (host) => db.selectFrom('access_apps').selectAll().where('host', '=', host.toLowerCase()).executeTakeFirst(),
  };
}
