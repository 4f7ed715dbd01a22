import type { FastifyInstance } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import type { Db } from '../platform/db/schema.ts';
import type { GrantRevisionReader } from '../platform/db/grant-revisions.ts';
import type { AuditSink } from '../platform/audit-events.ts';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import { createTargetsStore } from './targets-store.ts';
import { createTargetsService } from './targets-service.ts';
import { registerTargetsRoutes } from './targets-routes.ts';
import { createHostEnrollmentStore } from './host-enrollment-store.ts';
import { createHostEnrollmentService } from './host-enrollment-service.ts';
import { createHostCaStore } from './host-ca-store.ts';
import { createHostCaService } from './host-ca-service.ts';
import { createHostBundleService } from './host-bundle-service.ts';
import { registerHostRoutes, registerPublicHostCaRoute } from './host-routes.ts';
import { createKrlEncoder } from './krl-encoder.ts';

/** How often each node writes when its hosts were last seen: one write per interval, not one per poll. */
const SEEN_FLUSH_MS = 30_000;

/** The fleet's services over a store, for the routes and for the admin verbs on the data dir. */
export function createInfrastructureServices(deps: { db: Db; clock: Clock; random: Random; vault: Pick<KeyVault, 'seal' | 'open'>; audit: AuditSink }) {
  const { db, clock, random, audit } = deps;
  const targets = createTargetsService({ store: createTargetsStore(db), audit, clock, random });
  const hostCa = createHostCaService({ db, store: createHostCaStore(db), vault: deps.vault, audit, clock, random });
  const enrollment = createHostEnrollmentService({ store: createHostEnrollmentStore(db), audit, clock, random, isHostKeyRevoked: hostCa.isHostKeyRevoked });
  return { targets, hostCa, enrollment };
}

export type InfrastructureServices = ReturnType<typeof createInfrastructureServices>;

/**
 * The fleet, as one plugin: targets, enrollment, host credentials, bundles and KRLs, the host CA; its v4
 * routes inside the API's prefix and its public `/cdn-cgi` route.
 */
export async function registerInfrastructure(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'vault' | 'audit' | 'log' | 'basePath'>,
  needs: {
    auth: Authenticator;
    limiter: AuthFailureLimiter;
    /** Each account's fleet revision (OpenDatabase.grantRevisions('fleet_revisions')). */
    revisions: GrantRevisionReader;
  },
  options: { keyComment: string; krlExpiryMarginS: number },
): Promise<void> {
  const { db, clock, basePath } = platform;
  const { targets, hostCa, enrollment } = createInfrastructureServices(platform);
  const encoder = createKrlEncoder();
  const bundles = createHostBundleService({ db, revisions: needs.revisions, clock, keyComment: options.keyComment, krlExpiryMarginS: options.krlExpiryMarginS, encoder });
  await registerV4Routes(app, basePath, async (v4) => {
    registerTargetsRoutes(v4, { auth: needs.auth, basePath, targets });
    await registerHostRoutes(v4, { auth: needs.auth, basePath, limiter: needs.limiter, targets, enrollment, bundles, hostCa });
  });
  await registerPublicHostCaRoute(app, { hostCa });
  const timer = setInterval(() => {
    enrollment.flushSeen().catch((error: unknown) => platform.log.warn({ err: error }, 'could not record when hosts were last seen'));
  }, SEEN_FLUSH_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await enrollment.flushSeen().catch(() => {});
    await encoder.close();
  });
}
