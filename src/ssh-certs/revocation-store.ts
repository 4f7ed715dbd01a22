import { sql } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { AuditRow } from '../audit/audit-log.ts';

export type CertRow = Database['ssh_certificates'];
export type RevocationRow = Database['ssh_revocations'];

/**
 * What a revocation selects. Certificates, principals, key ids and an application's tokens are selected
 * within one application; a person (identity) and a user key in every application of the account.
 */
export type Selector =
  | { kind: 'certificate'; value: string }
  /** A person, by email: their certificates, and every sign-in (identity token) older than the revocation. */
  | { kind: 'identity'; value: string }
  /** Every person of one application (Cloudflare's revoke_tokens): as `identity`, for all of them at once. */
  | { kind: 'tokens'; value: '' }
  /** A principal: its certificates, and any new certificate naming it until the revocation is lifted. */
  | { kind: 'principal'; value: string }
  /** A family of key ids: `label=<label>`, an identity part (`alice@example.com`, `token:<id>`) or one whole key id. */
  | { kind: 'key_id'; value: string }
  /** A user key, by `SHA256:` fingerprint: its certificates, past and future. */
  | { kind: 'key'; value: string };

/** The kinds that reach every application of the account. */
export const ACCOUNT_WIDE_KINDS: ReadonlySet<Selector['kind']> = new Set(['identity', 'key']);

/** Where a revocation applies: one application, or (app null) every application of the account. */
export interface RevocationTarget {
  accountId: string;
  appId: string | null;
  /** The application the request named (a revoked key is kept under it). */
  via: string | null;
}

/** What lifting a revocation found. */
export type LiftOutcome = { lifted: RevocationRow } | { refused: 'not_found' | 'not_liftable' | 'already_lifted'; row?: RevocationRow };

export interface InventoryFilter {
  principal?: string | undefined;
  identity?: string | undefined;
  keyId?: string | undefined;
  fingerprint?: string | undefined;
  /** ISO time the certificate must be valid at. */
  validAt?: string | undefined;
  status?: 'valid' | 'expired' | 'revoked' | undefined;
}

/** What a KRL is built from: per CA key, the serials of revoked certificates still unexpired; revoked user keys. */
export interface KrlSource {
  version: number;
  updatedAt: string | null;
  byCaKey: { publicKey: string; serials: string[] }[];
  fingerprints: string[];
}

/** Persistence of the inventory's revocations, what they block, revoked keys and the KRL version. */
export interface RevocationStore {
  list(appId: string, filter: InventoryFilter, now: string, offset: number, limit: number): Promise<{ rows: CertRow[]; total: number }>;
  get(appId: string, id: string): Promise<(CertRow & { revocation: RevocationRow | null }) | undefined>;
  /**
   * Revokes what the selector picks, in one transaction: marks the certificates, records the revocation,
   * the revoked key (for kind `key`) and the audit event, and moves the KRL version of every application
   * it reaches on by one.
   */
  revoke(target: RevocationTarget, selector: Selector, revocation: RevocationRow, audit: (count: number) => AuditRow): Promise<number>;
  /** Whether the account has revoked this user key (in any of its applications). */
  isKeyRevoked(accountId: string, fingerprint: string): Promise<boolean>;
  /** The latest time before which this person's sign-ins are refused for the app (their own revocation or the app's tokens'); null if none. */
  signInCutoff(accountId: string, appId: string, identity: string): Promise<string | null>;
  /** The principals the app will not certify until their revocation is lifted. */
  blockedPrincipals(appId: string): Promise<string[]>;
  /** The revocations that reach the app (its own and the account's), newest first. */
  listRevocations(accountId: string, appId: string, offset: number, limit: number): Promise<{ rows: RevocationRow[]; total: number }>;
  getRevocation(accountId: string, appId: string, id: string): Promise<RevocationRow | undefined>;
  /** Lifts a principal's block, with its audit event, in one transaction; certificates stay revoked. */
  lift(accountId: string, appId: string, id: string, at: string, actor: string, audit: (row: RevocationRow) => AuditRow): Promise<LiftOutcome>;
  krlSource(accountId: string, appId: string, caId: string | null, now: string): Promise<KrlSource>;
}

/** Kinds whose revocation can be lifted: only a block that revoked nothing by name (a key stays in the KRL). */
const LIFTABLE = new Set(['principal']);

/**
 * How a key id revocation matches: a caller's label (`label=deploy-7`, the end of every key id issued with
 * it), one whole key id (it holds ` cert=`), or else the identity part every key id starts with
 * (`alice@example.com`, `token:<id>`). Key ids are `<identity> cert=<id>[ label=<label>]`.
 */
export function keyIdFamily(value: string): { match: 'exact' | 'prefix' | 'suffix'; text: string } {
  if (value.startsWith('label=')) return { match: 'suffix', text: ` ${value}` };
  if (value.includes(' cert=')) return { match: 'exact', text: value };
  return { match: 'prefix', text: `${value} cert=` };
}

/** `%` and `_` are LIKE wildcards, `\` the escape: a value is matched as itself. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createRevocationStore(db: Db): RevocationStore {
  /** The applications a target reaches: one, or every one of the account (a subquery, so the indexes on app_id serve). */
  function appsOf(q: Db, target: RevocationTarget) {
    return target.appId !== null ? [target.appId] : q.selectFrom('access_apps').select('id').where('account_id', '=', target.accountId);
  }

  /** Certificates the selector picks; a principal's are narrowed further by exact comparison (LIKE folds case in SQLite). */
  function selected(q: Db, target: RevocationTarget, s: Selector) {
    const base = q.selectFrom('ssh_certificates').where('app_id', 'in', appsOf(q, target));
    switch (s.kind) {
      case 'certificate': return base.where('id', '=', s.value);
      case 'identity': return base.where('identity', '=', s.value);
      case 'tokens': return base.where('source', '=', 'cert_sign');
      case 'key_id': {
        const family = keyIdFamily(s.value);
        const n = [...family.text].length;
        if (family.match === 'exact') return base.where('key_id', '=', family.text);
        return family.match === 'suffix'
          ? base.where(sql<boolean>`substr(key_id, length(key_id) - ${n - 1}) = ${family.text}`).where(sql<boolean>`length(key_id) >= ${n}`)
          : base.where(sql<boolean>`substr(key_id, 1, ${n}) = ${family.text}`);
      }
      case 'key': return base.where('public_key_fingerprint', '=', s.value);
      case 'principal': return base.where(sql<boolean>`principals like ${`%${likeLiteral(JSON.stringify(s.value))}%`} escape '\\'`);
      default: {
        const unreachable: never = s;
        return unreachable;
      }
    }
  }

  function filtered(appId: string, f: InventoryFilter, now: string) {
    let q = db.selectFrom('ssh_certificates').where('app_id', '=', appId);
    if (f.identity !== undefined) q = q.where('identity', '=', f.identity);
    if (f.keyId !== undefined) q = q.where('key_id', '=', f.keyId);
    if (f.fingerprint !== undefined) q = q.where('public_key_fingerprint', '=', f.fingerprint);
    if (f.principal !== undefined) q = q.where(sql<boolean>`principals like ${`%${likeLiteral(JSON.stringify(f.principal))}%`} escape '\\'`);
    if (f.validAt !== undefined) q = q.where('valid_after', '<=', f.validAt).where('valid_before', '>', f.validAt);
    if (f.status === 'revoked') q = q.where('revoked_at', 'is not', null);
    if (f.status === 'valid') q = q.where('revoked_at', 'is', null).where('valid_before', '>', now);
    if (f.status === 'expired') q = q.where('revoked_at', 'is', null).where('valid_before', '<=', now);
    return q;
  }

  return {
    async list(appId, filter, now, offset, limit) {
      const [rows, count] = await Promise.all([
        filtered(appId, filter, now).selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute(),
        filtered(appId, filter, now).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async get(appId, id) {
      const row = await db.selectFrom('ssh_certificates').selectAll().where('app_id', '=', appId).where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      const revocation = row.revocation_id === null ? null
        : (await db.selectFrom('ssh_revocations').selectAll().where('id', '=', row.revocation_id).executeTakeFirst()) ?? null;
      return { ...row, revocation };
    },
    async revoke(target, selector, revocation, audit) {
      return db.transaction().execute(async (trx) => {
        let picked = await selected(trx, target, selector).select(['id', 'principals']).where('revoked_at', 'is', null).execute();
        if (selector.kind === 'principal') picked = picked.filter((r) => (JSON.parse(r.principals) as string[]).includes(selector.value));
        const ids = picked.map((r) => r.id);
        for (let i = 0; i < ids.length; i += 500) {
          await trx.updateTable('ssh_certificates').set({ revoked_at: revocation.created_at, revocation_id: revocation.id })
            .where('id', 'in', ids.slice(i, i + 500)).execute();
        }
        await trx.insertInto('ssh_revocations').values({ ...revocation, certificates: ids.length }).execute();
        if (selector.kind === 'key') {
          // Kept under the application it was named in; read through its revocation's account.
          const madeIn = target.appId ?? target.via;
          if (madeIn === null) throw new Error('a key is revoked through an application');
          await trx.insertInto('ssh_revoked_keys').values({ app_id: madeIn, fingerprint: selector.value, revocation_id: revocation.id, created_at: revocation.created_at })
            .onConflict((oc) => oc.columns(['app_id', 'fingerprint']).doNothing()).execute();
        }
        // Every application the revocation reaches serves a new KRL version (a host compares versions).
        const apps = target.appId !== null ? [target.appId]
          : (await trx.selectFrom('access_apps').select('id').where('account_id', '=', target.accountId).execute()).map((a) => a.id);
        for (const appId of apps) {
          await trx.insertInto('ssh_krl_versions').values({ app_id: appId, version: 1, updated_at: revocation.created_at })
            .onConflict((oc) => oc.column('app_id').doUpdateSet({ version: sql`ssh_krl_versions.version + 1`, updated_at: revocation.created_at })).execute();
        }
        await trx.insertInto('audit_events').values(audit(ids.length)).execute();
        return ids.length;
      });
    },
    async isKeyRevoked(accountId, fingerprint) {
      const row = await db.selectFrom('ssh_revoked_keys').innerJoin('ssh_revocations', 'ssh_revocations.id', 'ssh_revoked_keys.revocation_id')
        .select('ssh_revoked_keys.fingerprint').where('ssh_revocations.account_id', '=', accountId).where('ssh_revoked_keys.fingerprint', '=', fingerprint)
        .executeTakeFirst();
      return row !== undefined;
    },
    async signInCutoff(accountId, appId, identity) {
      const row = await db.selectFrom('ssh_revocations').select((eb) => eb.fn.max('created_at').as('at')).where('account_id', '=', accountId)
        .where((eb) => eb.or([
          eb.and([eb('kind', '=', 'identity'), eb('value', '=', identity)]),
          eb.and([eb('kind', '=', 'tokens'), eb('value', '=', ''), eb('app_id', '=', appId)]),
        ])).executeTakeFirst();
      return row?.at ?? null;
    },
    async blockedPrincipals(appId) {
      const rows = await db.selectFrom('ssh_revocations').select('value').distinct().where('app_id', '=', appId)
        .where('kind', '=', 'principal').where('lifted_at', 'is', null).execute();
      return rows.map((r) => r.value);
    },
    async listRevocations(accountId, appId, offset, limit) {
      const reaching = () => db.selectFrom('ssh_revocations').where('account_id', '=', accountId)
        .where((eb) => eb.or([eb('app_id', '=', appId), eb('app_id', 'is', null)]));
      const [rows, count] = await Promise.all([
        reaching().selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute(),
        reaching().select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    getRevocation: (accountId, appId, id) => db.selectFrom('ssh_revocations').selectAll().where('id', '=', id).where('account_id', '=', accountId)
      .where((eb) => eb.or([eb('app_id', '=', appId), eb('app_id', 'is', null)])).executeTakeFirst(),
    async lift(accountId, appId, id, at, actor, audit) {
      return db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('ssh_revocations').selectAll().where('id', '=', id).where('account_id', '=', accountId)
          .where((eb) => eb.or([eb('app_id', '=', appId), eb('app_id', 'is', null)])).executeTakeFirst();
        if (!row) return { refused: 'not_found' } as const;
        if (!LIFTABLE.has(row.kind)) return { refused: 'not_liftable', row } as const;
        if (row.lifted_at !== null) return { refused: 'already_lifted', row } as const;
        const lifted = { ...row, lifted_at: at, lifted_by: actor };
        await trx.updateTable('ssh_revocations').set({ lifted_at: at, lifted_by: actor }).where('id', '=', id).execute();
        await trx.insertInto('audit_events').values(audit(lifted)).execute();
        return { lifted };
      });
    },
    async krlSource(accountId, appId, caId, now) {
      const [state, certs, keys, caKeys] = await Promise.all([
        db.selectFrom('ssh_krl_versions').selectAll().where('app_id', '=', appId).executeTakeFirst(),
        // Revoked certificates that have expired are left out: sshd refuses them anyway.
        db.selectFrom('ssh_certificates').select(['ca_key_id', 'serial']).where('app_id', '=', appId)
          .where('revoked_at', 'is not', null).where('valid_before', '>', now).execute(),
        // A user key revoked in any application of the account is refused by all of them.
        db.selectFrom('ssh_revoked_keys').innerJoin('ssh_revocations', 'ssh_revocations.id', 'ssh_revoked_keys.revocation_id')
          .select('ssh_revoked_keys.fingerprint').distinct().where('ssh_revocations.account_id', '=', accountId).orderBy('ssh_revoked_keys.fingerprint').execute(),
        caId === null ? Promise.resolve([]) : db.selectFrom('ssh_ca_keys').select(['id', 'public_key']).where('ca_id', '=', caId).execute(),
      ]);
      // Only keys the app's CA still has: certificates of a deleted or retired key are trusted by no server.
      const byCaKey = caKeys.map((k) => ({ publicKey: k.public_key, serials: certs.filter((c) => c.ca_key_id === k.id).map((c) => c.serial) }))
        .filter((k) => k.serials.length > 0);
      return { version: state?.version ?? 0, updatedAt: state?.updated_at ?? null, byCaKey, fingerprints: keys.map((k) => k.fingerprint) };
    },
  };
}
