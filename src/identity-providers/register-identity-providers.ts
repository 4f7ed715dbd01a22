import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { createIdentityProvidersStore } from './identity-providers-store.ts';
import { createIdentityProvidersService } from './identity-providers-service.ts';
import { registerIdentityProvidersRoutes } from './identity-providers-routes.ts';
import { createJwtVerifier } from './jwt-verifier.ts';
import { createJwksFetcher } from './jwks-fetch.ts';

/**
 * Trusted identity providers, as one plugin: their store and routes, and the verifier of the identity
 * tokens they sign, whose remembered keys a change to a provider drops.
 */
export async function registerIdentityProviders(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'vault' | 'audit' | 'log' | 'basePath'>,
  needs: { auth: Authenticator; usedBy: (accountId: string, idpId: string) => Promise<string[]> },
  options: { allowPrivateIdpAddresses: boolean },
) {
  const { db, clock, random, vault, audit, log, basePath } = platform;
  const store = createIdentityProvidersStore(db);
  const jwks = createJwksFetcher({ allowPrivateAddresses: options.allowPrivateIdpAddresses });
  const verifier = createJwtVerifier({
    clock, fetcher: jwks, onFetchFailure: (idp, error) => log.warn({ idp, failure: error.failure, reason: error.message }, 'identity provider keys could not be fetched'),
  });
  const idps = createIdentityProvidersService({ store, vault, clock, random, audit, jwks, onChange: (id) => verifier.forget(id), usedBy: needs.usedBy });
  await registerV4Routes(app, basePath, (v4) => registerIdentityProvidersRoutes(v4, { auth: needs.auth, basePath, idps }));
  return { store, verifier };
}
