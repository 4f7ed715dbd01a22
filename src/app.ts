import Fastify, { type FastifyInstance } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from './platform/clock.ts';
import type { Random } from './platform/random.ts';
import type { KeyVault } from './platform/crypto/key-vault.ts';
import type { Db } from './platform/db/schema.ts';
import { registerJsonBodyParser } from './platform/http/body-parser.ts';
import { registerErrorHandling } from './platform/http/error-handler.ts';
import { createIdentityStore } from './identity/identity-store.ts';
import { createAuthenticator } from './identity/authenticate.ts';
import { createAuthFailureLimiter } from './identity/auth-failure-limiter.ts';
import { decorateScopedRequests } from './identity/scoped-route.ts';
import { registerTokenVerifyRoutes } from './identity/token-verify-routes.ts';
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
import { createCertPolicyStore } from './ssh-certs/policy/cert-policy-store.ts';
import { createCaSigners } from './ssh-certs/ca-signers.ts';
import { createCertInventoryStore, type IssuedRecord } from './ssh-certs/cert-inventory-store.ts';
import { createCertIssuer } from './ssh-certs/ssh-cert-issuer.ts';
import { registerCdnCgiAccessRoutes } from './ssh-certs/cdn-cgi-access-routes.ts';
import { registerSshSignRoutes } from './ssh-certs/ssh-sign-routes.ts';
import { createBatchWriter } from './platform/db/batch-writer.ts';

export interface AppConfig {
  /** The v4 API's prefix, `/client/v4` unless configured. */
  basePath: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  caKeyComment: string;
  /** Failed authentications allowed per client address and minute before 429; 0 turns it off. */
  authFailuresPerMinute: number;
}

export const defaultAppConfig: AppConfig = {
  basePath: '/client/v4',
  bodyLimit: 64 * 1024,
  caKeyComment: DEFAULT_CA_KEY_COMMENT,
  authFailuresPerMinute: 60,
};

export interface AppDeps {
  config: AppConfig;
  db: Db;
  clock: Clock;
  random: Random;
  keyVault: KeyVault;
  logger: FastifyBaseLogger | boolean;
}

/** Builds the HTTP application from its dependencies; performs no I/O until it is used. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, db, clock, random, keyVault } = deps;
  const app = Fastify({
    ...(typeof deps.logger === 'boolean' ? { logger: deps.logger } : { loggerInstance: deps.logger }),
    bodyLimit: config.bodyLimit,
    // Never trust the client to say who it is by header; the socket address is what we log.
    trustProxy: false,
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  registerErrorHandling(app);
  decorateScopedRequests(app);

  const identityStore = createIdentityStore(db);
  const limiter = createAuthFailureLimiter(config.authFailuresPerMinute, clock);
  const auth = createAuthenticator({ store: identityStore, clock, limiter });
  const appsStore = createAccessAppsStore(db);
  const apps = createAccessAppsService({ store: appsStore, clock, random });
  const casStore = createAccessCasStore(db);
  const cas = createAccessCasService({
    cas: casStore, apps: appsStore, vault: keyVault, clock, random, keyComment: config.caKeyComment,
  });
  const idpsStore = createIdentityProvidersStore(db);
  const idps = createIdentityProvidersService({ store: idpsStore, vault: keyVault, clock, random });
  const policies = createCertPolicyStore(db);
  const inventory = createCertInventoryStore(db);
  const recorder = createBatchWriter<IssuedRecord>((records) => inventory.record(records));
  const issuer = createCertIssuer({
    cas: casStore, policies, signers: createCaSigners({ vault: keyVault }), record: recorder.submit, clock, random,
  });

  await app.register(async (v4) => {
    registerJsonBodyParser(v4);
    const routeDeps = { auth, basePath: config.basePath };
    registerTokenVerifyRoutes(v4, routeDeps);
    registerAccessCasRoutes(v4, { ...routeDeps, cas });
    registerSshSignRoutes(v4, { ...routeDeps, apps: appsStore, policies, issuer, now: () => clock.now() });
    registerAccessAppsRoutes(v4, { ...routeDeps, apps });
    registerIdentityProvidersRoutes(v4, { ...routeDeps, idps });
  }, { prefix: config.basePath });
  await registerCdnCgiAccessRoutes(app, { apps: appsStore, idps: idpsStore, verifier: createJwtVerifier({ clock }), issuer, limiter });
  return app;
}
