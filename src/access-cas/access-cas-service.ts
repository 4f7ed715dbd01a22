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
import { noCaKeyToken, type CaKeyToken, type KeyStorage } from '../signers/ca-key-token.ts';

export interface AccessCasDeps {
  cas: AccessCasStore;
  apps: Pick<AccessAppsStore, 'get'>;
  vault: Pick<KeyVault, 'seal'>;
  audit: Pick<AuditLog, 'row'>;
  clock: Clock;
  random: Random;
  keyComment: string;
  /** Where keys asked to live in a PKCS#11 token are made (`serve --pkcs11-*`); none: such a request is a 503 saying so. */
  token?: Pick<CaKeyToken, 'generateKey' | 'destroyKey'> | undefined;
  /** Where a new CA's key lives when the request does not say (`sealed` unless configured). */
  defaultKeyStorage?: KeyStorage | undefined;
  /** Where a token key that outlived its row is reported (its destroy failed): never a reason to fail the request. */
  log?: { warn(obj: object, msg: string): void } | undefined;
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
  const token = deps.token ?? noCaKeyToken;

  const keyLine = (blob: string) => `${CA_KEY_ALGORITHM} ${blob} ${keyComment}`.trimEnd();
  const view = (r: CaRecord): CaView => ({ id: r.id, aud: r.aud, public_key: keyLine(r.public_key) });
  const keyView = (k: CaKeyRow): CaKeyView => ({
    id: k.id, state: k.state as CaKeyState, public_key: keyLine(k.public_key), created_at: k.created_at, key_storage: k.key_storage === 'pkcs11' ? 'pkcs11' : 'sealed',
  });
  const keyData = (app: AppRow, k: CaKeyRow) => ({ app_id: app.id, key_id: k.id, fingerprint: fingerprintOf(Buffer.from(k.public_key, 'base64')) });

  const appIn = (scope: Scope, appId: string) => requireApp(apps, scope, appId);
  const caOf = async (scope: Scope, appId: string) => {
    const app = await appIn(scope, appId);
    const ca = await cas.getByApp(app.id);
    if (!ca) throw errors.notFound();
    return { app, ca };
  };

  /**
   * A fresh key pair for a CA: sealed to its row, or made inside the PKCS#11 token (labelled with the CA id,
   * its CKA_ID the key id) so that the row holds only the public key and the object's id. Made before any
   * transaction, which then only writes.
   */
  const newKey = async (caId: string, state: CaKeyState, storage: KeyStorage): Promise<CaKeyRow> => {
    const keyId = random.hex(16);
    const row = { id: keyId, ca_id: caId, state, algorithm: CA_KEY_ALGORITHM, created_at: clock.now().toISOString() };
    if (storage === 'pkcs11') {
      const publicBlob = await token.generateKey(caId, Buffer.from(keyId, 'hex'));
      return { ...row, public_key: publicBlob.toString('base64'), private_key_sealed: new Uint8Array(0), key_storage: 'pkcs11', token_object_id: keyId };
    }
    const { publicBlob, pkcs8 } = generateCaKey();
    const sealed = vault.seal(pkcs8, caKeyAad(caId, keyId));
    pkcs8.fill(0);
    return { ...row, public_key: publicBlob.toString('base64'), private_key_sealed: sealed, key_storage: 'sealed', token_object_id: null };
  };
  /** Destroys the token objects of keys whose rows are gone; a failure leaves an unused object, logged, never a CA without its key. */
  const destroyTokenKeys = async (keys: Pick<CaKeyRow, 'key_storage' | 'token_object_id'>[]) => {
    for (const key of keys) {
      if (key.key_storage !== 'pkcs11' || !key.token_object_id) continue;
      await token.destroyKey(key.token_object_id).catch((error: unknown) =>
        deps.log?.warn({ event: 'pkcs11.destroy_failed', token_object_id: key.token_object_id, err: error }, 'a deleted CA key is still in the PKCS#11 token'));
    }
  };

  return {
    async create(scope: Scope, appId: string, actor: string = OPERATOR, keyStorage: KeyStorage = deps.defaultKeyStorage ?? 'sealed'): Promise<CaView> {
      const app = await appIn(scope, appId);
      if (await cas.getByApp(app.id)) throw errors.caAlreadyExists();
      const caId = random.hex(24);
      const key = await newKey(caId, 'active', keyStorage);
      const event = audit.row({ accountId: app.account_id, type: 'ssh_ca.created', actor, subject: caId, data: { ...keyData(app, key), ...(keyStorage === 'pkcs11' ? { key_storage: keyStorage } : {}) } });
      try {
        await cas.insert({ id: caId, app_id: app.id, created_at: key.created_at }, key, event);
      } catch (error) {
        await destroyTokenKeys([key]);
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
      const held = await cas.getByApp(app.id);
      const keys = held ? await cas.keysOf(held.id) : [];
      const id = await cas.deleteByApp(app.id, (caId) => audit.row({ accountId: app.account_id, type: 'ssh_ca.deleted', actor, subject: caId, data: { app_id: app.id } }));
      if (id === undefined) throw errors.notFound();
      // Only once the rows are gone: a delete that failed leaves the CA with its key.
      await destroyTokenKeys(keys.filter((k) => k.ca_id === id));
      return { id };
    },

    /** Adds the next key, which servers should trust before it signs; one rotation at a time. */
    async rotate(scope: Scope, appId: string, actor: string, keyStorage?: KeyStorage): Promise<CaKeyView> {
      const { app, ca } = await caOf(scope, appId);
      // Refuses before making a key when it can; the transaction checks again, under the CA's lock.
      const keys = await cas.keysOf(ca.id);
      if (keys.some((k) => k.state === 'next')) throw refusal('next_exists');
      if (keys.some((k) => k.state === 'previous')) throw refusal('previous_exists');
      // The next key lives where asked, or where the active one does.
      const storage: KeyStorage = keyStorage ?? (keys.find((k) => k.state === 'active')?.key_storage === 'pkcs11' ? 'pkcs11' : 'sealed');
      const key = await newKey(ca.id, 'next', storage);
      const step = await cas.addNextKey(key, audit.row({ accountId: app.account_id, type: 'ssh_ca.rotated', actor, subject: ca.id, data: { ...keyData(app, key), ...(storage === 'pkcs11' ? { key_storage: storage } : {}) } }));
      if (!step.ok) {
        await destroyTokenKeys([key]);
        throw refusal(step.refused);
      }
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
      await destroyTokenKeys([step.retired]);
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
