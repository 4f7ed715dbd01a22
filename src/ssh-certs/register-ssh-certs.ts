import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { HotPathMetrics } from '../observability/metrics.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AccessCasStore } from '../access-cas/access-cas-store.ts';
import type { AccessDecider } from '../access-policies/access-decider.ts';
import type { IdentityProvidersStore } from '../identity-providers/identity-providers-store.ts';
import type { JwtVerifier } from '../identity-providers/jwt-verifier.ts';
import type { AppendWriter } from '../platform/db/sqlite-append-writer.ts';
import { createBatchWriter } from '../platform/db/batch-writer.ts';
import { createCertPolicyStore } from './policy/cert-policy-store.ts';
import { createCaSigners } from './ca-signers.ts';
import type { CaKeyToken } from '../signers/ca-key-token.ts';
import { createCertInventoryStore, type IssuedRecord } from './cert-inventory-store.ts';
import { createCertIssuer } from './ssh-cert-issuer.ts';
import { createRevocationStore } from './revocation-store.ts';
import { createRevocationService } from './revocation-service.ts';
import { createCertSignService } from './cert-sign-service.ts';
import { createApiSignService } from './api-sign-service.ts';
import { createTokenAppLookup } from './token-app-lookup.ts';
import { registerSshSignRoutes } from './ssh-sign-routes.ts';
import { registerInventoryRoutes } from './inventory-routes.ts';
import { registerRevocationRoutes } from './revocation-routes.ts';
import { registerCdnCgiAccessRoutes } from './cdn-cgi-access-routes.ts';
import type { GatewayCaStore } from '../access-cas/gateway-ca-store.ts';
import { gatewayCaKeyAad } from '../access-cas/gateway-ca-service.ts';
import { createTargetCoverage } from './target-coverage.ts';

/**
 * Certificates, as one plugin: the certificate policy, the issuer, the inventory and its writer,
 * revocation, and the routes that sign (cloudflared's `cert_sign`, our `…/ca/sign`) and withdraw.
 */
export async function registerSshCerts(
  app: FastifyInstance,
  platform: Platform<HotPathMetrics>,
  needs: {
    auth: Authenticator; limiter: AuthFailureLimiter; apps: AccessAppsStore; cas: AccessCasStore;
    /** The accounts' gateway CAs: they sign for infrastructure applications. */
    gateway: Pick<GatewayCaStore, 'signingKey'>;
    idps: IdentityProvidersStore; verifier: JwtVerifier; decider: AccessDecider;
    /** SQLite: the store's off-thread writer for issued certificates; elsewhere the batch writer gathers what arrives together. */
    appendWriter?: AppendWriter | undefined;
    /** Each group commit of issued certificates: its size and time (also the sign that writes work again after an outage). */
    committed: (size: number, seconds: number) => void;
    /** Where CA keys stored as 'pkcs11' sign (`serve --pkcs11-*`). */
    keyToken?: CaKeyToken | undefined;
  },
  options: { trialProviders: boolean } = { trialProviders: true },
) {
  const { db, clock, random, vault, audit, metrics, grants, basePath } = platform;
  const { auth, limiter, apps, cas, appendWriter } = needs;
  const policies = createCertPolicyStore(db);
  const inventory = createCertInventoryStore(db, appendWriter);
  const revocationStore = createRevocationStore(db);
  const revocations = createRevocationService({ store: revocationStore, apps, cas, audit, clock, random });
  appendWriter?.observe(needs.committed);
  appendWriter?.start();
  const recorder = appendWriter
    ? { submit: (record: IssuedRecord) => inventory.record([record]), drain: appendWriter.settled }
    : createBatchWriter<IssuedRecord>((records) => inventory.record(records), { onCommit: needs.committed });
  // Closing waits for the certificates already answered for to be committed (they were, before the
  // answer) and for those still in the batch, so the store is closed after its last write.
  app.addHook('onClose', () => recorder.drain());
  const gateway = { signingKey: needs.gateway.signingKey, signers: createCaSigners({ vault, aad: gatewayCaKeyAad }) };
  const issuer = createCertIssuer({ cas, gateway, policies, signers: createCaSigners({ vault, token: needs.keyToken }), record: recorder.submit, revocations: revocationStore, clock, random });
  const apiSign = createApiSignService({ apps, issuer, grants, record: recorder.submit, limiter, metrics, clock, random });
  await registerV4Routes(app, basePath, (v4) => {
    registerSshSignRoutes(v4, { auth, basePath, apps, policies, apiSign, now: () => clock.now() });
    registerInventoryRoutes(v4, { auth, basePath, revocations });
    registerRevocationRoutes(v4, { auth, basePath, revocations });
  });
  const coverage = createTargetCoverage(db);
  const certSign = createCertSignService({
    metrics, apps: createTokenAppLookup({ apps, cache: grants, coverage }), idps: needs.idps, verifier: needs.verifier, decider: needs.decider,
    issuer, revocations: revocationStore, record: recorder.submit, limiter, clock, random, trialProviders: options.trialProviders,
    connectionRules: async (policyId) => (await db.selectFrom('access_policies').select('connection_rules').where('id', '=', policyId).executeTakeFirst())?.connection_rules ?? null,
  });
  await registerCdnCgiAccessRoutes(app, { apps, idps: needs.idps, certSign, limiter, coverage });
}
