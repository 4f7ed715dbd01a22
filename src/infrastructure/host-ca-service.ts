import { rfc3339, type Clock } from '../platform/clock.ts';
import { publicRandomBytes, type Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import type { Db } from '../platform/db/schema.ts';
import { errors, type ApiError } from '../platform/http/errors.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { CA_KEY_ALGORITHM, generateCaKey } from '../access-cas/ca-key-material.ts';
import { rotationRefusal, STATE_ORDER, type CaKeyState, type RotationRefusal } from '../access-cas/key-rotation.ts';
import { accountCaRotation } from '../access-cas/account-ca-rotation.ts';
import { createCaSigners } from '../ssh-certs/ca-signers.ts';
import { certTypeFor, SSH_CERT_TYPE_HOST, type CertificateBody } from '../openssh/certificate.ts';
import { signCertificate, verifyIssued } from '../openssh/sign-certificate.ts';
import { fingerprintOf, parseUserPublicKey, PublicKeyError } from '../openssh/user-public-key.ts';
import type { HostCaKeyRow, HostCaRow, HostCaStore } from './host-ca-store.ts';
import type { EnrolledHost } from './host-enrollment-store.ts';
import { hostKeysOf } from './host-enrollment-service.ts';
import { hostOwner } from './host-owner.ts';
import { zoneHolding } from '../identity/host-delegation.ts';

/** Host certificates live 30 days unless the account's host CA says less (and at most a year). */
export const DEFAULT_HOST_CERT_TTL_S = 30 * 86_400;
export const MAX_HOST_CERT_TTL_S = 365 * 86_400;
/** sshd refuses a certificate whose start is ahead of its clock: hosts and clients may lag. */
const BACKDATE_S = 300;
const HOST_CA_COMMENT = 'access-ca-host-ca';

/** What binds a sealed host CA key to its rows: never the same words as an application CA's (caKeyAad). */
export const hostCaKeyAad = (caId: string, keyId: string): string => `access-ca/host_ca_keys/v1/${caId}/${keyId}`;

const refusal = (reason: RotationRefusal): ApiError => rotationRefusal(reason, 'the host CA', errors.notFound('the account has no host CA'));

/**
 * Each account's host CA (ours: `/accounts/{id}/access/host_ca`): made on first use, rotated with
 * overlap like an application's CA, and the host certificates it signs for enrolled hosts. Its public
 * keys are public, through `/cdn-cgi/access/host_ca`, for the names the account holds.
 */
export function createHostCaService(deps: { db: Db; store: HostCaStore; vault: Pick<KeyVault, 'seal' | 'open'>; audit: Pick<AuditLog, 'row'>; clock: Clock; random: Random }) {
  const { store, vault, audit, clock, random } = deps;
  const signers = createCaSigners({ vault, aad: hostCaKeyAad });
  const keyLine = (blob: string) => `${CA_KEY_ALGORITHM} ${blob} ${HOST_CA_COMMENT}`;
  const keyView = (k: HostCaKeyRow) => ({ id: k.id, state: k.state as CaKeyState, public_key: keyLine(k.public_key), created_at: rfc3339(new Date(k.created_at)) });
  const sorted = (keys: HostCaKeyRow[]) => [...keys].sort((a, b) => STATE_ORDER[a.state as CaKeyState] - STATE_ORDER[b.state as CaKeyState]);

  const newKey = (ca: Pick<HostCaRow, 'id' | 'account_id'>, state: CaKeyState): HostCaKeyRow => {
    const keyId = random.hex(16);
    const { publicBlob, pkcs8 } = generateCaKey();
    const sealed = vault.seal(pkcs8, hostCaKeyAad(ca.id, keyId));
    pkcs8.fill(0);
    return { id: keyId, ca_id: ca.id, account_id: ca.account_id, state, algorithm: CA_KEY_ALGORITHM, public_key: publicBlob.toString('base64'), private_key_sealed: sealed, created_at: clock.now().toISOString() };
  };
  const keyData = (k: HostCaKeyRow) => ({ key_id: k.id, fingerprint: fingerprintOf(Buffer.from(k.public_key, 'base64')) });

  /** The account's host CA, made now when it has none (two nodes racing make one: the loser reads the winner's). */
  async function ensure(accountId: string, actor: string): Promise<HostCaRow> {
    const found = await store.byAccount(accountId);
    if (found) return found;
    const ca: HostCaRow = { id: random.hex(24), account_id: accountId, max_ttl: DEFAULT_HOST_CERT_TTL_S, created_at: clock.now().toISOString() };
    const key = newKey(ca, 'active');
    try {
      await store.insert(ca, key, audit.row({ accountId, type: 'host_ca.created', actor, subject: ca.id, data: keyData(key) }));
      return ca;
    } catch (error) {
      const winner = isUniqueViolation(error) ? await store.byAccount(accountId) : undefined;
      if (winner) return winner;
      throw error;
    }
  }
  const existing = async (accountId: string) => {
    const ca = await store.byAccount(accountId);
    if (!ca) throw errors.notFound('the account has no host CA yet; POST /access/host_ca makes it, and so does the first host certificate');
    return ca;
  };
  async function view(ca: HostCaRow) {
    const keys = sorted(await store.keysOf(ca.id));
    const active = keys.find((k) => k.state === 'active');
    if (!active) throw errors.notFound('the account has no host CA'); // deleted since the lookup
    return { id: ca.id, public_key: keyLine(active.public_key), keys: keys.map(keyView), max_ttl: ca.max_ttl, created_at: rfc3339(new Date(ca.created_at)) };
  }

  /**
   * The target's names that are the account's to certify: a name in another account's zone is that
   * account's (a zone may have been delegated after the target was named), so it is left out.
   */
  async function ownedPrincipals(host: EnrolledHost): Promise<string[]> {
    const out: string[] = [];
    for (const name of principalsOf(host)) {
      const zone = await zoneHolding(deps.db, name);
      if (zone === undefined || zone.account_id === host.account_id) out.push(name);
    }
    return out;
  }

  return {
    ensure,
    /** The host CA as it is; 404 before it exists (a read never makes one). */
    view: async (accountId: string) => view(await existing(accountId)),
    /** Makes the host CA if needed and sets the longest host certificate it signs. */
    async configure(accountId: string, maxTtl: number | undefined, actor: string) {
      const ca = await ensure(accountId, actor);
      if (maxTtl !== undefined && maxTtl !== ca.max_ttl) {
        if (!Number.isInteger(maxTtl) || maxTtl < 3600 || maxTtl > MAX_HOST_CERT_TTL_S) throw errors.invalidRequest('max_ttl must be from 1h to 8760h', '/max_ttl');
        await store.setMaxTtl(ca.id, maxTtl, audit.row({ accountId, type: 'host_ca.updated', actor, subject: ca.id, data: { max_ttl: maxTtl } }));
        ca.max_ttl = maxTtl;
      }
      return view(ca);
    },
    ...accountCaRotation({ kind: 'host_ca', store, existing, newKey: (ca, accountId) => newKey({ id: ca.id, account_id: accountId }, 'next'), view: keyView, keyData, row: audit.row, refusal }),

    /**
     * The active key's fingerprint and the names an enrolled host's certificates carry: what its agent
     * compares its certificates with. No key while the host's own name is another account's.
     */
    async hostStatus(host: EnrolledHost) {
      const ca = await store.byAccount(host.account_id);
      const active = ca ? (await store.keysOf(ca.id)).find((k) => k.state === 'active') : undefined;
      const principals = await ownedPrincipals(host);
      const usable = active !== undefined && principals[0] === host.host;
      return { active_key: usable ? fingerprintOf(Buffer.from(active.public_key, 'base64')) : null, principals };
    },

    /**
     * Host certificates for an enrolled host's own keys (all of them, or those named): its target's
     * hostname and aliases as principals, nothing the host asks for, for at most the CA's max_ttl.
     */
    async issue(host: EnrolledHost, opts: { publicKeys?: string[] | undefined; ttlSeconds?: number | undefined }) {
      const ca = await ensure(host.account_id, `host:${host.id}`);
      const ttl = Math.min(opts.ttlSeconds ?? ca.max_ttl, ca.max_ttl);
      if (!Number.isInteger(ttl) || ttl < 60) throw errors.invalidRequest('ttl must be at least 1m', '/ttl');
      const enrolled = hostKeysOf(host);
      let keys = enrolled;
      if (opts.publicKeys !== undefined) {
        keys = opts.publicKeys.map((line, i) => {
          let key;
          try {
            key = parseUserPublicKey(line);
          } catch (error) {
            if (error instanceof PublicKeyError) throw errors.invalidRequest(error.message, `/public_keys/${i}`);
            throw error;
          }
          if (!enrolled.some((k) => k.fingerprint === key.fingerprint)) throw errors.policyRefused(`the host key ${key.fingerprint} is not one this host enrolled with`);
          return key;
        });
      }
      const active = (await store.keysOf(ca.id)).find((k) => k.state === 'active');
      if (!active) throw errors.notFound('the account has no host CA');
      const { signer, publicKey } = signers.forKey(active);
      const principals = await ownedPrincipals(host);
      if (principals[0] !== host.host) throw errors.policyRefused(`the host name ${host.host} is in a zone of another account; its hosts are certified by that account's host CA`);
      const out = [];
      const revoked = [];
      for (const key of keys) {
        // A revoked key gets nothing; the host's other keys still do.
        if (await store.isRevoked(host.account_id, key.fingerprint)) {
          revoked.push(key.fingerprint);
          continue;
        }
        const now = clock.now().getTime();
        const seconds = Math.floor(now / 1000);
        const body: CertificateBody = {
          keyType: key.type, keyFields: key.fields, nonce: publicRandomBytes(32), serial: random.serial(now), certType: SSH_CERT_TYPE_HOST,
          keyId: `host=${host.id} target=${host.target_id} ${principals[0]}`, principals,
          validAfter: BigInt(seconds - BACKDATE_S), validBefore: BigInt(seconds + ttl), criticalOptions: {}, extensions: {},
          signatureKey: signer.publicKeyBlob,
        };
        const cert = await signCertificate(body, signer);
        verifyIssued(cert, body, publicKey);
        out.push({
          public_key_fingerprint: key.fingerprint, key_type: key.type, serial: body.serial.toString(), principals,
          valid_after: rfc3339(new Date(Number(body.validAfter) * 1000)), valid_before: rfc3339(new Date(Number(body.validBefore) * 1000)),
          certificate: `${certTypeFor(key.type)} ${cert.blob.toString('base64')}`,
        });
      }
      if (out.length === 0) throw errors.policyRefused(`the host key${revoked.length > 1 ? 's' : ''} ${revoked.join(', ')} ${revoked.length > 1 ? 'are' : 'is'} revoked in this account`);
      return { certificates: out };
    },

    async revokeHostKey(accountId: string, publicKey: string, reason: string, actor: string) {
      let key;
      try {
        key = parseUserPublicKey(publicKey);
      } catch (error) {
        if (error instanceof PublicKeyError) throw errors.invalidRequest(error.message, '/public_key');
        throw error;
      }
      const at = clock.now().toISOString();
      const row = { account_id: accountId, fingerprint: key.fingerprint, public_key: `${key.type} ${key.blob.toString('base64')}`, reason, created_at: at };
      await store.revokeKey(row, audit.row({ accountId, type: 'host_key.revoked', actor, subject: key.fingerprint, data: { reason } }));
      return { fingerprint: key.fingerprint, public_key: row.public_key, reason, created_at: rfc3339(new Date(at)) };
    },
    async revokedHostKeys(accountId: string) {
      return (await store.revokedKeys(accountId)).map((r) => ({ fingerprint: r.fingerprint, public_key: r.public_key, reason: r.reason, created_at: rfc3339(new Date(r.created_at)) }));
    },
    isHostKeyRevoked: (accountId: string, fingerprint: string) => store.isRevoked(accountId, fingerprint),

    /**
     * What an SSH client puts in known_hosts for a host name: the host CA keys of the account that speaks
     * for it (during a rotation every key), scoped to that account's names, and its revoked host keys.
     */
    async knownHosts(hostname: string) {
      const host = hostname.toLowerCase();
      const owner = await hostOwner(deps.db, host);
      const ca = owner ? await store.byAccount(owner.accountId) : undefined;
      if (!owner || !ca) return undefined;
      const keys = sorted(await store.keysOf(ca.id)).map((k) => keyLine(k.public_key));
      const revoked = (await store.revokedKeys(owner.accountId)).map((r) => r.public_key);
      const patterns = owner.patterns.join(',');
      const lines = [...keys.map((k) => `@cert-authority ${patterns} ${k}`), ...revoked.map((k) => `@revoked ${patterns} ${k}`)];
      return { hostname: host, patterns: owner.patterns, cert_authorities: keys, revoked_keys: revoked, known_hosts: `${lines.join('\n')}\n` };
    },
  };
}

/** An enrolled host's principals: its target's hostname, then its aliases; never what the host asks for. */
export function principalsOf(host: Pick<EnrolledHost, 'host' | 'aliases'>): string[] {
  return [host.host, ...(JSON.parse(host.aliases) as string[])];
}

export type HostCaService = ReturnType<typeof createHostCaService>;
