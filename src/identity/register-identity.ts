import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { HotPathMetrics } from '../observability/metrics.ts';
import { createIdentityStore } from './identity-store.ts';
import { createAuthenticator } from './authenticate.ts';
import { createAuthFailureLimiter } from './auth-failure-limiter.ts';
import { registerTokenVerifyRoutes } from './token-verify-routes.ts';
import { registerAccountsRoutes } from './accounts-routes.ts';
import { registerZonesRoutes } from './zones-routes.ts';

/**
 * Accounts, zones and credentials, as one plugin: the authenticator every other capability's routes
 * use, the failure limiter they count refusals against, and the routes that read who a credential is.
 */
export async function registerIdentity(
  app: FastifyInstance,
  platform: Pick<Platform<Pick<HotPathMetrics, 'authFailure'>>, 'db' | 'clock' | 'metrics' | 'basePath'>,
  options: { authFailuresPerMinute: number; globalKeys: boolean },
) {
  const { db, clock, metrics, basePath } = platform;
  const store = createIdentityStore(db);
  const limiter = createAuthFailureLimiter(options.authFailuresPerMinute, clock);
  const auth = createAuthenticator({ store, clock, limiter, globalKeys: options.globalKeys, metrics });
  await registerV4Routes(app, basePath, (v4) => {
    const routeDeps = { auth, basePath };
    registerTokenVerifyRoutes(v4, routeDeps);
    registerAccountsRoutes(v4, { ...routeDeps, store });
    registerZonesRoutes(v4, { ...routeDeps, store });
  });
  return { auth, limiter };
}
