import type { Database, Db } from '../platform/db/schema.ts';
import type { Scope } from '../identity/authenticate.ts';
import { errors } from '../platform/http/errors.ts';

export type AppRow = Database['access_apps'];
export type AppFields = Pick<AppRow, 'name' | 'domain' | 'type' | 'session_duration' | 'updated_at'>;

/** Persistence of Access applications; every read and write is confined to one scope. */
export interface AccessAppsStore {
  insert(row: AppRow): Promise<void>;
  get(scope: Scope, id: string): Promise<AppRow | undefined>;
  list(scope: Scope, offset: number, limit: number): Promise<{ rows: AppRow[]; total: number }>;
  update(scope: Scope, id: string, fields: AppFields): Promise<AppRow | undefined>;
  delete(scope: Scope, id: string): Promise<boolean>;
  /** Apps whose aud tag is one of these, in any scope: how a signed token names its application. */
  findByAud(auds: string[]): Promise<AppRow[]>;
  /** Apps whose domain's host is this one (`h`, `h/path`, `h:port`), in any scope. */
  findByHost(host: string): Promise<AppRow[]>;
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
    async insert(row) {
      await db.insertInto('access_apps').values(row).execute();
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
    async update(scope, id, fields) {
      const r = await inScope(db.updateTable('access_apps').set(fields), scope).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0 ? get(scope, id) : undefined;
    },
    async delete(scope, id) {
      const r = await inScope(db.deleteFrom('access_apps'), scope).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async findByAud(auds) {
      if (auds.length === 0) return [];
      return db.selectFrom('access_apps').selectAll().where('aud', 'in', auds.slice(0, 20)).orderBy('created_at').execute();
    },
    async findByHost(host) {
      // LIKE wildcards cannot occur: hosts are checked to be DNS names before they get here.
      return db.selectFrom('access_apps').selectAll()
        .where((eb) => eb.or([eb('domain', '=', host), eb('domain', 'like', `${host}/%`), eb('domain', 'like', `${host}:%`)]))
        .orderBy('created_at').limit(20).execute();
    },
  };
}
