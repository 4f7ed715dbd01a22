import type { Database, Db } from '../platform/db/schema.ts';
import type { Scope } from '../identity/authenticate.ts';
import { inScope } from '../access-apps/access-apps-store.ts';

export type CaRow = Database['ssh_cas'];
export type CaKeyRow = Database['ssh_ca_keys'];

/** A CA with its app's aud and its active key's public blob (base64). */
export interface CaRecord {
  id: string;
  app_id: string;
  aud: string;
  public_key: string;
}

/** Persistence of per-app SSH CAs and their sealed keys. */
export interface AccessCasStore {
  getByApp(appId: string): Promise<CaRecord | undefined>;
  list(scope: Scope, offset: number, limit: number): Promise<{ rows: CaRecord[]; total: number }>;
  /** Writes the CA and its key in one transaction; throws a unique violation when the app has a CA. */
  insert(ca: CaRow, key: CaKeyRow): Promise<void>;
  /** Deletes the app's CA and its keys; returns the CA id, or undefined when there was none. */
  deleteByApp(appId: string): Promise<string | undefined>;
  /** The CA of an app with its active key, for signing; undefined when the app has no CA. */
  signingKey(appId: string): Promise<CaKeyRow | undefined>;
  /** Every key of a CA, sealed as stored. */
  keysOf(caId: string): Promise<CaKeyRow[]>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createAccessCasStore(db: Db): AccessCasStore {
  const records = () =>
    db.selectFrom('ssh_cas')
      .innerJoin('access_apps', 'access_apps.id', 'ssh_cas.app_id')
      .innerJoin('ssh_ca_keys', (j) => j.onRef('ssh_ca_keys.ca_id', '=', 'ssh_cas.id').on('ssh_ca_keys.state', '=', 'active'))
      .select(['ssh_cas.id', 'ssh_cas.app_id', 'access_apps.aud', 'ssh_ca_keys.public_key']);

  return {
    getByApp: (appId) => records().where('ssh_cas.app_id', '=', appId).executeTakeFirst(),
    async list(scope, offset, limit) {
      const [rows, count] = await Promise.all([
        inScope(records(), scope).orderBy('ssh_cas.created_at').orderBy('ssh_cas.id').limit(limit).offset(offset).execute(),
        inScope(
          db.selectFrom('ssh_cas').innerJoin('access_apps', 'access_apps.id', 'ssh_cas.app_id')
            .select((eb) => eb.fn.countAll<number | string>().as('n')),
          scope,
        ).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async insert(ca, key) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('ssh_cas').values(ca).execute();
        await trx.insertInto('ssh_ca_keys').values(key).execute();
      });
    },
    async deleteByApp(appId) {
      const row = await db.deleteFrom('ssh_cas').where('app_id', '=', appId).returning('id').executeTakeFirst();
      return row?.id;
    },
    signingKey: (appId) =>
      db.selectFrom('ssh_ca_keys').innerJoin('ssh_cas', 'ssh_cas.id', 'ssh_ca_keys.ca_id')
        .selectAll('ssh_ca_keys').where('ssh_cas.app_id', '=', appId).where('ssh_ca_keys.state', '=', 'active').executeTakeFirst(),
    keysOf: (caId) => db.selectFrom('ssh_ca_keys').selectAll().where('ca_id', '=', caId).orderBy('created_at').execute(),
  };
}
