import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { createAuditLog } from './audit-log.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerAccessRequestsRoutes } from './access-requests-routes.ts';
import { createAccessRequestsService } from './access-requests-service.ts';
import { createAccessRequestsStore } from './access-requests-store.ts';

/** The audit trail, as one plugin: the sink every capability writes its events through, and the routes that read them. */
export async function registerAudit(app: FastifyInstance, platform: Pick<Platform, 'db' | 'clock' | 'random' | 'basePath'>, needs: { auth: Authenticator }) {
  const { db, clock, random, basePath } = platform;
  const audit = createAuditLog(db, { clock, random });
  await registerV4Routes(app, basePath, (v4) => {
    registerAuditRoutes(v4, { auth: needs.auth, basePath, audit });
    registerAccessRequestsRoutes(v4, { auth: needs.auth, basePath, accessRequests: createAccessRequestsService(createAccessRequestsStore(db)) });
  });
  return { sink: audit };
}
