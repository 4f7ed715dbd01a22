import { sql } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { AuditRow } from '../audit/audit-log.ts';

export type CertRow = Database['ssh_certificates'];
export type RevocationRow = Database['ssh_revocations'];

/** What a revocation selects, within one application. */
export type Selector =
  | { kind: 'certificate'; value: string }
  | { kind: 'identity'; value: string }
  | { kind: 'principal'; value: string }
  | { kind: 'key_id'; value: string }
  /** A user key, by `SHA256:` fingerprint: its certificates, past and future. */
  | { kind: 'key'; value: string };

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

/** Persistence of the inventory's revocations, revoked keys and the KRL version. */
export interface RevocationStore {
  list(appId: string, filter: InventoryFilter, now: string, offset: number, limit: number): Promise<{ rows: CertRow[]; total: number }>;
  get(appId: string, id: string): Promise<(CertRow & { revocation: RevocationRow | null }) | undefined>;
  /**
   * Revokes what the selector picks, in one transaction: marks the certificates, records the revocation,
   * the revoked key (for kind `key`) and the audit event, and moves the KRL version on by one.
   */
  revoke(appId: string, selector: Selector, revocation: RevocationRow, audit: (count: number) => AuditRow): Promise<number>;
  isKeyRevoked(appId: string, fingerprint: string): Promise<boolean>;
  krlSource(appId: string, caId: string | null, now: string): Promise<KrlSource>;
}

/** `%` and `_` are LIKE wildcards, `\` the escape: a value is matched as itself. */
const likeLiteral = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createRevocationStore(db: Db): RevocationStore {
  function selected(q: Db, appId: string, s: Selector) {
    const base = q.selectFrom('ssh_certificates').where('app_id', '=', appId);
    switch (s.kind) {
      case 'certificate': return base.where('id', '=', s.value);
      case 'identity': return base.where('identity', '=', s.value);
      case 'key_id': return base.where('key_id', '=', s.value);
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
    async revoke(appId, selector, revocation, audit) {
      return db.transaction().execute(async (trx) => {
        const ids = (await selected(trx, appId, selector).select('id').where('revoked_at', 'is', null).execute()).map((r) => r.id);
        for (let i = 0; i < ids.length; i += 500) {
          await trx.updateTable('ssh_certificates').set({ revoked_at: revocation.created_at, revocation_id: revocation.id })
            .where('id', 'in', ids.slice(i, i + 500)).execute();
        }
        await trx.insertInto('ssh_revocations').values({ ...revocation, certificates: ids.length }).execute();
        if (selector.kind === 'key') {
          await trx.insertInto('ssh_revoked_keys').values({ app_id: appId, fingerprint: selector.value, revocation_id: revocation.id, created_at: revocation.created_at })
            .onConflict((oc) => oc.columns(['app_id', 'fingerprint']).doNothing()).execute();
        }
        await trx.insertInto('ssh_krl_versions').values({ app_id: appId, version: 1, updated_at: revocation.created_at })
          .onConflict((oc) => oc.column('app_id').doUpdateSet({ version: sql`ssh_krl_versions.version + 1`, updated_at: revocation.created_at })).execute();
        await trx.insertInto('audit_events').values(audit(ids.length)).execute();
        return ids.length;
      });
    },
    async isKeyRevoked(appId, fingerprint) {
      return (await db.selectFrom('ssh_revoked_keys').select('app_id').where('app_id', '=', appId).where('fingerprint', '=', fingerprint).executeTakeFirst()) !== undefined;
    },
    async krlSource(appId, caId, now) {
      const [state, certs, keys, caKeys] = await Promise.all([
        db.selectFrom('ssh_krl_versions').selectAll().where('app_id', '=', appId).executeTakeFirst(),
        // Revoked certificates that have expired are left out: sshd refuses them anyway.
        db.selectFrom('ssh_certificates').select(['ca_key_id', 'serial']).where('app_id', '=', appId)
          .where('revoked_at', 'is not', null).where('valid_before', '>', now).execute(),
        db.selectFrom('ssh_revoked_keys').select('fingerprint').where('app_id', '=', appId).orderBy('fingerprint').execute(),
        caId === null ? Promise.resolve([]) : db.selectFrom('ssh_ca_keys').select(['id', 'public_key']).where('ca_id', '=', caId).execute(),
      ]);
      // Only keys the app's CA still has: certificates of a deleted or retired key are trusted by no server.
      const byCaKey = caKeys.map((k) => ({ publicKey: k.public_key, serials: certs.filter((c) => c.ca_key_id === k.id).map((c) => c.serial) }))
        .filter((k) => k.serials.length > 0);
      return { version: state?.version ?? 0, updatedAt: state?.updated_at ?? null, byCaKey, fingerprints: keys.map((k) => k.fingerprint) };
    },
  };
}
