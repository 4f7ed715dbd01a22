import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { registerCrudRoutes } from '../identity/crud-routes.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import type { TSchema } from 'typebox';
import { AppIdParams, appInputSchema, appViewSchema, DeletedId } from './access-apps-schemas.ts';
import type { AccessAppsService } from './access-apps-service.ts';

/** Registers the five Access application routes in their account and zone forms. */
export function registerAccessAppsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; apps: AccessAppsService; policySchema: TSchema; policyEntrySchema: TSchema }): void {
  const { auth, basePath, apps } = deps;
  const AppView = appViewSchema(deps.policySchema);
  const route = scopedRouter(app, auth, basePath);

  registerCrudRoutes(route, {
    path: '/access/apps', idParams: AppIdParams, read: APPS_READ, write: APPS_WRITE,
    input: appInputSchema(deps.policyEntrySchema), view: AppView, deleted: DeletedId, service: apps,
  });
}
