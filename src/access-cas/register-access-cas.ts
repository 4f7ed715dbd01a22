import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { createAccessCasStore } from './access-cas-store.ts';
import { createAccessCasService } from './access-cas-service.ts';
import { registerAccessCasRoutes } from './access-cas-routes.ts';

/** The per-application CA, as one plugin: Cloudflare's CA routes, rotation, and the store that says which key signs. */
export async function registerAccessCas(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'vault' | 'audit' | 'basePath'>,
  needs: { auth: Authenticator; apps: AccessAppsStore },
  options: { keyComment: string },
) {
  const { db, clock, random, vault, audit, basePath } = platform;
  const store = createAccessCasStore(db);
  const cas = createAccessCasService({ cas: store, apps: needs.apps, vault, audit, clock, random, keyComment: options.keyComment });
  await registerV4Routes(app, basePath, (v4) => registerAccessCasRoutes(v4, { auth: needs.auth, basePath, cas }));
  return { store };
}
