import type { FastifyInstance } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams, DeletedId } from '../access-apps/access-apps-schemas.ts';
import { CaView } from './access-cas-schemas.ts';
import type { AccessCasService } from './access-cas-service.ts';

/** Registers the four CA routes in their account and zone forms; the literal `/ca` list comes first. */
export function registerAccessCasRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; cas: AccessCasService }): void {
  const { cas } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);

  route({
    method: 'GET', path: '/access/apps/ca', permissions: APPS_READ, status: 200,
    query: PageQuery, response: pageEnvelopeSchema(CaView),
    handler: async ({ scope, query }) => {
      const { items, info } = await cas.list(scope, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/ca', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(CaView),
    handler: async ({ scope, params }) => ok(await cas.create(scope, params.app_id)),
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: envelopeSchema(CaView),
    handler: async ({ scope, params }) => ok(await cas.get(scope, params.app_id)),
  });
  route({
    method: 'DELETE', path: '/access/apps/:app_id/ca', permissions: APPS_WRITE, status: 202,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(DeletedId),
    handler: async ({ scope, params }) => ok(await cas.delete(scope, params.app_id)),
  });
}
