import { PostgresAdapter } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { AppendWriter } from '../platform/db/sqlite-append-writer.ts';

export type CertRow = Database['ssh_certificates'];
export type AuditRow = Database['audit_events'];

/** One issued certificate and its audit event, written together or not at all; or an event alone (a refusal). */
export interface IssuedRecord {
  cert?: CertRow | undefined;
  event: AuditRow;
}

/** The inventory of issued certificates. */
export interface CertInventoryStore {
  /** Writes all records in one transaction. */
  record(records: IssuedRecord[]): Promise<void>;
  get(id: string): Promise<CertRow | undefined>;
  countForApp(appId: string): Promise<number>;
}

/**
 * The Kysely implementation, shared by SQLite and PostgreSQL. With an append writer (SQLite), records are
 * committed by its thread instead, in one transaction just the same.
 */
export function createCertInventoryStore(db: Db, appendWriter?: AppendWriter): CertInventoryStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return {
    async record(records) {
      if (records.length === 0) return;
      if (appendWriter) {
        await appendWriter.insert([
          ...records.flatMap((r) => (r.cert ? [{ table: 'ssh_certificates', row: { ...r.cert } }] : [])),
          ...records.map((r) => ({ table: 'audit_events', row: { ...r.event } })),
        ]);
        return;
      }
      const certs = records.flatMap((r) => (r.cert ? [r.cert] : []));
      if (postgres) {
        // One statement is atomic by itself: one round trip instead of four (begin, two inserts, commit).
        const events = records.map((r) => r.event);
        if (certs.length === 0) await db.insertInto('audit_events').values(events).execute();
        else await db.with('issued', (q) => q.insertInto('ssh_certificates').values(certs)).insertInto('audit_events').values(events).execute();
        return;
      }
      await db.transaction().execute(async (trx) => {
        if (certs.length > 0) await trx.insertInto('ssh_certificates').values(certs).execute();
        await trx.insertInto('audit_events').values(records.map((r) => r.event)).execute();
      });
    },
    get: (id) => db.selectFrom('ssh_certificates').selectAll().where('id', '=', id).executeTakeFirst(),
    async countForApp(appId) {
      const r = await db.selectFrom('ssh_certificates').select((eb) => eb.fn.countAll<number | string>().as('n')).where('app_id', '=', appId).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
  };
}
