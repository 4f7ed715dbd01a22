import { PostgresAdapter, sql, type Expression, type SqlBool } from 'kysely';
import type { Db } from '../platform/db/schema.ts';
import type { AuditRow } from './audit-log.ts';

/** The audit event types that are signing decisions: the authentication log is made of them. */
export const DECISION_TYPES = ['ssh_certificate.issued', 'ssh_certificate.refused'] as const;

/** A condition on one field: equal to the value, or not (Cloudflare's `<field>Op=eq|neq`). */
export interface FieldMatch<T> {
  value: T;
  negate: boolean;
}

/** What the authentication log filters on; every field optional, all of them must hold. */
export interface AccessRequestFilter {
  /** ISO times, inclusive. */
  since?: string | undefined;
  until?: string | undefined;
  /** The person's email (the event's actor): exact, or contained (lowercase, as identities are stored). */
  email?: (FieldMatch<string> & { exact: boolean }) | undefined;
  allowed?: FieldMatch<boolean> | undefined;
  appUid?: FieldMatch<string> | undefined;
  rayId?: FieldMatch<string> | undefined;
  /** The connection (identity provider name, or `api_token`). */
  idp?: FieldMatch<string> | undefined;
  appType?: FieldMatch<string> | undefined;
  /** Automation (an API token), not a person. */
  nonIdentity?: FieldMatch<boolean> | undefined;
  /** No country is known for any request: equal matches nothing, not-equal everything. */
  countryCode?: FieldMatch<string> | undefined;
}

export interface AccessRequestsStore {
  list(accountId: string, filter: AccessRequestFilter, direction: 'asc' | 'desc', offset: number, limit: number): Promise<{ rows: AuditRow[]; total: number }>;
}

/** `%` and `_` are LIKE wildcards, `\` the escape: a value is matched as itself. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The signing decisions of the audit trail, filtered and paged in SQL. Fields kept in an event's JSON
 * data (its app, ray id, connection, app type) are read with each dialect's JSON operator; the scan is
 * bounded by the account and time index (audit_events_account).
 */
export function createAccessRequestsStore(db: Db): AccessRequestsStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const field = (name: string) => (postgres ? sql<string>`(data::jsonb ->> ${name})` : sql<string>`json_extract(data, ${`$.${name}`})`);
  const matches = <T>(m: FieldMatch<T> | undefined, expr: (value: T) => Expression<SqlBool>) =>
    (m === undefined ? [] : [m.negate ? sql<SqlBool>`not (${expr(m.value)})` : expr(m.value)]);

  function filtered(accountId: string, f: AccessRequestFilter) {
    const conditions: Expression<SqlBool>[] = [
      ...matches(f.email, (v) => (f.email!.exact ? sql<SqlBool>`actor = ${v}` : sql<SqlBool>`actor like ${`%${likeLiteral(v)}%`} escape '\\'`)),
      ...matches(f.allowed, (v) => sql<SqlBool>`type = ${v ? DECISION_TYPES[0] : DECISION_TYPES[1]}`),
      ...matches(f.appUid, (v) => sql<SqlBool>`coalesce(${field('app_id')}, '') = ${v}`),
      ...matches(f.rayId, (v) => sql<SqlBool>`coalesce(${field('ray_id')}, '') = ${v}`),
      ...matches(f.idp, (v) => sql<SqlBool>`coalesce(${field('connection')}, '') = ${v}`),
      ...matches(f.appType, (v) => sql<SqlBool>`coalesce(${field('app_type')}, '') = ${v}`),
      ...matches(f.nonIdentity, (v) => (v ? sql<SqlBool>`actor like 'token:%'` : sql<SqlBool>`actor not like 'token:%'`)),
      ...matches(f.countryCode, () => sql<SqlBool>`1 = 0`),
    ];
    let q = db.selectFrom('audit_events').where('account_id', '=', accountId).where('type', 'in', [...DECISION_TYPES]);
    if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
    if (f.until !== undefined) q = q.where('created_at', '<=', f.until);
    for (const c of conditions) q = q.where(c);
    return q;
  }

  return {
    async list(accountId, filter, direction, offset, limit) {
      const [rows, count] = await Promise.all([
        filtered(accountId, filter).selectAll().orderBy('created_at', direction).orderBy('id', direction).limit(limit).offset(offset).execute(),
        filtered(accountId, filter).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
  };
}
