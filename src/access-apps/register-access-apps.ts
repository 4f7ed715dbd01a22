import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { createAccessAppsStore } from './access-apps-store.ts';
import { createAccessAppsService, type AppPolicyLinks } from './access-apps-service.ts';
import { registerAccessAppsRoutes } from './access-apps-routes.ts';

/** Access applications, as one plugin: their store (which every capability that finds an app reads) and routes. */
export async function registerAccessApps(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'basePath'>,
  needs: { auth: Authenticator; links: AppPolicyLinks; policySchema: TSchema },
) {
  const { db, clock, random, basePath } = platform;
  const store = createAccessAppsStore(db);
  const apps = createAccessAppsService({ store, links: needs.links, clock, random });
  await registerV4Routes(app, basePath, (v4) => registerAccessAppsRoutes(v4, { auth: needs.auth, basePath, apps, policySchema: needs.policySchema, policyEntrySchema: needs.links.entrySchema }));
  return { store };
}
