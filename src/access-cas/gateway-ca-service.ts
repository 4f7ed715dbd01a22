import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { errors, type ApiError } from '../platform/http/errors.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import type { AuditSink } from '../platform/audit-events.ts';
import { fingerprintOf } from '../openssh/user-public-key.ts';
import { CA_KEY_ALGORITHM, generateCaKey } from './ca-key-material.ts';
import { rotationRefusal, STATE_ORDER, type CaKeyState, type RotationRefusal } from './key-rotation.ts';
import { accountCaRotation } from './account-ca-rotation.ts';
import type { GatewayCaKeyRow, GatewayCaRow, GatewayCaStore } from './gateway-ca-store.ts';

/** What binds a sealed gateway CA key to its rows: never the same words as another CA's. */
export const gatewayCaKeyAad = (caId: string, keyId: string): string => `access-ca/gateway_ca_keys/v1/${caId}/${keyId}`;

const NONE = 'the account has no gateway CA: POST /access/gateway_ca makes it';
const refusal = (reason: RotationRefusal): ApiError => rotationRefusal(reason, 'the gateway CA', errors.notFound(NONE));

/**
 * Each account's gateway CA: Cloudflare's `/accounts/{id}/access/gateway_ca` (`{id, public_key}`, one per
 * account), with the rotation steps application CAs have. It signs the certificates of infrastructure
 * applications, and the targets they cover trust it.
 */
export function createGatewayCaService(deps: { store: GatewayCaStore; vault: Pick<KeyVault, 'seal'>; audit: Pick<AuditSink, 'row'>; clock: Clock; random: Random; keyComment: string }) {
  const { store, vault, audit, clock, random } = deps;
  const keyLine = (blob: string) => `${CA_KEY_ALGORITHM} ${blob} ${deps.keyComment}`;
  const keyView = (k: GatewayCaKeyRow) => ({ id: k.id, state: k.state as CaKeyState, public_key: keyLine(k.public_key), created_at: rfc3339(new Date(k.created_at)) });
  const keyData = (k: GatewayCaKeyRow) => ({ key_id: k.id, fingerprint: fingerprintOf(Buffer.from(k.public_key, 'base64')) });
  const newKey = (ca: { id: string }, accountId: string, state: CaKeyState = 'next'): GatewayCaKeyRow => {
    const keyId = random.hex(16);
    const { publicBlob, pkcs8 } = generateCaKey();
    const sealed = vault.seal(pkcs8, gatewayCaKeyAad(ca.id, keyId));
    pkcs8.fill(0);
    return { id: keyId, ca_id: ca.id, account_id: accountId, state, algorithm: CA_KEY_ALGORITHM, public_key: publicBlob.toString('base64'), private_key_sealed: sealed, created_at: clock.now().toISOString() };
  };
  const existing = async (accountId: string): Promise<GatewayCaRow> => {
    const ca = await store.byAccount(accountId);
    if (!ca) throw errors.notFound(NONE);
    return ca;
  };
  /** Cloudflare's object (the active key's line), and our `keys`: every key servers should trust now. */
  async function view(ca: GatewayCaRow) {
    const keys = (await store.keysOf(ca.id)).sort((a, b) => STATE_ORDER[a.state as CaKeyState] - STATE_ORDER[b.state as CaKeyState]);
    const active = keys.find((k) => k.state === 'active');
    if (!active) throw errors.notFound(NONE); // deleted since the lookup
    return { id: ca.id, public_key: keyLine(active.public_key), keys: keys.map(keyView), created_at: rfc3339(new Date(ca.created_at)) };
  }

  return {
    /** Makes the account's gateway CA; a second is refused as Cloudflare refuses a second CA (12131). */
    async create(accountId: string, actor: string) {
      if (await store.byAccount(accountId)) throw errors.caAlreadyExists();
      const ca: GatewayCaRow = { id: random.uuid(), account_id: accountId, created_at: clock.now().toISOString() };
      const key = newKey(ca, accountId, 'active');
      try {
        await store.insert(ca, key, audit.row({ accountId, type: 'gateway_ca.created', actor, subject: ca.id, data: keyData(key) }));
      } catch (error) {
        // Two creates at once: the database keeps one per account, and the other is told so.
        if (isUniqueViolation(error)) throw errors.caAlreadyExists();
        throw error;
      }
      return view(ca);
    },
    /** Cloudflare's list: the account's gateway CA, or none. */
    async list(accountId: string) {
      const ca = await store.byAccount(accountId);
      return ca ? [await view(ca)] : [];
    },
    /** Deletes the gateway CA (every key): the targets that trusted it drop it at their next sync. */
    async delete(accountId: string, id: string, actor: string) {
      const ca = await store.byAccount(accountId);
      if (!ca || ca.id !== id.toLowerCase()) throw errors.notFound(`no gateway CA ${id} in this account`);
      const deleted = await store.delete(accountId, ca.id, audit.row({ accountId, type: 'gateway_ca.deleted', actor, subject: ca.id, data: {} }));
      if (!deleted) throw errors.notFound(`no gateway CA ${id} in this account`);
      return { id: ca.id };
    },
    ...accountCaRotation({ kind: 'gateway_ca', store, existing, newKey: (ca, accountId) => newKey(ca, accountId), view: keyView, keyData, row: audit.row, refusal }),
    /** Every public key targets should trust now (active, next, previous), as OpenSSH lines; none without a CA. */
    async trustedKeys(accountId: string): Promise<string[]> {
      const ca = await store.byAccount(accountId);
      if (!ca) return [];
      return (await store.keysOf(ca.id)).sort((a, b) => STATE_ORDER[a.state as CaKeyState] - STATE_ORDER[b.state as CaKeyState]).map((k) => keyLine(k.public_key));
    },
  };
}

export type GatewayCaService = ReturnType<typeof createGatewayCaService>;
