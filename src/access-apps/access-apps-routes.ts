import type { FastifyInstance } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams, AppInput, AppView, DeletedId } from './access-apps-schemas.ts';
import type { AccessAppsService } from './access-apps-service.ts';

/** Registers the five Access application routes in their account and zone forms. */
export function registerAccessAppsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; apps: AccessAppsService }): void {
  const { auth, basePath, apps } = deps;
  const route = scopedRouter(app, auth, basePath);

  route({
    method: 'POST', path: '/access/apps', permissions: APPS_WRITE, status: 201,
    body: AppInput, response: envelopeSchema(AppView),
    handler: async ({ scope, body }) => ok(await apps.create(scope, body)),
  });
  route({
    method: 'GET', path: '/access/apps', permissions: APPS_READ, status: 200,
    query: PageQuery, response: pageEnvelopeSchema(AppView),
    handler: async ({ scope, query }) => {
      const { items, info } = await apps.list(scope, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'GET', path: '/access/apps/:app_id', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: envelopeSchema(AppView),
    handler: async ({ scope, params }) => ok(await apps.get(scope, params.app_id)),
  });
  route({
    method: 'PUT', path: '/access/apps/:app_id', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: AppInput, response: envelopeSchema(AppView),
    handler: async ({ scope, params, body }) => ok(await apps.update(scope, params.app_id, body)),
  });
  route({
    method: 'DELETE', path: '/access/apps/:app_id', permissions: APPS_WRITE, status: 202,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(DeletedId),
    handler: async ({ scope, params }) => ok(await apps.delete(scope, params.app_id)),
  });
}
