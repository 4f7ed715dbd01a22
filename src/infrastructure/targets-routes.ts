import type { FastifyInstance } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { Type } from 'typebox';
import { DeletedTarget, TargetBatch, TargetIdList, TargetIdParams, TargetInput, TargetQuery, TargetView } from './targets-schemas.ts';
import { targetListRequest, type TargetsService } from './targets-service.ts';

/** Cloudflare's `/accounts/{account_id}/infrastructure/targets` family (account form only, as on Cloudflare). */
export function registerTargetsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; targets: TargetsService }): void {
  const { targets } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);
  const forms = ['account'] as const;
  const path = '/infrastructure/targets';

  route({
    method: 'POST', path, forms, permissions: APPS_WRITE, status: 201, body: TargetInput, response: envelopeSchema(TargetView),
    handler: async ({ scope, principal, body }) => ok(await targets.create(scope.accountId, body, actorOf(principal))),
  });
  route({
    method: 'GET', path, forms, permissions: APPS_READ, status: 200, query: TargetQuery, response: pageEnvelopeSchema(TargetView),
    handler: async ({ scope, query }) => {
      const { items, info } = await targets.list(scope.accountId, targetListRequest(query));
      return okPage(items, info);
    },
  });
  // Cloudflare's batch routes; `/batch` is a literal, matched before `/:target_id`.
  route({
    method: 'PUT', path: `${path}/batch`, forms, permissions: APPS_WRITE, status: 200, body: TargetBatch, response: envelopeSchema(Type.Array(TargetView)),
    handler: async ({ scope, principal, body }) => ok(await targets.bulkUpdate(scope.accountId, body, actorOf(principal))),
  });
  // Cloudflare answers both deletes 204; the envelope with the ids keeps every client's unwrapping whole (CONTRACT §2).
  route({
    method: 'POST', path: `${path}/batch_delete`, forms, permissions: APPS_WRITE, status: 200, body: TargetIdList, response: envelopeSchema(Type.Array(DeletedTarget)),
    handler: async ({ scope, principal, body }) => ok(await targets.bulkDelete(scope.accountId, body.target_ids, actorOf(principal))),
  });
  // Deprecated by Cloudflare for batch_delete, and the same; SDK v7's bulkDelete sends the body only when given one in its options.
  route({
    method: 'DELETE', path: `${path}/batch`, forms, permissions: APPS_WRITE, status: 200, body: TargetIdList, response: envelopeSchema(Type.Array(DeletedTarget)),
    handler: async ({ scope, principal, body }) => ok(await targets.bulkDelete(scope.accountId, body.target_ids, actorOf(principal))),
  });
  route({
    method: 'GET', path: `${path}/:target_id`, forms, permissions: APPS_READ, status: 200, params: TargetIdParams, response: envelopeSchema(TargetView),
    handler: async ({ scope, params }) => ok(await targets.get(scope.accountId, params.target_id)),
  });
  route({
    method: 'PUT', path: `${path}/:target_id`, forms, permissions: APPS_WRITE, status: 200, params: TargetIdParams, body: TargetInput, response: envelopeSchema(TargetView),
    handler: async ({ scope, principal, params, body }) => ok(await targets.update(scope.accountId, params.target_id, body, actorOf(principal))),
  });
  // Cloudflare answers 204; the envelope (with the id) keeps every client's unwrapping whole (CONTRACT §2).
  route({
    method: 'DELETE', path: `${path}/:target_id`, forms, permissions: APPS_WRITE, status: 200, params: TargetIdParams, body: EmptyBody, response: envelopeSchema(DeletedTarget),
    handler: async ({ scope, principal, params }) => ok(await targets.delete(scope.accountId, params.target_id, actorOf(principal))),
  });
}
