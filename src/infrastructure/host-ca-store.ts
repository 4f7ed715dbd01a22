import type { Database, Db } from '../platform/db/schema.ts';
import { keyRotationSteps } from '../access-cas/key-rotation.ts';

export type HostCaRow = Database['host_cas'];
export type HostCaKeyRow = Database['host_ca_keys'];
export type RevokedHostKeyRow = Database['host_revoked_keys'];
type AuditRow = Database['audit_events'];

/** Persistence of each account's host CA, its sealed keys, and the host keys it refuses. */
export function createHostCaStore(db: Db) {
  return {
    byAccount: (accountId: string) => db.selectFrom('host_cas').selectAll().where('account_id', '=', accountId).executeTakeFirst(),
    /** Every key of a CA, oldest first, sealed as stored. */
    keysOf: (caId: string) => db.selectFrom('host_ca_keys').selectAll().where('ca_id', '=', caId).orderBy('created_at').orderBy('id').execute(),
    /** Writes the CA and its first key in one transaction; throws a unique violation when the account has one. */
    async insert(ca: HostCaRow, key: HostCaKeyRow, event: AuditRow) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('host_cas').values(ca).execute();
        await trx.insertInto('host_ca_keys').values(key).execute();
        await trx.insertInto('audit_events').values(event).execute();
      });
    },
    async setMaxTtl(caId: string, maxTtl: number, event: AuditRow) {
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('host_cas').set({ max_ttl: maxTtl }).where('id', '=', caId).execute();
        await trx.insertInto('audit_events').values(event).execute();
      });
    },
    ...keyRotationSteps<HostCaKeyRow>(db, { cas: 'host_cas', keys: 'host_ca_keys' }),
    /** Adds a revoked host key with its event; false when it was revoked already. */
    async revokeKey(row: RevokedHostKeyRow, event: AuditRow): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const r = await trx.insertInto('host_revoked_keys').values(row).onConflict((oc) => oc.columns(['account_id', 'fingerprint']).doNothing())
          .returning('fingerprint').executeTakeFirst();
        if (r === undefined) return false;
        await trx.insertInto('audit_events').values(event).execute();
        return true;
      });
    },
    revokedKeys: (accountId: string) => db.selectFrom('host_revoked_keys').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('fingerprint').limit(10_000).execute(),
    isRevoked: async (accountId: string, fingerprint: string) =>
      (await db.selectFrom('host_revoked_keys').select('fingerprint').where('account_id', '=', accountId).where('fingerprint', '=', fingerprint).executeTakeFirst()) !== undefined,
  };
}

export type HostCaStore = ReturnType<typeof createHostCaStore>;
