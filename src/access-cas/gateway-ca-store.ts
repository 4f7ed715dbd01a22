import type { Database, Db } from '../platform/db/schema.ts';
import { keyRotationSteps } from './key-rotation.ts';

export type GatewayCaRow = Database['gateway_cas'];
export type GatewayCaKeyRow = Database['gateway_ca_keys'];
type AuditRow = Database['audit_events'];

/** Persistence of each account's gateway CA and its sealed keys; every write carries its audit event. */
export function createGatewayCaStore(db: Db) {
  return {
    byAccount: (accountId: string) => db.selectFrom('gateway_cas').selectAll().where('account_id', '=', accountId).executeTakeFirst(),
    /** Every key of a CA, oldest first, sealed as stored. */
    keysOf: (caId: string) => db.selectFrom('gateway_ca_keys').selectAll().where('ca_id', '=', caId).orderBy('created_at').orderBy('id').execute(),
    /** The key that signs now: read on every use, never cached, so a rotation step moves signing on every node at once. */
    signingKey: (accountId: string) =>
      db.selectFrom('gateway_ca_keys').selectAll().where('account_id', '=', accountId).where('state', '=', 'active').executeTakeFirst(),
    /** Writes the CA and its first key in one transaction; throws a unique violation when the account has one. */
    async insert(ca: GatewayCaRow, key: GatewayCaKeyRow, event: AuditRow) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('gateway_cas').values(ca).execute();
        await trx.insertInto('gateway_ca_keys').values(key).execute();
        await trx.insertInto('audit_events').values(event).execute();
      });
    },
    /** Deletes the CA and (by cascade) its keys, with the event; false when there was none of that id. */
    async delete(accountId: string, caId: string, event: AuditRow): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        // Keys first: the fleet revision triggers see each key leave, whatever the engine does with cascades.
        await trx.deleteFrom('gateway_ca_keys').where('ca_id', '=', caId).where('account_id', '=', accountId).execute();
        const r = await trx.deleteFrom('gateway_cas').where('id', '=', caId).where('account_id', '=', accountId).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await trx.insertInto('audit_events').values(event).execute();
        return true;
      });
    },
    ...keyRotationSteps<GatewayCaKeyRow>(db, { cas: 'gateway_cas', keys: 'gateway_ca_keys' }),
  };
}

export type GatewayCaStore = ReturnType<typeof createGatewayCaStore>;
