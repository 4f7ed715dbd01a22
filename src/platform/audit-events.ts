import type { Database } from './db/schema.ts';
import type { Clock } from './clock.ts';
import type { Random } from './random.ts';
import { noteForStreams } from './audit-stream-capture.ts';

/**
 * The audit port: how every capability describes an event, to be written in the same transaction as
 * the change it records. It lives in the platform so that capabilities below audit/ (identity/) emit
 * events without depending on the audit log that stores and lists them.
 */
export type AuditRow = Database['audit_events'];

/** The actor of a change made by an operator on the data directory (the `access-ca` admin verbs, the first start). */
export const CLI_ACTOR = 'cli';

/** What happened, to what, by whom: the parts of an audit event its author chooses. */
export interface AuditEntry {
  accountId: string;
  /** `<object>.<verb>`, e.g. `ssh_ca.rotated`, `api_token.created`, `ssh_certificate.revoked`. */
  type: string;
  /** `token:<id>`, `user:<id>`, `cli` (an operator on the data directory) or, at cert_sign, the person's email. */
  actor: string;
  /** The id of the object acted on. */
  subject: string;
  /** Names and what changed; never a secret (no token or key value, no client secret, no hash of one). */
  data?: Record<string, unknown>;
}

/**
 * Every audit row is made through this (auditRow, and the certificate paths that build theirs by hand):
 * the one place that learns of an event before it is written, so `serve --audit-log` can stream the
 * rows that get committed (audit-stream.ts).
 */
export function noteAuditRow(row: AuditRow): AuditRow {
  noteForStreams(row);
  return row;
}

/** The row for an entry, with its id and time from the injected sources; for stores that write it in their own transaction. */
export function auditRow(e: AuditEntry, deps: { clock: Clock; random: Random }): AuditRow {
  return noteAuditRow({
    id: deps.random.recordId(), account_id: e.accountId, type: e.type, actor: e.actor, subject: e.subject,
    data: JSON.stringify(e.data ?? {}), created_at: deps.clock.now().toISOString(),
  });
}

/**
 * The names of the fields whose values differ between two versions of an object, for an `.updated`
 * event: it says what changed without copying values (some, such as a client secret, are secrets).
 */
export function changedFields<T extends Record<string, unknown>>(before: T, after: T, fields: readonly (keyof T & string)[]): string[] {
  return fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
}

/** Where capabilities send their events: a row to write in their own transaction, or an event on its own. */
export interface AuditSink {
  /** The row for an entry, to insert in the same transaction as the change it describes. */
  row(entry: AuditEntry): AuditRow;
  /** Records an entry on its own (for changes that are one statement already). */
  record(entry: AuditEntry): Promise<void>;
}
