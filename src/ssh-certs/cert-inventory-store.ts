import { PostgresAdapter, sql } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { AppendWriter } from '../platform/db/sqlite-append-writer.ts';

export type CertRow = Database['ssh_certificates'];
export type AuditRow = Database['audit_events'];

/** One issued certificate and its audit event, written together or not at all; or an event alone (a refusal). */
export interface IssuedRecord {
  cert?: CertRow | undefined;
  event: AuditRow;
}

const CERT_COLUMNS = [
  'id', 'serial', 'ca_id', 'ca_key_id', 'app_id', 'account_id', 'key_id', 'principals', 'valid_after', 'valid_before', 'identity',
  'public_key_type', 'public_key_fingerprint', 'critical_options', 'extensions', 'source', 'created_at', 'revoked_at', 'revocation_id',
] as const satisfies readonly (keyof CertRow)[];
const EVENT_COLUMNS = ['id', 'account_id', 'type', 'actor', 'subject', 'data', 'created_at'] as const satisfies readonly (keyof AuditRow)[];
// Every column is listed: a column added to the tables without being added here fails to compile.
const everyColumn: [Record<Exclude<keyof CertRow, (typeof CERT_COLUMNS)[number]>, never>, Record<Exclude<keyof AuditRow, (typeof EVENT_COLUMNS)[number]>, never>] = [{}, {}];
void everyColumn;

/**
 * `insert into <table> (<columns>) select <columns> from json_populate_recordset(null::<table>, $1) on
 * conflict (id) do nothing`: the batch travels as one JSON parameter (one native JSON.stringify, where
 * text arrays cost the driver an escape per value), and the statement is the same text whatever the batch
 * size. A row whose id is already there is this very record, written by a commit whose reply was lost
 * (ids are 80 random bits): the batch writer's retry then succeeds instead of making the issuer sign again
 * beside an orphan "issued" row. Any other conflict (a serial) still fails.
 */
function jsonInsert<R>(table: string, columns: readonly (keyof R & string)[], rows: R[]) {
  const list = sql.join(columns.map((c) => sql.ref(c)));
  return sql`insert into ${sql.table(table)} (${list}) select ${list} from json_populate_recordset(null::${sql.table(table)}, ${jsonRows(columns, rows)}::json) on conflict (id) do nothing`;
}

/**
 * The listed columns of each row, as JSON PostgreSQL accepts. Text is checked at the edge, but a lone
 * surrogate that got past it would make PostgreSQL refuse the whole batch (JSON escapes it, PostgreSQL's
 * parser rejects the escape); it is written as U+FFFD, as the driver's text encoding would.
 */
function jsonRows<R>(columns: readonly (keyof R & string)[], rows: R[]): string {
  return JSON.stringify(rows.map((row) => {
    const picked: Record<string, unknown> = {};
    for (const c of columns) {
      const value = row[c];
      picked[c] = typeof value === 'string' && !value.isWellFormed() ? value.toWellFormed() : value;
    }
    return picked;
  }));
}

/**
 * PostgreSQL: certificates and their events in one statement (atomic by itself: one round trip instead of
 * begin, two inserts, commit).
 */
function postgresRecord(certs: CertRow[], events: AuditRow[]) {
  const audit = jsonInsert('audit_events', EVENT_COLUMNS, events);
  return certs.length === 0 ? audit : sql`with issued as (${jsonInsert('ssh_certificates', CERT_COLUMNS, certs)}) ${audit}`;
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
        await sql`${postgresRecord(certs, records.map((r) => r.event))}`.execute(db);
        return;
      }
      await db.transaction().execute(async (trx) => {
        // As on PostgreSQL: a record already there by its id is this one, written before.
        if (certs.length > 0) await trx.insertInto('ssh_certificates').values(certs).onConflict((oc) => oc.column('id').doNothing()).execute();
        await trx.insertInto('audit_events').values(records.map((r) => r.event)).onConflict((oc) => oc.column('id').doNothing()).execute();
      });
    },
    get: (id) => db.selectFrom('ssh_certificates').selectAll().where('id', '=', id).executeTakeFirst(),
    async countForApp(appId) {
      const r = await db.selectFrom('ssh_certificates').select((eb) => eb.fn.countAll<number | string>().as('n')).where('app_id', '=', appId).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
  };
}
