import type { FastifyInstance } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { registerCrudRoutes } from '../identity/crud-routes.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams, DeletedId } from '../access-apps/access-apps-schemas.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { AccessCheckInput, AccessCheckView, AppPolicyParams, PolicyIdParams, PolicyInput, PolicyView, type PolicyBody } from './access-policies-schemas.ts';
import { checkAccess, type AccessDecider } from './access-decider.ts';
import type { AccessPoliciesService } from './access-policies-service.ts';

/** Cloudflare's application policies (`/access/apps/{app_id}/policies`) and reusable policies (`/access/policies`). */
export function registerAccessPoliciesRoutes(
  app: FastifyInstance,
  deps: { auth: Authenticator; basePath: string; policies: AccessPoliciesService; apps: Pick<AccessAppsStore, 'get'>; decider: AccessDecider },
): void {
  const { policies } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);

  route({
    method: 'POST', path: '/access/apps/:app_id/policies', permissions: APPS_WRITE, status: 201,
    params: AppIdParams, body: PolicyInput, response: envelopeSchema(PolicyView),
    handler: async ({ scope, principal, params, body }) => ok(await policies.createForApp(scope, params.app_id, body as PolicyBody, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/policies', permissions: APPS_READ, status: 200,
    params: AppIdParams, query: PageQuery, response: pageEnvelopeSchema(PolicyView),
    handler: async ({ scope, params, query }) => {
      const { items, info } = await policies.listForApp(scope, params.app_id, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/policies/:policy_id', permissions: APPS_READ, status: 200,
    params: AppPolicyParams, response: envelopeSchema(PolicyView),
    handler: async ({ scope, params }) => ok(await policies.getForApp(scope, params.app_id, params.policy_id)),
  });
  route({
    method: 'PUT', path: '/access/apps/:app_id/policies/:policy_id', permissions: APPS_WRITE, status: 200,
    params: AppPolicyParams, body: PolicyInput, response: envelopeSchema(PolicyView),
    handler: async ({ scope, principal, params, body }) => ok(await policies.updateForApp(scope, params.app_id, params.policy_id, body as PolicyBody, actorOf(principal))),
  });
  route({
    method: 'DELETE', path: '/access/apps/:app_id/policies/:policy_id', permissions: APPS_WRITE, status: 202,
    params: AppPolicyParams, body: EmptyBody, response: envelopeSchema(DeletedId),
    handler: async ({ scope, principal, params }) => ok(await policies.deleteForApp(scope, params.app_id, params.policy_id, actorOf(principal))),
  });

  // Our extension: would this person get a certificate? The decision and the policy that made it.
  route({
    method: 'POST', path: '/access/apps/:app_id/access_check', permissions: APPS_READ, status: 200,
    params: AppIdParams, body: AccessCheckInput, response: envelopeSchema(AccessCheckView),
    handler: async ({ scope, params, body }) => ok(await checkAccess(deps, scope, params.app_id, body)),
  });

  registerCrudRoutes(route, {
    path: '/access/policies', idParams: PolicyIdParams, read: APPS_READ, write: APPS_WRITE,
    input: PolicyInput, view: PolicyView, deleted: DeletedId,
    service: {
      create: policies.createReusable, list: policies.listReusable, get: policies.getReusable,
      update: policies.updateReusable, delete: policies.deleteReusable,
    },
  });
}
