import type { FastifyInstance } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/schema.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { registerErrorHandling } from '../platform/http/error-handler.ts';
import { createStoreHealth, type StoreHealth } from '../platform/db/store-health.ts';
import type { Metrics } from './metrics.ts';
import { defaultMetricsAccess, type MetricsAccess } from './metrics-access.ts';
import { registerMetrics } from './metrics-routes.ts';
import { codeMigrationNames, createReadiness } from './readiness.ts';
import { registerHealthRoutes } from './health-routes.ts';
import type { CaKeyToken } from '../signers/ca-key-token.ts';

/**
 * The error handler, and what requests see of the store: 503s with one log line per outage (store
 * health), the store's metrics (errors by class, the state gauge). First, on the root instance.
 */
export function registerStoreWatch(app: FastifyInstance, deps: { clock: Clock; metrics: Metrics }): StoreHealth {
  const storeHealth = createStoreHealth({ log: app.log, clock: deps.clock });
  storeHealth.observe((state) => deps.metrics.storeAvailable(state.healthy));
  app.addHook('onClose', async () => storeHealth.close());
  registerErrorHandling(app, { onStoreFailure: (failure, cause) => { storeHealth.failed(failure, cause); deps.metrics.storeFailed(failure); } });
  return storeHealth;
}

/** /metrics, /healthz and /readyz, outside the API prefix; the request counters are a root hook, so they see every route. */
export async function registerObservability(app: FastifyInstance, deps: {
  db: Db; vault: Pick<KeyVault, 'open'>; metrics: Metrics; storeHealth: StoreHealth; access?: MetricsAccess | undefined; proxiesTrusted: boolean;
  /** The PKCS#11 token CA keys may live in (`serve --pkcs11-*`): /readyz checks it. */
  keyToken?: CaKeyToken | undefined;
}): Promise<void> {
  registerMetrics(app, { metrics: deps.metrics, access: deps.access ?? defaultMetricsAccess, proxiesTrusted: deps.proxiesTrusted });
  const readiness = createReadiness({ db: deps.db, vault: deps.vault, expectedMigrations: await codeMigrationNames(), health: deps.storeHealth, token: deps.keyToken });
  registerHealthRoutes(app, { readiness });
  deps.keyToken?.observe(deps.metrics);
}
