import { randomBytes } from 'node:crypto';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import { HOST_CREDENTIAL_PREFIX, JOIN_TOKEN_PREFIX } from '../identity/credentials.ts';
import { secretHash } from '../identity/identity-service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { parseUserPublicKey, PublicKeyError, type UserPublicKey } from '../openssh/user-public-key.ts';
import { HOST_ENROLL_NAMESPACE, SshsigError, verifySshsig } from '../openssh/sshsig.ts';
import type { EnrolledHost, HostEnrollmentStore } from './host-enrollment-store.ts';
import type { TargetRow } from './targets-store.ts';

export { HOST_ENROLL_NAMESPACE as ENROLL_NAMESPACE };
/** A join token lives an hour unless the operator says otherwise, and a day at the most. */
export const DEFAULT_JOIN_TOKEN_TTL_S = 3600;
export const MAX_JOIN_TOKEN_TTL_S = 86_400;
/** How long a challenge may be answered. */
const CHALLENGE_TTL_MS = 5 * 60_000;
/** A host has a handful of host keys (ed25519, ecdsa, rsa). */
export const MAX_HOST_KEYS = 8;

/** One host key and its SSHSIG over the challenge, as the enroll body carries them. */
export interface HostKeyProof {
  public_key: string;
  /** The raw SSHSIG blob, base64. */
  signature: string;
}

/** An enrolled host's wire form: where it is, which keys it proved, when it last asked. */
export function enrolledHostView(row: EnrolledHost) {
  const keys = JSON.parse(row.host_keys) as string[];
  return {
    id: row.id, target_id: row.target_id, hostname: row.hostname,
    host_keys: keys.map((k) => {
      const key = parseUserPublicKey(`${keyType(k)} ${k}`);
      return { type: key.type, fingerprint: key.fingerprint };
    }),
    created_at: rfc3339(new Date(row.created_at)),
    last_seen_at: row.last_seen_at === null ? null : rfc3339(new Date(row.last_seen_at)),
  };
}

/** The type string at the head of a base64 key blob. */
function keyType(blobBase64: string): string {
  const blob = Buffer.from(blobBase64, 'base64');
  return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
}

/** The host keys of an enrolled host, parsed. */
export const hostKeysOf = (host: Pick<EnrolledHost, 'host_keys'>): UserPublicKey[] =>
  (JSON.parse(host.host_keys) as string[]).map((k) => parseUserPublicKey(`${keyType(k)} ${k}`));

/**
 * Enrollment: an operator's single-use join token for a target, a challenge the host signs with its own
 * host keys, and the host credential it gets for them. The credential is stored as a hash, bound to one
 * target and those keys; it reads only that target's trust material (host-routes.ts).
 */
export function createHostEnrollmentService(deps: {
  store: HostEnrollmentStore;
  audit: Pick<AuditLog, 'row'>;
  clock: Clock;
  random: Random;
  /** Whether the account refuses this host key (a revoked host key never enrolls). */
  isHostKeyRevoked(accountId: string, fingerprint: string): Promise<boolean>;
}) {
  const { store, audit, clock, random } = deps;
  const seen = new Map<string, string>();

  async function usableToken(token: string) {
    if (!token.startsWith(JOIN_TOKEN_PREFIX)) throw errors.invalidJoinToken();
    const row = await store.joinTokenBySecret(secretHash(token));
    if (!row || row.used_at !== null || Date.parse(row.expires_at) <= clock.now().getTime()) throw errors.invalidJoinToken();
    return row;
  }

  return {
    /** A join token for a target of the account: shown once, stored as a hash, used once, expiring. */
    async createJoinToken(target: TargetRow, opts: { ttlSeconds?: number | undefined; hostKeyFingerprints?: string[] | undefined }, actor: string) {
      const ttl = opts.ttlSeconds ?? DEFAULT_JOIN_TOKEN_TTL_S;
      if (!Number.isInteger(ttl) || ttl < 60 || ttl > MAX_JOIN_TOKEN_TTL_S) throw errors.invalidRequest('ttl must be from 1m to 24h', '/ttl');
      const fingerprints = [...new Set(opts.hostKeyFingerprints ?? [])];
      const token = `${JOIN_TOKEN_PREFIX}${random.secret(32)}`;
      const now = clock.now();
      const row = {
        id: random.hex(16), account_id: target.account_id, target_id: target.id, secret_sha256: secretHash(token),
        host_key_fingerprints: JSON.stringify(fingerprints), challenge: null, challenge_expires_at: null,
        expires_at: new Date(now.getTime() + ttl * 1000).toISOString(), used_at: null, created_by: actor, created_at: now.toISOString(),
      };
      await store.insertJoinToken(row, audit.row({
        accountId: target.account_id, type: 'host_join_token.created', actor, subject: row.id,
        data: { target_id: target.id, hostname: target.hostname, expires_at: row.expires_at, host_key_fingerprints: fingerprints },
      }));
      return { id: row.id, target_id: target.id, hostname: target.hostname, token, expires_at: rfc3339(new Date(row.expires_at)) };
    },

    /** A target's join tokens (never their values): which are waiting, used or expired. */
    async joinTokens(target: TargetRow) {
      const now = clock.now().getTime();
      return (await store.joinTokens(target.account_id, target.id)).map((r) => ({
        id: r.id, target_id: r.target_id, status: r.used_at !== null ? 'used' : Date.parse(r.expires_at) <= now ? 'expired' : 'waiting',
        expires_at: rfc3339(new Date(r.expires_at)), ...(r.used_at === null ? {} : { used_at: rfc3339(new Date(r.used_at)) }),
        host_key_fingerprints: JSON.parse(r.host_key_fingerprints) as string[], created_by: r.created_by, created_at: rfc3339(new Date(r.created_at)),
      }));
    },
    /** Withdraws a join token: a leaked one stops working at once, on every node. */
    async deleteJoinToken(target: TargetRow, id: string, actor: string) {
      const key = id.toLowerCase();
      const event = audit.row({ accountId: target.account_id, type: 'host_join_token.deleted', actor, subject: key, data: { target_id: target.id } });
      if (!(await store.deleteJoinToken(target.account_id, target.id, key, event))) throw errors.notFound();
      return { id: key };
    },

    /** A fresh challenge for a usable join token; the last one handed out is the only one that enrolls. */
    async challenge(joinToken: string) {
      const row = await usableToken(joinToken);
      const challenge = randomBytes(32).toString('base64url');
      const now = clock.now();
      const expiresAt = new Date(Math.min(now.getTime() + CHALLENGE_TTL_MS, Date.parse(row.expires_at))).toISOString();
      if (!(await store.setChallenge(row.id, challenge, expiresAt, now.toISOString()))) throw errors.invalidJoinToken();
      return { challenge, expires_at: rfc3339(new Date(expiresAt)) };
    },

    /**
     * Checks every host key's signature over the challenge, then uses the token and makes the host's
     * credential in one transaction. Any refusal writes nothing: the token stays as it was.
     */
    async enroll(body: { join_token: string; challenge: string; host_keys: HostKeyProof[] }) {
      const row = await usableToken(body.join_token);
      if (row.challenge === null || row.challenge !== body.challenge) throw errors.invalidJoinToken('the challenge is not the one handed out for this join token; ask for a new one');
      if (row.challenge_expires_at === null || Date.parse(row.challenge_expires_at) <= clock.now().getTime()) throw errors.invalidJoinToken('the challenge has expired; ask for a new one');
      const message = Buffer.from(body.challenge, 'utf8');
      const bound = JSON.parse(row.host_key_fingerprints) as string[];
      const keys: UserPublicKey[] = [];
      for (const [i, proof] of body.host_keys.entries()) {
        let key: UserPublicKey;
        try {
          key = parseUserPublicKey(proof.public_key);
        } catch (error) {
          if (error instanceof PublicKeyError) throw errors.invalidRequest(error.message, `/host_keys/${i}/public_key`);
          throw error;
        }
        if (keys.some((k) => k.fingerprint === key.fingerprint)) throw errors.invalidRequest('the same host key twice', `/host_keys/${i}/public_key`);
        if (bound.length > 0 && !bound.includes(key.fingerprint)) throw errors.invalidJoinToken(`the join token is bound to other host keys than ${key.fingerprint}`);
        let signer: Buffer;
        try {
          signer = verifySshsig(Buffer.from(proof.signature, 'base64'), HOST_ENROLL_NAMESPACE, message).publicBlob;
        } catch (error) {
          if (error instanceof SshsigError) throw errors.invalidJoinToken(`the signature of host key ${key.fingerprint} does not verify: ${error.message}`);
          throw error;
        }
        if (!signer.equals(key.blob)) throw errors.invalidJoinToken(`the signature of host key ${key.fingerprint} is made by another key`);
        if (await deps.isHostKeyRevoked(row.account_id, key.fingerprint)) throw errors.invalidJoinToken(`the host key ${key.fingerprint} is revoked in this account`);
        keys.push(key);
      }
      const credential = `${HOST_CREDENTIAL_PREFIX}${random.secret(32)}`;
      const now = clock.now().toISOString();
      const enrollment = {
        id: random.hex(16), account_id: row.account_id, target_id: row.target_id, secret_sha256: secretHash(credential),
        host_keys: JSON.stringify(keys.map((k) => k.blob.toString('base64'))), created_at: now, last_seen_at: now,
      };
      const ok = await store.enroll(row.id, body.challenge, now, enrollment, audit.row({
        accountId: row.account_id, type: 'host.enrolled', actor: `join_token:${row.id}`, subject: enrollment.id,
        data: { target_id: row.target_id, host_keys: keys.map((k) => k.fingerprint) },
      }));
      if (!ok) throw errors.invalidJoinToken();
      return { credential, id: enrollment.id, account_id: row.account_id, target_id: row.target_id, host_keys: keys.map((k) => k.fingerprint) };
    },

    /** The enrolled host behind an Authorization header, looked up on every request (a removed host fails at once on every node). */
    async authenticate(authorization: string | undefined): Promise<EnrolledHost> {
      const match = /^Bearer ([\x21-\x7e]{1,256})$/.exec(authorization ?? '');
      if (!match || !match[1]!.startsWith(HOST_CREDENTIAL_PREFIX)) throw errors.invalidHostCredential();
      const host = await store.bySecret(secretHash(match[1]!));
      if (!host) throw errors.invalidHostCredential();
      // To the minute: a flush then writes a few statements for a whole fleet, not one per host.
      const now = clock.now();
      seen.set(host.id, new Date(now.getTime() - (now.getTime() % 60_000)).toISOString());
      return host;
    },

    async list(accountId: string, targetId: string | undefined, page: PageRequest) {
      const { rows, total } = await store.list(accountId, targetId, pageOffset(page), page.perPage);
      return { items: rows.map(enrolledHostView), info: resultInfo(page, rows.length, total) };
    },
    /** Removes an enrolled host: its credential stops working at once, on every node. */
    async remove(accountId: string, id: string, actor: string) {
      const key = id.toLowerCase();
      const event = audit.row({ accountId, type: 'host.removed', actor, subject: key });
      if (!(await store.remove(accountId, key, event))) throw errors.notFound();
      return { id: key };
    },
    /** Writes when each host was last seen (kept in memory between flushes: one write per flush, not per poll). */
    async flushSeen() {
      if (seen.size === 0) return;
      const batch = new Map(seen);
      seen.clear();
      try {
        await store.touch(batch);
      } catch (error) {
        // Kept for the next flush, unless a later sighting replaced it meanwhile.
        for (const [id, at] of batch) if (!seen.has(id)) seen.set(id, at);
        throw error;
      }
    },
  };
}

export type HostEnrollmentService = ReturnType<typeof createHostEnrollmentService>;
