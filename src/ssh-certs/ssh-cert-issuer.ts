import type { Clock } from '../platform/clock.ts';
import { publicRandomBytes, type Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { lruMemo } from '../platform/lru-memo.ts';
import type { AppRow } from '../access-apps/access-apps-store.ts';
import type { AccessCasStore } from '../access-cas/access-cas-store.ts';
import { certTypeFor, SSH_CERT_TYPE_USER, type CertificateBody } from '../openssh/certificate.ts';
import { parseUserPublicKey, PublicKeyError, type UserPublicKey } from '../openssh/user-public-key.ts';
import { signCertificate, verifyIssued } from '../openssh/sign-certificate.ts';
import { decide, principalFromClaims, type CertRequest } from './policy/cert-policy.ts';
import type { CertPolicyStore } from './policy/cert-policy-store.ts';
import type { CaSigners } from './ca-signers.ts';
import type { IssuedRecord } from './cert-inventory-store.ts';
import type { RevocationStore } from './revocation-store.ts';
import type { AccountSnapshot } from '../platform/grant-cache.ts';
import { noteAuditRow } from '../audit/audit-log.ts';

/** What a caller asks for: automation names principals; a person's come from their token by the policy's rule. */
export interface IssueInput extends Omit<CertRequest, 'keyType' | 'principals' | 'requester'> {
  principals?: string[] | undefined;
  person?: { email: string; claims: Record<string, unknown> } | undefined;
  app: AppRow;
  publicKey: string;
  /** Who the certificate is for: an email, or `token:<id>` for automation. */
  identity: string;
  /** A caller-chosen label, kept in the key id after the CA's own part (`label=<label>`). */
  keyIdLabel?: string | undefined;
  /**
   * The logins the Access policy that let the person in grants (an infrastructure application's
   * `connection_rules.ssh`): exactly these become the principals, instead of the certificate policy's rule.
   */
  grantedPrincipals?: string[] | undefined;
  source: 'cert_sign' | 'api';
  /** What else the issued event records (for people: the Access policy that allowed them). */
  audit?: Record<string, unknown> | undefined;
  /** The app's account at the store's current revision: its CA key, policy and revoked keys are read through it. */
  cache?: Pick<AccountSnapshot, 'get'> | undefined;
}

export interface Issued {
  id: string;
  serial: bigint;
  /** `<cert type> <base64>`: the line for `<key>-cert.pub`. */
  certificate: string;
  validAfter: Date;
  validBefore: Date;
  principals: string[];
}

/**
 * Step 1: the user key, or 400 naming what is wrong with it. A checked key is remembered by its account
 * and line: cloudflared keeps one key file per host and sends it with every `cert_sign`. Per account, so
 * that how fast a key is answered says nothing to another account about which keys are in use here; lines
 * up to 1 KiB (any EC or Ed25519 key, RSA up to 4096 bits). The result is shared: never changed.
 */
const checkedKey = lruMemo((accountAndLine: string): UserPublicKey =>
  Object.freeze(parseUserPublicKey(accountAndLine.slice(accountAndLine.indexOf(' ') + 1))), { maxEntries: 1_000, maxInputLength: 1_100 });

function parseKey(accountId: string, line: string): UserPublicKey {
  try {
    // An account id has no space: the first one ends it. Anything but a string is refused unremembered.
    return typeof line === 'string' ? checkedKey(`${accountId} ${line}`) : parseUserPublicKey(line);
  } catch (error) {
    if (error instanceof PublicKeyError) throw errors.invalidRequest(error.message, '/public_key');
    throw error;
  }
}

/** The inventory row and audit event of an issued certificate, written in one commit. */
function issuedRecord(input: IssueInput, key: UserPublicKey, caKey: { id: string; ca_id: string }, body: CertificateBody, issued: Issued, event: { eventId: string; at: string }): IssuedRecord {
  const serial = body.serial.toString();
  return {
    cert: {
      id: issued.id, serial, ca_id: caKey.ca_id, ca_key_id: caKey.id, app_id: input.app.id, account_id: input.app.account_id,
      key_id: body.keyId, principals: JSON.stringify(body.principals), valid_after: issued.validAfter.toISOString(), valid_before: issued.validBefore.toISOString(),
      identity: input.identity, public_key_type: key.type, public_key_fingerprint: key.fingerprint,
      critical_options: JSON.stringify(body.criticalOptions), extensions: JSON.stringify(body.extensions), source: input.source, created_at: event.at, revoked_at: null, revocation_id: null,
    },
    event: noteAuditRow({
      id: event.eventId, account_id: input.app.account_id, type: 'ssh_certificate.issued', actor: input.identity, subject: issued.id,
      data: JSON.stringify({ app_id: input.app.id, ca_id: caKey.ca_id, serial, principals: body.principals, fingerprint: key.fingerprint, ...input.audit }),
      created_at: event.at,
    }),
  };
}

/** A CA key row of either kind (an application CA's, the gateway CA's): what signing and the inventory need. */
type CaKeyRowLike = { id: string; ca_id: string; public_key: string; private_key_sealed: Uint8Array };

/** Attempts at most when the store refuses a serial (or id) another certificate already has. */
const ATTEMPTS = 3;

/**
 * Issues user certificates through one pipeline of named steps: parse key → load CA → check policy →
 * build → sign → re-parse and verify what was signed → record (inventory and audit, one commit).
 */
export function createCertIssuer(deps: {
  cas: Pick<AccessCasStore, 'signingKey'>;
  /** The account's gateway CA: it signs for infrastructure applications, which have no CA of their own. */
  gateway?: { signingKey(accountId: string): Promise<CaKeyRowLike | undefined>; signers: CaSigners } | undefined;
  policies: Pick<CertPolicyStore, 'get'>;
  signers: CaSigners;
  record: (r: IssuedRecord) => Promise<void>;
  /** A user key the account revoked is never certified again; a principal blocked for the app is not certified until lifted. */
  revocations: Pick<RevocationStore, 'isKeyRevoked' | 'blockedPrincipals'>;
  clock: Clock;
  random: Random;
}) {
  const { cas, policies, signers, record, revocations, clock, random } = deps;

  return {
    async issue(input: IssueInput): Promise<Issued> {
      const key = parseKey(input.app.account_id, input.publicKey);
      const appId = input.app.id;
      const read = <T>(what: string, load: () => Promise<T>) => (input.cache ? input.cache.get(`${what}:${appId}`, load) : load());
      if (await read(`revoked:${key.fingerprint}`, () => revocations.isKeyRevoked(input.app.account_id, key.fingerprint))) {
        throw errors.policyRefused('this public key has been revoked: make a new key');
      }
      // An infrastructure application's certificates are signed by its account's gateway CA, which every
      // target it covers trusts; any other application's by its own CA.
      const viaGateway = input.app.type === 'infrastructure';
      const gateway = deps.gateway;
      if (viaGateway && !gateway) throw errors.notFound('this server signs no certificates for infrastructure applications');
      const caKey = viaGateway
        ? await read('gatewaykey', () => gateway!.signingKey(input.app.account_id))
        : await read('cakey', () => cas.signingKey(appId));
      if (!caKey) throw errors.notFound(viaGateway ? 'the account has no gateway CA: POST /access/gateway_ca makes it' : 'no CA for this application');
      const policy = await read('certpolicy', () => policies.get(appId));
      const principals = input.grantedPrincipals
        ?? (input.person ? [principalFromClaims(policy, input.person.email, input.person.claims)] : input.principals ?? []);
      const decision = decide(policy, { ...input, requester: input.person ? 'person' : 'automation', principals, keyType: key.type });
      const blocked = new Set(await read('blockedprincipals', () => revocations.blockedPrincipals(appId)));
      const withdrawn = decision.principals.find((p) => blocked.has(p));
      if (withdrawn !== undefined) throw errors.policyRefused(`the principal "${withdrawn}" has been revoked for this application until the revocation is lifted`);
      const { signer, publicKey } = (viaGateway ? gateway!.signers : signers).forKey(caKey);

      /** Build, sign, check and record one certificate, with a fresh id, nonce and serial. */
      const makeOne = async (): Promise<Issued> => {
        const id = random.recordId();
        const now = clock.now().getTime();
        const seconds = Math.floor(now / 1000);
        const body: CertificateBody = {
          keyType: key.type,
          keyFields: key.fields,
          nonce: publicRandomBytes(32),
          serial: random.serial(now),
          certType: SSH_CERT_TYPE_USER,
          // sshd logs the key id at login: the CA's part (who, which record) comes first, so a caller's label,
          // restricted to one word, can only follow it and never pose as another identity.
          keyId: `${input.identity} cert=${id}${input.keyIdLabel ? ` label=${input.keyIdLabel}` : ''}`,
          principals: decision.principals,
          validAfter: BigInt(seconds - policy.backdate),
          validBefore: BigInt(seconds + decision.ttl),
          criticalOptions: decision.criticalOptions,
          extensions: decision.extensions,
          signatureKey: signer.publicKeyBlob,
        };
        const cert = await signCertificate(body, signer);
        verifyIssued(cert, body, publicKey);
        const issued: Issued = {
          id, serial: body.serial, certificate: `${certTypeFor(key.type)} ${cert.blob.toString('base64')}`,
          validAfter: new Date(Number(body.validAfter) * 1000), validBefore: new Date(Number(body.validBefore) * 1000), principals: body.principals,
        };
        await record(issuedRecord(input, key, caKey, body, issued, { eventId: random.recordId(), at: new Date(now).toISOString() }));
        return issued;
      };

      // A certificate whose serial (or id) the store already holds is never handed out: it is made again.
      for (let attempt = 1; ; attempt++) {
        try {
          return await makeOne();
        } catch (error) {
          if (!isUniqueViolation(error) || attempt >= ATTEMPTS) throw error;
        }
      }
    },
  };
}

export type CertIssuer = ReturnType<typeof createCertIssuer>;
