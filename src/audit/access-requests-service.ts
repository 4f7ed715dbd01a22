import { errors } from '../platform/http/errors.ts';
import { resultInfo, pageOffset, DEFAULT_PER_PAGE, MAX_PER_PAGE } from '../platform/http/pagination.ts';
import { asciiLower } from '../platform/text.ts';
import type { AuditRow } from './audit-log.ts';
import { DECISION_TYPES, type AccessRequestFilter, type AccessRequestsStore, type FieldMatch } from './access-requests-store.ts';

/** Cloudflare's query of `GET …/access/logs/access_requests`, every value a string as it arrives. */
export interface AccessRequestsQuery {
  since?: string | undefined; until?: string | undefined; direction?: string | undefined;
  email?: string | undefined; email_exact?: string | undefined; emailOp?: string | undefined;
  allowed?: string | undefined; allowedOp?: string | undefined;
  app_uid?: string | undefined; app_uidOp?: string | undefined;
  ray_id?: string | undefined; ray_idOp?: string | undefined;
  idp?: string | undefined; idpOp?: string | undefined;
  app_type?: string | undefined; app_typeOp?: string | undefined;
  non_identity?: string | undefined; non_identityOp?: string | undefined;
  country_code?: string | undefined; country_codeOp?: string | undefined;
  limit?: string | undefined; page?: string | undefined; per_page?: string | undefined;
  fields?: string | undefined;
}

/** One entry in Cloudflare's shape, with the certificate (when one was issued) and, for the operator, why one was refused. */
export interface AccessRequestView {
  action: string;
  allowed: boolean;
  app_domain: string;
  app_uid: string;
  connection: string;
  created_at: string;
  ip_address: string;
  ray_id: string;
  user_email: string;
  non_identity: boolean;
  actor: string;
  certificate_id?: string;
  serial?: string;
  reason?: string;
}

const FIELDS = ['action', 'allowed', 'app_domain', 'app_uid', 'connection', 'created_at', 'ip_address', 'ray_id', 'user_email', 'non_identity', 'actor', 'certificate_id', 'serial', 'reason'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function time(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!RFC3339.test(value) || Number.isNaN(t)) throw errors.invalidRequest(`${name} must be an RFC 3339 time`, `/${name}`);
  return new Date(t).toISOString();
}

function op(value: string | undefined, name: string, allowed: readonly string[] = ['eq', 'neq']): string | undefined {
  if (value !== undefined && !allowed.includes(value)) throw errors.invalidRequest(`${name} must be one of ${allowed.join(', ')}`, `/${name}`);
  return value;
}

function bool(value: string, name: string): boolean {
  if (value !== 'true' && value !== 'false') throw errors.invalidRequest(`${name} must be true or false`, `/${name}`);
  return value === 'true';
}

function text(value: string | undefined, opValue: string | undefined, name: string): FieldMatch<string> | undefined {
  const negate = op(opValue, `${name}Op`) === 'neq';
  if (value === undefined) return undefined;
  if (value.length > 320 || /\p{C}/u.test(value)) throw errors.invalidRequest(`${name} must be printable text of at most 320 characters`, `/${name}`);
  return { value, negate };
}

function flag(value: string | undefined, opValue: string | undefined, name: string): FieldMatch<boolean> | undefined {
  const negate = op(opValue, `${name}Op`) === 'neq';
  return value === undefined ? undefined : { value: bool(value, name), negate };
}

function count(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1 || Number(value) > max) throw errors.invalidRequest(`${name} must be an integer from 1 to ${max}`, `/${name}`);
  return Number(value);
}

/** The query, checked: a value or operator that cannot be applied is refused, never ignored (user_id, deprecated by Cloudflare too, is). */
export function parseAccessRequestsQuery(q: AccessRequestsQuery) {
  const emailOp = op(q.emailOp, 'emailOp', ['eq', 'neq', 'contains']);
  const exact = (q.email_exact !== undefined && bool(q.email_exact, 'email_exact')) || emailOp === 'eq';
  const email = text(q.email === undefined ? undefined : asciiLower(q.email), undefined, 'email');
  const filter: AccessRequestFilter = {
    since: time(q.since, 'since'), until: time(q.until, 'until'),
    email: email && { ...email, exact, negate: emailOp === 'neq' },
    allowed: flag(q.allowed, q.allowedOp, 'allowed'),
    appUid: text(q.app_uid, q.app_uidOp, 'app_uid'), rayId: text(q.ray_id, q.ray_idOp, 'ray_id'),
    idp: text(q.idp, q.idpOp, 'idp'), appType: text(q.app_type, q.app_typeOp, 'app_type'),
    nonIdentity: flag(q.non_identity, q.non_identityOp, 'non_identity'), countryCode: text(q.country_code, q.country_codeOp, 'country_code'),
  };
  const direction = q.direction ?? 'desc';
  if (direction !== 'asc' && direction !== 'desc') throw errors.invalidRequest('direction must be asc or desc', '/direction');
  const perPage = q.per_page !== undefined ? count(q.per_page, 'per_page', DEFAULT_PER_PAGE, MAX_PER_PAGE) : count(q.limit, 'limit', DEFAULT_PER_PAGE, MAX_PER_PAGE);
  const page = { page: count(q.page, 'page', 1, 1_000_000_000), perPage };
  const fields = q.fields === undefined ? undefined : q.fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
  for (const f of fields ?? []) if (!(FIELDS as readonly string[]).includes(f)) throw errors.invalidRequest(`no field ${f.slice(0, 64)}: fields are ${FIELDS.join(', ')}`, '/fields');
  return { filter, direction: direction as 'asc' | 'desc', page, fields };
}

/** A signing decision's audit event in the authentication log's shape. Events from before the request facts were kept read as empty. */
export function accessRequestView(row: AuditRow): AccessRequestView {
  const data = JSON.parse(row.data) as Record<string, unknown>;
  const str = (name: string) => (typeof data[name] === 'string' ? data[name] : '');
  const nonIdentity = row.actor.startsWith('token:');
  const allowed = row.type === DECISION_TYPES[0];
  return {
    action: (data['source'] ?? (nonIdentity ? 'api' : 'cert_sign')) === 'api' ? 'ca_sign' : 'login',
    allowed, app_domain: str('app_domain'), app_uid: str('app_id'), connection: str('connection'), created_at: row.created_at,
    ip_address: str('ip'), ray_id: str('ray_id'), user_email: nonIdentity ? '' : row.actor, non_identity: nonIdentity, actor: row.actor,
    ...(allowed ? { certificate_id: row.subject, serial: str('serial') } : { reason: str('reason') }),
  };
}

/** Cloudflare's authentication log over the audit trail's signing decisions. */
export function createAccessRequestsService(store: AccessRequestsStore) {
  return {
    async list(accountId: string, query: AccessRequestsQuery) {
      const { filter, direction, page, fields } = parseAccessRequestsQuery(query);
      const { rows, total } = await store.list(accountId, filter, direction, pageOffset(page), page.perPage);
      const items = rows.map(accessRequestView).map((v) => (fields === undefined ? v : Object.fromEntries(fields.map((f) => [f, v[f as keyof AccessRequestView]]).filter(([, x]) => x !== undefined))));
      return { items, info: resultInfo(page, rows.length, total) };
    },
  };
}

export type AccessRequestsService = ReturnType<typeof createAccessRequestsService>;
