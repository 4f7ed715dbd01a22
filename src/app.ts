import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from './platform/clock.ts';
import type { Random } from './platform/random.ts';
import type { KeyVault } from './platform/crypto/key-vault.ts';
import type { Db } from './platform/db/schema.ts';
import { registerJsonBodyParser } from './platform/http/body-parser.ts';
import { frameworkErrors, registerErrorHandling } from './platform/http/error-handler.ts';
import { capConnectionsPerClient, defaultConnectionLimits, type ConnectionLimits } from './platform/http/connection-limits.ts';
import { createIdentityStore } from './identity/identity-store.ts';
import { createAuthenticator } from './identity/authenticate.ts';
import { createAuthFailureLimiter } from './identity/auth-failure-limiter.ts';
import { decorateScopedRequests } from './identity/scoped-route.ts';
import { registerTokenVerifyRoutes } from './identity/token-verify-routes.ts';
import { registerAccountsRoutes } from './identity/accounts-routes.ts';
import { registerZonesRoutes } from './identity/zones-routes.ts';
import { createAccessAppsStore } from './access-apps/access-apps-store.ts';
import { createAccessAppsService } from './access-apps/access-apps-service.ts';
import { registerAccessAppsRoutes } from './access-apps/access-apps-routes.ts';
import { createAccessCasStore } from './access-cas/access-cas-store.ts';
import { createAccessCasService } from './access-cas/access-cas-service.ts';
import { registerAccessCasRoutes } from './access-cas/access-cas-routes.ts';
import { DEFAULT_CA_KEY_COMMENT } from './access-cas/ca-key-material.ts';
import { createIdentityProvidersStore } from './identity-providers/identity-providers-store.ts';
import { createIdentityProvidersService } from './identity-providers/identity-providers-service.ts';
import { registerIdentityProvidersRoutes } from './identity-providers/identity-providers-routes.ts';
import { createJwtVerifier } from './identity-providers/jwt-verifier.ts';
import { createJwksFetcher } from './identity-providers/jwks-fetch.ts';
import { createCertPolicyStore } from './ssh-certs/policy/cert-policy-store.ts';
import { createCaSigners } from './ssh-certs/ca-signers.ts';
import { createCertInventoryStore, type IssuedRecord } from './ssh-certs/cert-inventory-store.ts';
import { createCertIssuer } from './ssh-certs/ssh-cert-issuer.ts';
import { registerCdnCgiAccessRoutes } from './ssh-certs/cdn-cgi-access-routes.ts';
import { registerSshSignRoutes } from './ssh-certs/ssh-sign-routes.ts';
import { createBatchWriter } from './platform/db/batch-writer.ts';
import { createAuditLog } from './audit/audit-log.ts';
import { registerAuditRoutes } from './audit/audit-routes.ts';
import { registerAuditStream, type AuditOutputs } from './audit/audit-stream.ts';
import { createRevocationStore } from './ssh-certs/revocation-store.ts';
import { createRevocationService } from './ssh-certs/revocation-service.ts';
import { registerRevocationRoutes } from './ssh-certs/revocation-routes.ts';
import { registerInventoryRoutes } from './ssh-certs/inventory-routes.ts';
import { createCertSignService } from './ssh-certs/cert-sign-service.ts';
import { createApiSignService } from './ssh-certs/api-sign-service.ts';
import { registerAccessRequestsRoutes } from './audit/access-requests-routes.ts';
import { createAccessRequestsService } from './audit/access-requests-service.ts';
import { createAccessRequestsStore } from './audit/access-requests-store.ts';
import { createAccessPoliciesStore } from './access-policies/access-policies-store.ts';
import { appPolicyLinks, createAccessPoliciesService } from './access-policies/access-policies-service.ts';
import { createAccessGroupsService } from './access-policies/access-groups-service.ts';
import { createAccessDecider } from './access-policies/access-decider.ts';
import { registerAccessPoliciesRoutes } from './access-policies/access-policies-routes.ts';
import { registerAccessGroupsRoutes } from './access-policies/access-groups-routes.ts';
import { PolicyView } from './access-policies/access-policies-schemas.ts';
import { registerConsole } from './console/console-routes.ts';
import { defaultConsoleDir } from './console/console-assets.ts';
import { registerOpenApi } from './openapi/openapi-document.ts';
import { createGrantRevisionReader, type GrantRevisionReader } from './platform/db/grant-revisions.ts';
import { createGrantCache } from './platform/grant-cache.ts';
import { createTokenAppLookup } from './ssh-certs/token-app-lookup.ts';
import type { AppendWriter } from './platform/db/sqlite-append-writer.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { defaultMetricsAccess, type MetricsAccess } from './observability/metrics-access.ts';
import { registerMetrics } from './observability/metrics-routes.ts';
import { codeMigrationNames, createReadiness } from './observability/readiness.ts';
import { createStoreHealth } from './platform/db/store-health.ts';
import { registerHealthRoutes } from './observability/health-routes.ts';
import { createInfrastructure } from './infrastructure/register-infrastructure.ts';
import { DEFAULT_KRL_EXPIRY_MARGIN_S } from './infrastructure/host-bundle-service.ts';

export interface AppConfig {
  /** The v4 API's prefix, `/client/v4` unless configured. */
  basePath: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  caKeyComment: string;
  /** Failed authentications allowed per client address and minute before 429; 0 turns it off. */
  authFailuresPerMinute: number;
  /** Development only: identity providers' JWKS URLs may reach private, loopback and link-local addresses. */
  allowPrivateIdpAddresses: boolean;
  /**
   * Addresses or CIDR blocks of the proxies in front of the server, whose X-Forwarded-For is believed: the
   * client address that rate limits, `ip` rules and logs use. Empty: the socket address, and no header.
   */
  trustProxy: string[];
  connections: ConnectionLimits;
  /**
   * Whether users' global API keys (X-Auth-Email/X-Auth-Key) are taken. Off: only API tokens are, and a
   * request carrying a key is refused (403 9103) without the key being looked up.
   */
  globalKeys: boolean;
  /** Where the built web console is read from; unset: the `vite build` output beside the server's code. */
  consoleDir?: string;
  /** Who may read /metrics (loopback only when unset); see observability/metrics-access.ts. */
  metricsAccess?: MetricsAccess;
  /** Seconds a revoked certificate stays in hosts' KRLs past its end, for hosts whose clocks lag. */
  krlExpiryMarginS: number;
}

export const defaultAppConfig: AppConfig = {
  basePath: '/client/v4',
  bodyLimit: 64 * 1024,
  caKeyComment: DEFAULT_CA_KEY_COMMENT,
  authFailuresPerMinute: 60,
  allowPrivateIdpAddresses: false,
  trustProxy: [],
  globalKeys: true,
  connections: defaultConnectionLimits,
  krlExpiryMarginS: DEFAULT_KRL_EXPIRY_MARGIN_S,
};

export interface AppDeps {
  config: AppConfig;
  db: Db;
  clock: Clock;
  random: Random;
  keyVault: KeyVault;
  logger: FastifyBaseLogger | boolean;
  /** Serve HTTPS with this certificate chain and key (PEM); plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer };
  /** Called on the root instance before any route exists, so its hooks see every route (tests check each answer). */
  instrument?: (app: FastifyInstance) => void;
  /** SQLite: the store's off-thread writer for issued certificates (OpenDatabase.appendWriter). */
  appendWriter?: AppendWriter | undefined;
  /** How each account's grant revision is read (OpenDatabase.grantRevisions); through `db` when not given. */
  grantRevisions?: GrantRevisionReader | undefined;
  /** How each account's fleet revision is read (OpenDatabase.grantRevisions('fleet_revisions')); through `db` when not given. */
  fleetRevisions?: GrantRevisionReader | undefined;
  /** The app's metrics; a fresh set (its own registry) when not given. */
  metrics?: Metrics;
  /** `serve --audit-log`: where every committed audit event is streamed before its answer goes (audit-stream.ts). */
  auditOutputs?: AuditOutputs | undefined;
}

/** Node's deadline checks, on an interval fine enough for them (30 s by default, far too coarse for a 10 s deadline). */
const serverTimeouts = (limits: ConnectionLimits) =>
  ({ headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) });

/** Builds the HTTP application from its dependencies; performs no I/O until it is used. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, clock, random, keyVault } = deps;
  const app = Fastify({
    ...(typeof deps.logger === 'boolean' ? { logger: deps.logger } : { loggerInstance: deps.logger }),
    bodyLimit: config.bodyLimit,
    // Random, so that a request's log lines and its audit event (ray_id) name it across nodes and restarts.
    genReqId: () => randomBytes(8).toString('hex'),
    // A client's word about its address is believed only from the proxies the operator names.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    requestTimeout: config.connections.requestTimeoutMs,
    connectionTimeout: config.connections.requestTimeoutMs,
    keepAliveTimeout: config.connections.keepAliveTimeoutMs,
    ...(deps.tls ? { https: { ...serverTimeouts(config.connections), cert: deps.tls.cert, key: deps.tls.key } } : { http: serverTimeouts(config.connections) }),
    routerOptions: { ignoreTrailingSlash: true },
    // Requests that arrive while closing are refused in the envelope (registerErrorHandling), not Fastify's shape.
    return503OnClosing: false,
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  const metrics = deps.metrics ?? createMetrics();
  // What requests see of the store: 503s with one log line per outage, /readyz until a write succeeds,
  // and the store's metrics (errors by class, the state gauge).
  const storeHealth = createStoreHealth({ log: app.log, clock });
  storeHealth.observe((state) => metrics.storeAvailable(state.healthy));
  app.addHook('onClose', async () => storeHealth.close());
  registerErrorHandling(app, { onStoreFailure: (failure, cause) => { storeHealth.failed(failure, cause); metrics.storeFailed(failure); } });
  decorateScopedRequests(app);
  deps.instrument?.(app);
  // Before any route: the document is built from the routes registered after it.
  await registerOpenApi(app, { basePath: config.basePath });
  // Outside the API prefix; the request counters are a root hook, so they see every route.
  registerMetrics(app, { metrics, access: config.metricsAccess ?? defaultMetricsAccess, proxiesTrusted: config.trustProxy.length > 0 });
  registerHealthRoutes(app, { readiness: createReadiness({ db, vault: keyVault, expectedMigrations: await codeMigrationNames(), health: storeHealth }) });
  registerAuditStream(app, { db, outputs: deps.auditOutputs, metrics });
  capConnectionsPerClient(app.server, config.connections.connectionsPerClient, config.trustProxy);

  const audit = createAuditLog(db, { clock, random });
  const identityStore = createIdentityStore(db);
  const limiter = createAuthFailureLimiter(config.authFailuresPerMinute, clock);
  const auth = createAuthenticator({ store: identityStore, clock, limiter, globalKeys: config.globalKeys, metrics });
  const appsStore = createAccessAppsStore(db);
  const accessStore = createAccessPoliciesStore(db);
  const accessPolicies = createAccessPoliciesService({ store: accessStore, apps: appsStore, clock, random, audit });
  const accessGroups = createAccessGroupsService({ store: accessStore, clock, random, audit });
  const decider = createAccessDecider(accessStore);
  const apps = createAccessAppsService({ store: appsStore, links: appPolicyLinks(accessPolicies), clock, random });
  const casStore = createAccessCasStore(db);
  const cas = createAccessCasService({
    cas: casStore, apps: appsStore, vault: keyVault, audit, clock, random, keyComment: config.caKeyComment,
  });
  const idpsStore = createIdentityProvidersStore(db);
  const jwks = createJwksFetcher({ allowPrivateAddresses: config.allowPrivateIdpAddresses });
  const verifier = createJwtVerifier({
    clock, fetcher: jwks, onFetchFailure: (idp, error) => app.log.warn({ idp, failure: error.failure, reason: error.message }, 'identity provider keys could not be fetched'),
  });
  const idps = createIdentityProvidersService({
    store: idpsStore, vault: keyVault, clock, random, audit, jwks, onChange: (id) => verifier.forget(id), usedBy: accessStore.referencesTo,
  });
  const policies = createCertPolicyStore(db);
  const inventory = createCertInventoryStore(db, deps.appendWriter);
  const revocationStore = createRevocationStore(db);
  const revocations = createRevocationService({ store: revocationStore, apps: appsStore, cas: casStore, audit, clock, random });
  // SQLite's writer thread group-commits by itself; elsewhere the batch writer gathers what arrives together.
  // A commit is also the sign that writes work again after an outage.
  const committed = (size: number, seconds: number) => { metrics.groupCommit(size, seconds); storeHealth.wrote(); };
  deps.appendWriter?.observe(committed);
  deps.appendWriter?.start();
  const recorder = deps.appendWriter
    ? { submit: (record: IssuedRecord) => inventory.record([record]), drain: deps.appendWriter.settled }
    : createBatchWriter<IssuedRecord>((records) => inventory.record(records), { onCommit: committed });
  // Closing waits for the certificates already answered for to be committed (they were, before the
  // answer) and for those still in the batch, so the store is closed after its last write.
  app.addHook('onClose', () => recorder.drain());
  // Reads that decide grants, remembered per account until its grant revision moves (grant-cache.ts).
  const grants = createGrantCache({
    revisions: deps.grantRevisions ?? createGrantRevisionReader(db),
    onLookup: (kind, hit) => (hit ? metrics.cacheHit(kind) : metrics.cacheMiss(kind)),
  });
  const issuer = createCertIssuer({
    cas: casStore, policies, signers: createCaSigners({ vault: keyVault }), record: recorder.submit, revocations: revocationStore, clock, random,
  });

  const infrastructure = createInfrastructure({
    db, clock, random, vault: keyVault, audit, limiter, revisions: deps.fleetRevisions ?? createGrantRevisionReader(db, 'fleet_revisions'),
    keyComment: config.caKeyComment, krlExpiryMarginS: config.krlExpiryMarginS,
  });

  await app.register(async (v4) => {
    registerJsonBodyParser(v4);
    const routeDeps = { auth, basePath: config.basePath };
    registerTokenVerifyRoutes(v4, routeDeps);
    registerAccountsRoutes(v4, { ...routeDeps, store: identityStore });
    registerZonesRoutes(v4, { ...routeDeps, store: identityStore });
    registerAccessCasRoutes(v4, { ...routeDeps, cas });
    registerSshSignRoutes(v4, { ...routeDeps, apps: appsStore, policies, apiSign: createApiSignService({ apps: appsStore, issuer, grants, record: recorder.submit, limiter, metrics, clock, random }), now: () => clock.now() });
    registerAccessAppsRoutes(v4, { ...routeDeps, apps, policySchema: PolicyView });
    registerAccessPoliciesRoutes(v4, { ...routeDeps, policies: accessPolicies, apps: appsStore, decider });
    registerAccessGroupsRoutes(v4, { ...routeDeps, groups: accessGroups });
    registerIdentityProvidersRoutes(v4, { ...routeDeps, idps });
    registerAuditRoutes(v4, { ...routeDeps, audit });
    registerAccessRequestsRoutes(v4, { ...routeDeps, accessRequests: createAccessRequestsService(createAccessRequestsStore(db)) });
    registerInventoryRoutes(v4, { ...routeDeps, revocations });
    registerRevocationRoutes(v4, { ...routeDeps, revocations });
    await infrastructure.registerV4(v4, routeDeps);
  }, { prefix: config.basePath });
  await infrastructure.registerRoot(app);
  const certSign = createCertSignService({ metrics, apps: createTokenAppLookup({ apps: appsStore, cache: grants }), idps: idpsStore, verifier, decider, issuer, revocations: revocationStore, record: recorder.submit, limiter, clock, random });
  await registerCdnCgiAccessRoutes(app, { apps: appsStore, idps: idpsStore, certSign, limiter });
  registerConsole(app, { dir: config.consoleDir ?? defaultConsoleDir(), apiBase: config.basePath });
  return app;
}
