import type { Database, Db } from '../platform/db/schema.ts';
import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { ResultInfo } from '../platform/http/envelope.ts';
import { auditRow, type AuditEntry, type AuditRow, type AuditSink } from '../platform/audit-events.ts';

// The port every capability emits events through lives in the platform; the log is its store.
export { auditRow, changedFields, CLI_ACTOR, noteAuditRow, type AuditEntry, type AuditRow, type AuditSink } from '../platform/audit-events.ts';

/** What the listing filters on; both are exact matches. */
export interface AuditFilter {
  type?: string | undefined;
  subject?: string | undefined;
}

/** The audit trail: one row per admin change and per certificate decision, kept after its objects are gone. */
export interface AuditLog extends AuditSink {
  list(accountId: string, filter: AuditFilter, offset: number, limit: number): Promise<{ rows: AuditRow[]; total: number }>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createAuditLog(db: Db, deps: { clock: Clock; random: Random }): AuditLog {
  const row = (e: AuditEntry): AuditRow => auditRow(e, deps);
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

/** An audit event as the API and the CLI show it. */
export interface AuditEventView {
  id: string;
  type: string;
  actor: string;
  subject: string;
  data: Record<string, unknown>;
  created_at: string;
}

/** The wire form of a row; `created_at` keeps its milliseconds, so events of one second read in order. */
export const auditView = (r: AuditRow): AuditEventView => ({
  id: r.id, type: r.type, actor: r.actor, subject: r.subject, data: JSON.parse(r.data) as Record<string, unknown>, created_at: r.created_at,
});

/** One page of an account's events, newest first. */
export async function listAuditEvents(log: Pick<AuditLog, 'list'>, accountId: string, filter: AuditFilter, page: PageRequest): Promise<{ items: AuditEventView[]; info: ResultInfo }> {
  const { rows, total } = await log.list(accountId, filter, pageOffset(page), page.perPage);
  return { items: rows.map(auditView), info: resultInfo(page, rows.length, total) };
}
