import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { createAccessCasStore } from './access-cas-store.ts';
import { createAccessCasService } from './access-cas-service.ts';
import { registerAccessCasRoutes } from './access-cas-routes.ts';
import { createGatewayCaStore } from './gateway-ca-store.ts';
import { createGatewayCaService } from './gateway-ca-service.ts';
import { registerGatewayCaRoutes } from './gateway-ca-routes.ts';
import type { CaKeyToken, KeyStorage } from '../signers/ca-key-token.ts';

/**
 * The SSH CAs, as one plugin: each application's CA and each account's gateway CA, Cloudflare's routes for
 * both, rotation, and the stores that say which key signs.
 */
export async function registerAccessCas(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'vault' | 'audit' | 'basePath'>,
  needs: { auth: Authenticator; apps: AccessAppsStore },
  options: { keyComment: string; keyToken?: CaKeyToken | undefined; defaultKeyStorage?: KeyStorage | undefined },
) {
  const { db, clock, random, vault, audit, basePath } = platform;
  const store = createAccessCasStore(db);
  const cas = createAccessCasService({
    cas: store, apps: needs.apps, vault, audit, clock, random, keyComment: options.keyComment,
    token: options.keyToken, defaultKeyStorage: options.defaultKeyStorage, log: app.log,
  });
  const gatewayStore = createGatewayCaStore(db);
  const gatewayCa = createGatewayCaService({ store: gatewayStore, vault, audit, clock, random, keyComment: options.keyComment });
  await registerV4Routes(app, basePath, (v4) => {
    registerAccessCasRoutes(v4, { auth: needs.auth, basePath, cas });
    registerGatewayCaRoutes(v4, { auth: needs.auth, basePath, gatewayCa });
  });
  return { store, gatewayStore, gatewayCa };
}
