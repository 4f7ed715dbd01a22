import type { FastifyBaseLogger } from 'fastify';
import type { JWTPayload } from 'jose';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { ApiError } from '../platform/http/errors.ts';
import { asciiLower, canonicalEmail, isIdentityEmail } from '../platform/text.ts';
import type { AppRow } from '../access-apps/access-apps-store.ts';
import type { IdentityProvidersStore, IdpRow } from '../identity-providers/identity-providers-store.ts';
import { TokenRejected, type JwtVerifier } from '../identity-providers/jwt-verifier.ts';
import type { AccessDecider } from '../access-policies/access-decider.ts';
import type { CertIssuer } from './ssh-cert-issuer.ts';
import type { IssuedRecord } from './cert-inventory-store.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import type { AccountSnapshot } from '../platform/grant-cache.ts';
import { Refusal, type createTokenAppLookup } from './token-app-lookup.ts';
import { noMetrics, type HotPathMetrics } from '../observability/metrics.ts';
import { refusalReason } from './refusal-reasons.ts';
import type { RevocationStore } from './revocation-store.ts';
import { refusalEvent, requestFacts, type RequestContext } from './request-facts.ts';
import { createTokenPeeks } from './token-peeks.ts';
import { isTrialProvider, TRIAL_KEY_ID_LABEL } from '../identity-providers/trial-provider.ts';
import { grantedLogins, type ConnectionRules } from './ssh-logins.ts';

export { Refusal };

/** The Access decision's refusal, audited where it is made. */
class AccessDenied extends Refusal {
  constructor(message: string) {
    super(403, message, {}, 'access_denied');
  }
}

export interface CertSignRequest {
  public_key: string;
  jwt: string;
  hostname?: string | undefined;
}

/** How long a verified token is remembered at most: the remote key sets' own maximum age (jwt-verifier.ts). */
const VERIFIED_TOKEN_WINDOW_MS = 600_000;

/**
 * cloudflared's `cert_sign` as a pipeline of named steps: find the app → find its account's provider →
 * verify the token → check what the provider vouches for → Access policies → certificate policy and
 * signing (the issuer). Every decision about a verified person, allowed or refused, is an audit event and
 * a log line; the refusal the person sees never says which rule failed. Every read after the app goes
 * through the account's snapshot (grant-cache.ts), which is valid only at the store's current revision.
 */
export function createCertSignService(deps: {
  apps: ReturnType<typeof createTokenAppLookup>;
  idps: Pick<IdentityProvidersStore, 'findByIssuer'>;
  verifier: JwtVerifier;
  decider: AccessDecider;
  issuer: CertIssuer;
  /** A revoked person (or every person of a revoked app) signs in afresh: older identity tokens are refused. */
  revocations: Pick<RevocationStore, 'signInCutoff'>;
  record: (r: IssuedRecord) => Promise<void>;
  /** Refusals of verified people count against them and their client, as failed logins do. */
  limiter: AuthFailureLimiter;
  clock: Clock;
  random: Random;
  metrics?: Pick<HotPathMetrics, 'certificateIssued' | 'certificateRefused'>;
  /** Whether the trial provider's tokens are taken (`serve --no-trial-idp` refuses them); true when not given. */
  trialProviders?: boolean;
  /** An Access policy's stored `connection_rules` (JSON), for the logins it grants on infrastructure applications. */
  connectionRules?: (policyId: string) => Promise<string | null>;
}) {
  const { apps, idps, verifier, decider, issuer, revocations, record, limiter, clock, random } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const peeks = createTokenPeeks();

  /**
   * The token's claims: verified now, or remembered from an earlier verify of the same bytes for the same
   * provider row and audience (cloudflared sends one token until it expires). The snapshot forgets it when
   * anything in the account changes, the provider included; its times are checked again on every use.
   */
  async function verified(jwt: string, digest: string, idp: IdpRow, audience: string, snapshot: AccountSnapshot): Promise<JWTPayload> {
    // Remembered for at most one ten-minute window, as long as a remote key set is: a key the provider
    // withdraws stops vouching for remembered tokens no later than it stops for new ones.
    const window = Math.floor(clock.now().getTime() / VERIFIED_TOKEN_WINDOW_MS);
    const claims = await snapshot.get(`jwt:${idp.id}:${audience}:${window}:${digest}`, () => verifier.verify(jwt, idp, audience));
    verifier.checkStillValid(claims, idp);
    return claims;
  }

  /** Which audience to verify: the app's tag, or a client id (or extra audience) the provider allows. */
  function audienceFor(target: AppRow, idp: IdpRow, auds: readonly string[]): string {
    if (auds.includes(target.aud)) return target.aud;
    const allowed = [...(idp.client_id ? [idp.client_id] : []), ...(JSON.parse(idp.audiences) as string[])];
    const match = allowed.find((a) => auds.includes(a));
    if (!match) throw new TokenRejected('the token is for another client: its audience is neither the application nor the provider\'s client');
    return match;
  }

  /** The token's email, or a refusal: it becomes the certificate's identity, so only printable text. */
  function emailOf(idp: IdpRow, claims: JWTPayload): string {
    const email = claims[idp.email_claim];
    if (typeof email !== 'string' || !isIdentityEmail(email)) throw new TokenRejected(`the token has no ${idp.email_claim} claim with a usable email address`);
    return email;
  }

  /** What the provider vouches for: a verified email (unless its claim is authoritative) in its domains. */
  function checkVouched(idp: IdpRow, claims: JWTPayload, email: string): void {
    if (idp.email_verified_required === 1 && claims['email_verified'] !== true) {
      throw new Refusal(403, 'the identity provider has not verified this email (email_verified is not true)');
    }
    const domains = JSON.parse(idp.email_domains) as string[];
    const domain = asciiLower(email.slice(email.lastIndexOf('@') + 1));
    if (domains.length > 0 && !domains.includes(domain)) throw new Refusal(403, `this identity provider does not speak for ${domain} addresses`);
  }

  /**
   * A token issued before the person's (or the app's) last revocation is refused: its `iat` must be later,
   * in whole seconds, than the revocation (a token of the same second may predate it). A token without
   * `iat` cannot show it is newer, so it is refused too once there is a revocation.
   */
  async function checkNotRevoked(app: AppRow, identity: string, claims: JWTPayload, snapshot: AccountSnapshot): Promise<void> {
    const cutoff = await snapshot.get(`signin-cutoff:${app.id}:${identity}`, () => revocations.signInCutoff(app.account_id, app.id, identity));
    if (cutoff === null) return;
    const revokedAt = Math.floor(Date.parse(cutoff) / 1000);
    if (typeof claims.iat !== 'number' || !(claims.iat > revokedAt)) {
      throw new Refusal(403, `access for ${identity} was revoked at ${rfc3339(new Date(cutoff))}: sign in again for a new identity token (cloudflared access login, or access-ca login)`);
    }
  }

  /**
   * Audits a refusal of a verified person. A person (or client) refused again and again is answered 429
   * without another audit row: a replayed token must not be a way to fill the store.
   */
  async function refused(app: AppRow, identity: string, reason: string, policyId: string | null, req: RequestContext, log: FastifyBaseLogger, connection?: string): Promise<void> {
    const limited = limiter.fail(req.ip, `identity:${identity}`);
    if (limited) throw new Refusal(429, `too many refused requests; retry in ${limited.headers['retry-after']} s`, { ...limited.headers });
    log.info({ event: 'cert_sign.decision', decision: 'refused', app_id: app.id, identity, reason, policy_id: policyId }, 'certificate refused');
    await record({ event: refusalEvent(app, identity, reason, policyId, requestFacts(app, req, 'cert_sign', connection), { id: random.recordId(), at: clock.now() }) });
  }

  /**
   * The logins an infrastructure application's allowing policy grants (its connection_rules.ssh), or a
   * refusal: a person never gets a login no allowing policy names. Read through the snapshot, so a changed
   * policy moves the account's revision and is read again.
   */
  async function loginsFor(policyId: string, email: string, snapshot: AccountSnapshot): Promise<string[]> {
    const stored = deps.connectionRules ? await snapshot.get(`connection-rules:${policyId}`, () => deps.connectionRules!(policyId)) : null;
    let rules: ConnectionRules | null = null;
    try {
      rules = stored ? (JSON.parse(stored) as ConnectionRules) : null;
    } catch {
      rules = null;
    }
    const logins = grantedLogins(rules, email);
    if (logins.length === 0) throw new Refusal(403, 'the Access policy that lets you in grants no SSH login on this application\'s targets (connection_rules.ssh.usernames)');
    return logins;
  }

  /** The pipeline; `found` learns the app as soon as it is known, for the metrics of a refusal. */
  async function sign(body: CertSignRequest, req: RequestContext, log: FastifyBaseLogger, found: { app?: AppRow }) {
    const { ip } = req;
    const { iss, auds, digest } = peeks.peek(body.jwt);
    if (auds.length === 0) throw new TokenRejected('the token has no audience');
    const { app, snapshot } = await apps.find(auds, body.hostname);
    found.app = app;
    const idp = iss !== undefined ? await snapshot.get(`idp:${iss}`, () => idps.findByIssuer(app.account_id, iss)) : undefined;
    if (!idp) throw new TokenRejected('the token\'s issuer is not an identity provider of this application\'s account');
    const trial = isTrialProvider(idp);
    if (trial && deps.trialProviders === false) {
      throw new Refusal(403, 'this server does not take the trial identity provider\'s tokens (it runs with --no-trial-idp): sign in with the account\'s own identity provider');
    }
    const claims = await verified(body.jwt, digest, idp, audienceFor(app, idp, auds), snapshot);
    const email = emailOf(idp, claims);
    const identity = canonicalEmail(email);
    try {
      checkVouched(idp, claims, email);
      await checkNotRevoked(app, identity, claims, snapshot);
      const decision = await decider.decide(app, { email: identity, idpId: idp.id, claims, ip }, snapshot);
      if (!decision.allowed) {
        await refused(app, identity, decision.reason, decision.policy?.id ?? null, req, log, idp.name);
        throw new AccessDenied(`no Access policy of application "${app.name}" allows ${identity}`);
      }
      const granted = app.type === 'infrastructure' ? await loginsFor(decision.policy!.id, email, snapshot) : undefined;
      const issued = await issuer.issue({
        app, publicKey: body.public_key, identity, person: { email, claims }, source: 'cert_sign', grantedPrincipals: granted,
        // sshd logs the key id: a certificate that rests on a trial token says so there.
        ...(trial ? { keyIdLabel: TRIAL_KEY_ID_LABEL } : {}),
        audit: { policy_id: decision.policy!.id, decision: decision.reason, identity_provider_id: idp.id, ...requestFacts(app, req, 'cert_sign', idp.name) }, cache: snapshot,
      });
      log.info({ event: 'cert_sign.decision', decision: 'issued', app_id: app.id, identity, cert_id: issued.id, serial: issued.serial.toString(), principals: issued.principals, policy_id: decision.policy!.id }, 'certificate issued');
      return { id: issued.id, certificate: issued.certificate, expires_at: rfc3339(issued.validBefore) };
    } catch (error) {
      // Every other refusal of a verified person (the provider's word, the certificate policy) is audited too.
      if (error instanceof Refusal && error.status === 403 && !(error instanceof AccessDenied)) await refused(app, identity, error.message, null, req, log, idp.name);
      else if (error instanceof ApiError && error.status === 403) await refused(app, identity, error.detail ?? error.message, null, req, log, idp.name);
      throw error;
    }
  }

  return {
    async sign(body: CertSignRequest, req: RequestContext, log: FastifyBaseLogger) {
      const found: { app?: AppRow } = {};
      try {
        const issued = await sign(body, req, log, found);
        metrics.certificateIssued(found.app!.id);
        return issued;
      } catch (error) {
        metrics.certificateRefused(found.app?.id ?? 'unknown', refusalReason(error));
        throw error;
      }
    },
  };
}

export type CertSignService = ReturnType<typeof createCertSignService>;
