import Fastify, { type FastifyInstance } from 'fastify';
import type { AppDeps } from './app-config.ts';
import { serverOptions } from './platform/http/server-options.ts';
import { capConnectionsPerClient } from './platform/http/connection-limits.ts';
import { createGrantRevisionReader } from './platform/db/grant-revisions.ts';
import { createGrantCache } from './platform/grant-cache.ts';
import { late } from './platform/platform.ts';
import { decorateScopedRequests } from './identity/scoped-route.ts';
import { createMetrics } from './observability/metrics.ts';
import { registerObservability, registerStoreWatch } from './observability/register-observability.ts';
import { registerOpenApi } from './openapi/openapi-document.ts';
import { registerAuditStream } from './audit/audit-stream.ts';
import { registerIdentity } from './identity/register-identity.ts';
import { registerAudit } from './audit/register-audit.ts';
import type { AccessAppsStore } from './access-apps/access-apps-store.ts';
import { registerAccessPolicies } from './access-policies/register-access-policies.ts';
import { registerAccessApps } from './access-apps/register-access-apps.ts';
import { registerIdentityProviders } from './identity-providers/register-identity-providers.ts';
import { registerAccessCas } from './access-cas/register-access-cas.ts';
import { registerSshCerts } from './ssh-certs/register-ssh-certs.ts';
import { registerInfrastructure } from './infrastructure/register-infrastructure.ts';
import { registerConsole } from './console/console-routes.ts';
import { defaultConsoleDir } from './console/console-assets.ts';

export { defaultAppConfig, type AppConfig, type AppDeps } from './app-config.ts';

/**
 * Builds the HTTP application from its dependencies; performs no I/O until it is used. Each capability
 * wires its own store, service and routes from the platform it is given, in dependency order.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, clock, random, keyVault: vault } = deps;
  const { basePath } = config;
  const app: FastifyInstance = Fastify(serverOptions({ ...config, logger: deps.logger, tls: deps.tls }));
  const metrics = deps.metrics ?? createMetrics();
  const storeHealth = registerStoreWatch(app, { clock, metrics });
  decorateScopedRequests(app);
  deps.instrument?.(app);
  // Before any route: the document is built from the routes registered after it.
  await registerOpenApi(app, { basePath });
  await registerObservability(app, { db, vault, metrics, storeHealth, access: config.metricsAccess, proxiesTrusted: config.trustProxy.length > 0, keyToken: deps.caKeyToken });
  registerAuditStream(app, { db, outputs: deps.auditOutputs, metrics });
  capConnectionsPerClient(app.server, config.connections.connectionsPerClient, config.trustProxy);

  const grants = createGrantCache({
    revisions: deps.grantRevisions ?? createGrantRevisionReader(db),
    onLookup: (kind, hit) => (hit ? metrics.cacheHit(kind) : metrics.cacheMiss(kind)),
  });
  const base = { db, clock, random, vault, log: app.log, metrics, basePath, grants };
  const { auth, limiter } = await registerIdentity(app, base, config);
  const platform = { ...base, audit: (await registerAudit(app, base, { auth })).sink };
  // Policies and applications read each other's stores at request time: the apps store is wired after.
  const appsStore = late<AccessAppsStore>('the applications store');
  const access = await registerAccessPolicies(app, platform, { auth, apps: appsStore.use });
  const { store: apps } = await registerAccessApps(app, platform, { auth, links: access.links, policySchema: access.policySchema });
  appsStore.set(apps);
  const idps = await registerIdentityProviders(app, platform, { auth, usedBy: access.referencesTo }, config);
  const { store: cas, gatewayStore } = await registerAccessCas(app, platform, { auth, apps }, { keyComment: config.caKeyComment, keyToken: deps.caKeyToken, defaultKeyStorage: config.caKeyStorage });
  await registerSshCerts(app, platform, {
    auth, limiter, apps, cas, gateway: gatewayStore, idps: idps.store, verifier: idps.verifier, decider: access.decider, appendWriter: deps.appendWriter,
    committed: (size, seconds) => { metrics.groupCommit(size, seconds); storeHealth.wrote(); },
    keyToken: deps.caKeyToken,
  }, { trialProviders: config.trialIdentityProviders });
  await registerInfrastructure(app, platform, { auth, limiter, revisions: deps.fleetRevisions ?? createGrantRevisionReader(db, 'fleet_revisions') },
    { keyComment: config.caKeyComment, krlExpiryMarginS: config.krlExpiryMarginS });
  registerConsole(app, { dir: config.consoleDir ?? defaultConsoleDir(), apiBase: basePath });
  return app;
}
