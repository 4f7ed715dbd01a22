import type { Database, Db } from '../platform/db/schema.ts';
import type { Scope } from '../identity/authenticate.ts';
import { inScope } from '../access-apps/access-apps-store.ts';
import { keyRotationSteps, type CaKeyState, type RotationRefusal, type RotationStep } from './key-rotation.ts';

export type { CaKeyState, RotationRefusal, RotationStep };

export type CaRow = Database['ssh_cas'];
export type CaKeyRow = Database['ssh_ca_keys'];
type AuditRow = Database['audit_events'];

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
  /**
   * Writes the CA, its key and (when given) its audit event in one transaction; throws a unique violation
   * when the app has a CA.
   */
  insert(ca: CaRow, key: CaKeyRow, event?: AuditRow): Promise<void>;
  /**
   * Deletes the app's CA and its keys, and writes the event made from its id in the same transaction;
   * returns the CA id, or undefined (and writes nothing) when there was none.
   */
  deleteByApp(appId: string, event?: (caId: string) => AuditRow): Promise<string | undefined>;
  /** The CA of an app with its active key, for signing; undefined when the app has no CA. */
  signingKey(appId: string): Promise<CaKeyRow | undefined>;
  /** Every key of a CA, sealed as stored. */
  keysOf(caId: string): Promise<CaKeyRow[]>;
  /**
   * Adds `key` (state `next`) to its CA with its event, unless a rotation is under way: refused while the
   * CA has a next key or a previous key not yet retired.
   */
  addNextKey(key: CaKeyRow, event: AuditRow): Promise<RotationStep<object, 'no_ca' | 'next_exists' | 'previous_exists'>>;
  /** Moves signing to the next key in one transaction: active → previous, next → active; with its event. */
  activateNextKey(caId: string, event: (keys: { active: CaKeyRow; previous: CaKeyRow }) => AuditRow): Promise<RotationStep<{ active: CaKeyRow; previous: CaKeyRow }, 'no_ca' | 'no_next'>>;
  /** Deletes the previous key, with its event. */
  retirePreviousKey(caId: string, event: (retired: CaKeyRow) => AuditRow): Promise<RotationStep<{ retired: CaKeyRow }, 'no_ca' | 'no_previous'>>;
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
      // The page comes from the per-scope listing (ca-listing.ts) in its index order, the total from the
      // per-scope count: neither reads every CA of the scope.
      const zoneKey = scope.zoneId ?? '';
      const [rows, count] = await Promise.all([
        records().innerJoin('ssh_ca_listing', 'ssh_ca_listing.ca_id', 'ssh_cas.id')
          .where('ssh_ca_listing.account_id', '=', scope.accountId).where('ssh_ca_listing.zone_key', '=', zoneKey)
          .orderBy('ssh_ca_listing.created_at').orderBy('ssh_ca_listing.ca_id').limit(limit).offset(offset).execute(),
        db.selectFrom('ssh_ca_counts').select('n').where('account_id', '=', scope.accountId).where('zone_key', '=', zoneKey).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async insert(ca, key, event) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('ssh_cas').values(ca).execute();
        await trx.insertInto('ssh_ca_keys').values(key).execute();
        if (event) await trx.insertInto('audit_events').values(event).execute();
      });
    },
    async deleteByApp(appId, event) {
      return db.transaction().execute(async (trx) => {
        const row = await trx.deleteFrom('ssh_cas').where('app_id', '=', appId).returning('id').executeTakeFirst();
        if (row && event) await trx.insertInto('audit_events').values(event(row.id)).execute();
        return row?.id;
      });
    },
    // Which key signs is read here on every request, never cached: a demoted or retired key stops signing
    // on every node as soon as the step that moved it commits.
    signingKey: (appId) =>
      db.selectFrom('ssh_ca_keys').innerJoin('ssh_cas', 'ssh_cas.id', 'ssh_ca_keys.ca_id')
        .selectAll('ssh_ca_keys').where('ssh_cas.app_id', '=', appId).where('ssh_ca_keys.state', '=', 'active').executeTakeFirst(),
    keysOf: (caId) => db.selectFrom('ssh_ca_keys').selectAll().where('ca_id', '=', caId).orderBy('created_at').orderBy('id').execute(),

    ...keyRotationSteps<CaKeyRow>(db, { cas: 'ssh_cas', keys: 'ssh_ca_keys' }),
  };
}
