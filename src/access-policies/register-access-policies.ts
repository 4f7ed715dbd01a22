import type { FastifyInstance } from 'fastify';
import { registerV4Routes, type Platform } from '../platform/platform.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { createAccessPoliciesStore } from './access-policies-store.ts';
import { appPolicyLinks, createAccessPoliciesService } from './access-policies-service.ts';
import { createAccessGroupsService } from './access-groups-service.ts';
import { createAccessDecider } from './access-decider.ts';
import { registerAccessPoliciesRoutes } from './access-policies-routes.ts';
import { registerAccessGroupsRoutes } from './access-groups-routes.ts';
import { PolicyView } from './access-policies-schemas.ts';

/**
 * Who may get a certificate, as one plugin: Access policies and groups, their routes, and the decider
 * that evaluates them. It gives the applications capability their `policies` list (links) and its view.
 */
export async function registerAccessPolicies(
  app: FastifyInstance,
  platform: Pick<Platform, 'db' | 'clock' | 'random' | 'audit' | 'basePath'>,
  needs: { auth: Authenticator; apps: Pick<AccessAppsStore, 'get'> },
) {
  const { db, clock, random, audit, basePath } = platform;
  const store = createAccessPoliciesStore(db);
  const policies = createAccessPoliciesService({ store, apps: needs.apps, clock, random, audit });
  const groups = createAccessGroupsService({ store, clock, random, audit });
  const decider = createAccessDecider(store, clock);
  await registerV4Routes(app, basePath, (v4) => {
    registerAccessPoliciesRoutes(v4, { auth: needs.auth, basePath, policies, apps: needs.apps, decider });
    registerAccessGroupsRoutes(v4, { auth: needs.auth, basePath, groups });
  });
  return { decider, links: appPolicyLinks(policies), policySchema: PolicyView, referencesTo: store.referencesTo, policiesStore: store };
}
