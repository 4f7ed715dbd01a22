import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { errors, type ApiError } from '../platform/http/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { requireApp, type AccessAppsStore, type AppRow } from '../access-apps/access-apps-store.ts';
import { fingerprintOf } from '../openssh/user-public-key.ts';
import { CA_KEY_ALGORITHM, caKeyAad, generateCaKey } from './ca-key-material.ts';
import type { AccessCasStore, CaKeyRow, CaKeyState, CaRecord, RotationRefusal } from './access-cas-store.ts';
import { rotationRefusal, STATE_ORDER } from './key-rotation.ts';
import type { CaKeyView, CaView, TrustedKeysView } from './access-cas-schemas.ts';

export interface AccessCasDeps {
  cas: AccessCasStore;
  apps: Pick<AccessAppsStore, 'get'>;
  vault: Pick<KeyVault, 'seal'>;
  audit: Pick<AuditLog, 'row'>;
  clock: Clock;
  random: Random;
  keyComment: string;
}

/** Who acted when the caller does not say: the operator on the data directory (the admin verbs). */
const OPERATOR = 'cli';

const refusal = (reason: RotationRefusal): ApiError => rotationRefusal(reason);

/**
 * The per-app short-lived certificate CA: Cloudflare's `/access/apps/{app_id}/ca` family, and its key
 * rotation with overlap (ours). Every change is an audit event written with it; `actor` says who acted
 * (routes pass the principal's; create and delete default to the operator for the admin verbs' callers).
 */
export function createAccessCasService(deps: AccessCasDeps) {
  const { cas, apps, vault, audit, clock, random, keyComment } = deps;

  const keyLine = (blob: string) => `${CA_KEY_ALGORITHM} ${blob} ${keyComment}`.trimEnd();
  const view = (r: CaRecord): CaView => ({ id: r.id, aud: r.aud, public_key: keyLine(r.public_key) });
  const keyView = (k: CaKeyRow): CaKeyView => ({ id: k.id, state: k.state as CaKeyState, public_key: keyLine(k.public_key), created_at: k.created_at });
  const keyData = (app: AppRow, k: CaKeyRow) => ({ app_id: app.id, key_id: k.id, fingerprint: fingerprintOf(Buffer.from(k.public_key, 'base64')) });

  const appIn = (scope: Scope, appId: string) => requireApp(apps, scope, appId);
  const caOf = async (scope: Scope, appId: string) => {
    const app = await appIn(scope, appId);
    const ca = await cas.getByApp(app.id);
    if (!ca) throw errors.notFound();
    return { app, ca };
  };

  /** A fresh key pair for a CA, sealed to its row: made before any transaction, which then only writes. */
  const newKey = (caId: string, state: CaKeyState): CaKeyRow => {
    const keyId = random.hex(16);
    const { publicBlob, pkcs8 } = generateCaKey();
    const sealed = vault.seal(pkcs8, caKeyAad(caId, keyId));
    pkcs8.fill(0);
    return { id: keyId, ca_id: caId, state, algorithm: CA_KEY_ALGORITHM, public_key: publicBlob.toString('base64'), private_key_sealed: sealed, created_at: clock.now().toISOString() };
  };

  return {
    async create(scope: Scope, appId: string, actor: string = OPERATOR): Promise<CaView> {
      const app = await appIn(scope, appId);
      if (await cas.getByApp(app.id)) throw errors.caAlreadyExists();
      const caId = random.hex(24);
      const key = newKey(caId, 'active');
      const event = audit.row({ accountId: app.account_id, type: 'ssh_ca.created', actor, subject: caId, data: keyData(app, key) });
      try {
        await cas.insert({ id: caId, app_id: app.id, created_at: key.created_at }, key, event);
      } catch (error) {
        if (isUniqueViolation(error)) throw errors.caAlreadyExists();
        if (isForeignKeyViolation(error)) throw errors.notFound();
        throw error;
      }
      return view({ id: caId, app_id: app.id, aud: app.aud, public_key: key.public_key });
    },
    async get(scope: Scope, appId: string): Promise<CaView> {
      return view((await caOf(scope, appId)).ca);
    },
    async list(scope: Scope, page: PageRequest) {
      const { rows, total } = await cas.list(scope, pageOffset(page), page.perPage);
      return { items: rows.map(view), info: resultInfo(page, rows.length, total) };
    },
    async delete(scope: Scope, appId: string, actor: string = OPERATOR): Promise<{ id: string }> {
      const app = await appIn(scope, appId);
      const id = await cas.deleteByApp(app.id, (caId) => audit.row({ accountId: app.account_id, type: 'ssh_ca.deleted', actor, subject: caId, data: { app_id: app.id } }));
      if (id === undefined) throw errors.notFound();
      return { id };
    },

    /** Adds the next key, which servers should trust before it signs; one rotation at a time. */
    async rotate(scope: Scope, appId: string, actor: string): Promise<CaKeyView> {
      const { app, ca } = await caOf(scope, appId);
      // Refuses before making a key when it can; the transaction checks again, under the CA's lock.
      const keys = await cas.keysOf(ca.id);
      if (keys.some((k) => k.state === 'next')) throw refusal('next_exists');
      if (keys.some((k) => k.state === 'previous')) throw refusal('previous_exists');
      const key = newKey(ca.id, 'next');
      const step = await cas.addNextKey(key, audit.row({ accountId: app.account_id, type: 'ssh_ca.rotated', actor, subject: ca.id, data: keyData(app, key) }));
      if (!step.ok) throw refusal(step.refused);
      return keyView(key);
    },
    /** Moves signing to the next key; the active key stays trusted as the previous one until retired. */
    async activate(scope: Scope, appId: string, actor: string): Promise<CaKeyView> {
      const { app, ca } = await caOf(scope, appId);
      const step = await cas.activateNextKey(ca.id, ({ active, previous }) => audit.row({
        accountId: app.account_id, type: 'ssh_ca.activated', actor, subject: ca.id,
        data: { ...keyData(app, active), previous_key_id: previous.id },
      }));
      if (!step.ok) throw refusal(step.refused);
      return keyView(step.active);
    },
    /** Deletes the previous key: servers that drop it refuse the certificates it signed. */
    async retire(scope: Scope, appId: string, actor: string): Promise<{ id: string }> {
      const { app, ca } = await caOf(scope, appId);
      const step = await cas.retirePreviousKey(ca.id, (retired) => audit.row({ accountId: app.account_id, type: 'ssh_ca.retired', actor, subject: ca.id, data: keyData(app, retired) }));
      if (!step.ok) throw refusal(step.refused);
      return { id: step.retired.id };
    },
    /** Every key servers should trust now, and the TrustedUserCAKeys file: active, then next, then previous. */
    async trustedKeys(scope: Scope, appId: string): Promise<TrustedKeysView> {
      const { ca } = await caOf(scope, appId);
      const keys = (await cas.keysOf(ca.id)).map(keyView).sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state]);
      if (keys.length === 0) throw errors.notFound(); // deleted since the lookup
      return { keys, trusted_user_ca_keys: keys.map((k) => `${k.public_key}\n`).join('') };
    },
  };
}

export type AccessCasService = ReturnType<typeof createAccessCasService>;
