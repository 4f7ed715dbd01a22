import type { Database, Db } from '../platform/db/schema.ts';
import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';

export type AuditRow = Database['audit_events'];

/** What happened, to what, by whom: the parts of an audit event its author chooses. */
export interface AuditEntry {
  accountId: string;
  /** `<object>.<verb>`, e.g. `ssh_ca.rotated`, `api_token.created`, `ssh_certificate.revoked`. */
  type: string;
  /** `token:<id>`, `user:<id>`, `cli` (an operator on the data directory) or, at cert_sign, the person's email. */
  actor: string;
  /** The id of the object acted on. */
  subject: string;
  data?: Record<string, unknown>;
}

/** The audit trail: one row per admin change and per certificate decision, kept after its objects are gone. */
export interface AuditLog {
  /** The row for an entry, to insert in the same transaction as the change it describes. */
  row(entry: AuditEntry): AuditRow;
  /** Records an entry on its own (for changes that are one statement already). */
  record(entry: AuditEntry): Promise<void>;
  list(accountId: string, filter: { type?: string | undefined; subject?: string | undefined }, offset: number, limit: number): Promise<{ rows: AuditRow[]; total: number }>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createAuditLog(db: Db, deps: { clock: Clock; random: Random }): AuditLog {
  const row = (e: AuditEntry): AuditRow => ({
    id: deps.random.hex(16), account_id: e.accountId, type: e.type, actor: e.actor, subject: e.subject,
    data: JSON.stringify(e.data ?? {}), created_at: deps.clock.now().toISOString(),
  });
  return {
    row,
    async record(entry) {
      await db.insertInto('audit_events').values(row(entry)).execute();
    },
    async list(accountId, filter, offset, limit) {
      let q = db.selectFrom('audit_events').where('account_id', '=', accountId);
      if (filter.type !== undefined) q = q.where('type', '=', filter.type);
      if (filter.subject !== undefined) q = q.where('subject', '=', filter.subject);
      const [rows, count] = await Promise.all([
        q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
        q.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
  };
}
