import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import { canonicalEmail, isIdentityEmail, isPrintableText } from '../platform/text.ts';
import { entityTag } from '../platform/http/conditional.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AccessCasStore } from '../access-cas/access-cas-store.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { encodeKrl } from '../openssh/krl.ts';
import { ACCOUNT_WIDE_KINDS, type CertRow, type InventoryFilter, type RevocationRow, type RevocationStore, type RevocationTarget, type Selector } from './revocation-store.ts';

const PRINCIPAL = /^[A-Za-z0-9._@+_-]{1,256}$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The wire form of an inventory row. */
export function certificateView(row: CertRow, now: Date, revocation?: RevocationRow | null) {
  const status = row.revoked_at !== null ? 'revoked' : Date.parse(row.valid_before) <= now.getTime() ? 'expired' : 'valid';
  return {
    id: row.id, serial: row.serial, key_id: row.key_id, principals: JSON.parse(row.principals) as string[], identity: row.identity,
    public_key_type: row.public_key_type, public_key_fingerprint: row.public_key_fingerprint,
    valid_after: rfc3339(new Date(row.valid_after)), valid_before: rfc3339(new Date(row.valid_before)),
    critical_options: JSON.parse(row.critical_options) as Record<string, string>, extensions: Object.keys(JSON.parse(row.extensions) as object),
    source: row.source, created_at: rfc3339(new Date(row.created_at)), status,
    ...(row.revoked_at === null ? {} : { revoked_at: rfc3339(new Date(row.revoked_at)) }),
    ...(revocation ? { revocation: { id: revocation.id, kind: revocation.kind, reason: revocation.reason, actor: revocation.actor, created_at: rfc3339(new Date(revocation.created_at)) } } : {}),
  };
}

/** The wire form of a revocation: what it selected, where (app_id null: every application of the account), who, when, why. */
export function revocationView(row: RevocationRow) {
  return {
    id: row.id, kind: row.kind, value: row.value, app_id: row.app_id, reason: row.reason, actor: row.actor, certificates: row.certificates,
    created_at: rfc3339(new Date(row.created_at)),
    // Blocks: a person's and an app's tokens refuse sign-ins made before created_at; a principal and a key refuse new certificates.
    blocks: row.kind === 'identity' || row.kind === 'tokens' ? 'earlier_sign_ins' : row.kind === 'principal' ? (row.lifted_at === null ? 'new_certificates' : 'nothing')
      : row.kind === 'key' ? 'new_certificates' : 'nothing',
    ...(row.lifted_at === null ? {} : { lifted_at: rfc3339(new Date(row.lifted_at)), lifted_by: row.lifted_by }),
  };
}

/** A selector from the wire, checked: exactly one of its fields, each in the form it is stored in. */
export function parseSelector(body: { identity?: string | undefined; principal?: string | undefined; key_id?: string | undefined; public_key_fingerprint?: string | undefined }): Selector {
  const given = Object.entries(body).filter(([k, v]) => v !== undefined && k !== 'reason');
  if (given.length !== 1) throw errors.invalidRequest('name exactly one of identity, principal, key_id and public_key_fingerprint');
  const [field, value] = given[0] as [string, string];
  if (field === 'principal' && !PRINCIPAL.test(value)) throw errors.invalidRequest('not a principal', '/principal');
  if (field === 'key_id' && (value === 'label=' || /\s$|^\s/.test(value))) throw errors.invalidRequest('a key id family: label=<label>, an identity (alice@example.com, token:<id>) or one whole key id', '/key_id');
  if (field === 'public_key_fingerprint' && !FINGERPRINT.test(value)) throw errors.invalidRequest('a SHA256: fingerprint as ssh-keygen -l prints it', '/public_key_fingerprint');
  if (field === 'identity') return { kind: 'identity', value: canonicalEmail(value) };
  if (field === 'principal') return { kind: 'principal', value };
  if (field === 'key_id') return { kind: 'key_id', value };
  return { kind: 'key', value };
}

/** The inventory of an application's certificates, their revocation, and the KRL servers enforce it with. */
export function createRevocationService(deps: {
  store: RevocationStore;
  apps: Pick<AccessAppsStore, 'get'>;
  cas: Pick<AccessCasStore, 'getByApp'>;
  audit: Pick<AuditLog, 'row'>;
  clock: Clock;
  random: Random;
}) {
  const { store, apps, cas, audit, clock, random } = deps;

  async function revokeIn(target: RevocationTarget, selector: Selector, reason: string, actor: string) {
    // The routes check it by schema; the CLI reaches here directly.
    if (reason.length < 1 || reason.length > 500 || !isPrintableText(reason)) throw errors.invalidRequest('a reason of 1 to 500 printable characters', '/reason');
    const revocation: RevocationRow = {
      id: random.uuid(), account_id: target.accountId, app_id: target.appId, kind: selector.kind, value: selector.value,
      reason, actor, certificates: 0, created_at: clock.now().toISOString(), lifted_at: null, lifted_by: null,
    };
    const count = await store.revoke(target, selector, revocation, (n) => audit.row({
      accountId: target.accountId, type: 'ssh_certificate.revoked', actor, subject: revocation.id,
      data: { app_id: target.appId ?? target.via, scope: target.appId === null ? 'account' : 'application', kind: selector.kind, value: selector.value, reason, certificates: n },
    }));
    return revocationView({ ...revocation, certificates: count });
  }

  return {
    async list(scope: Scope, appId: string, filter: InventoryFilter, page: PageRequest) {
      const app = await requireApp(apps, scope, appId);
      const now = clock.now();
      const { rows, total } = await store.list(app.id, filter, now.toISOString(), pageOffset(page), page.perPage);
      return { items: rows.map((r) => certificateView(r, now)), info: resultInfo(page, rows.length, total) };
    },
    async get(scope: Scope, appId: string, id: string) {
      const app = await requireApp(apps, scope, appId);
      const row = await store.get(app.id, id.toLowerCase());
      if (!row) throw errors.notFound();
      return certificateView(row, clock.now(), row.revocation);
    },
    /**
     * Revokes what the selector picks; 404 when a single certificate is named and does not exist. A person
     * and a user key are revoked in every application of the account, whichever application is named.
     */
    async revoke(scope: Scope, appId: string, selector: Selector, reason: string, actor: string) {
      const app = await requireApp(apps, scope, appId);
      if (selector.kind === 'certificate' && !(await store.get(app.id, selector.value))) throw errors.notFound();
      return revokeIn({ accountId: app.account_id, appId: ACCOUNT_WIDE_KINDS.has(selector.kind) ? null : app.id, via: app.id }, selector, reason, actor);
    },
    /** Cloudflare's revoke_user: the person's certificates everywhere in the account, and every sign-in older than now. */
    async revokeUser(scope: Scope, email: string, actor: string, reason = 'revoke_user') {
      if (!isIdentityEmail(email)) throw errors.invalidRequest('must be an email address', '/email');
      return revokeIn({ accountId: scope.accountId, appId: null, via: null }, { kind: 'identity', value: canonicalEmail(email) }, reason, actor);
    },
    /** Cloudflare's revoke_tokens: every person of one application, as revokeUser does for one. */
    async revokeTokens(scope: Scope, appId: string, actor: string) {
      const app = await requireApp(apps, scope, appId);
      return revokeIn({ accountId: app.account_id, appId: app.id, via: app.id }, { kind: 'tokens', value: '' }, 'revoke_tokens', actor);
    },
    /** The revocations that reach the app: its own and its account's, newest first. */
    async listRevocations(scope: Scope, appId: string, page: PageRequest) {
      const app = await requireApp(apps, scope, appId);
      const { rows, total } = await store.listRevocations(app.account_id, app.id, pageOffset(page), page.perPage);
      return { items: rows.map(revocationView), info: resultInfo(page, rows.length, total) };
    },
    async getRevocation(scope: Scope, appId: string, id: string) {
      const app = await requireApp(apps, scope, appId);
      const row = await store.getRevocation(app.account_id, app.id, id.toLowerCase());
      if (!row) throw errors.notFound();
      return revocationView(row);
    },
    /** Lifts a principal's block: the principal may be certified again; what was revoked stays in the KRL. */
    async lift(scope: Scope, appId: string, id: string, actor: string) {
      const app = await requireApp(apps, scope, appId);
      const outcome = await store.lift(app.account_id, app.id, id.toLowerCase(), clock.now().toISOString(), actor, (row) => audit.row({
        accountId: app.account_id, type: 'ssh_revocation.lifted', actor, subject: row.id, data: { app_id: app.id, kind: row.kind, value: row.value },
      }));
      if ('lifted' in outcome) return revocationView(outcome.lifted);
      if (outcome.refused === 'not_found') throw errors.notFound();
      if (outcome.refused === 'already_lifted') throw errors.revocationNotLiftable(`revocation ${id} was lifted already`);
      throw errors.revocationNotLiftable(`a ${outcome.row!.kind} revocation cannot be lifted, only a principal's: ${outcome.row!.kind === 'key'
        ? 'a revoked key is never certified again; make a new key' : outcome.row!.kind === 'identity' || outcome.row!.kind === 'tokens'
          ? 'the person signs in again to get a new certificate' : 'revoked certificates stay revoked'}`);
    },
    /** The app's KRL: its bytes, an ETag of them, and its version. */
    async krl(scope: Scope, appId: string) {
      const app = await requireApp(apps, scope, appId);
      const ca = await cas.getByApp(app.id);
      const source = await store.krlSource(app.account_id, app.id, ca?.id ?? null, clock.now().toISOString());
      const bytes = encodeKrl({
        version: BigInt(source.version),
        generatedDate: BigInt(Math.floor(Date.parse(source.updatedAt ?? '1970-01-01T00:00:00Z') / 1000)),
        comment: `access-ca app ${app.id}`,
        // Serial 0 is never issued (and OpenSSH cannot revoke it): a stray one must not break every host's KRL.
        certificates: source.byCaKey.map((k) => ({ caKeyBlob: Buffer.from(k.publicKey, 'base64'), serials: k.serials.filter((s) => s !== '0').map((s) => BigInt(s)), keyIds: [] })),
        sha256Keys: source.fingerprints.map((f) => Buffer.from(f.slice('SHA256:'.length), 'base64')),
      });
      return { bytes, version: source.version, etag: entityTag(bytes) };
    },
  };
}

export type RevocationService = ReturnType<typeof createRevocationService>;
