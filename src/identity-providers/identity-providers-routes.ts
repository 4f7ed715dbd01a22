import type { FastifyInstance } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { IDP_READ, IDP_WRITE } from '../identity/permission-groups.ts';
import { DeletedId } from '../access-apps/access-apps-schemas.ts';
import { IdpIdParams, IdpInput, IdpView } from './identity-providers-schemas.ts';
import type { IdentityProvidersService } from './identity-providers-service.ts';

/** `/accounts/{id}/access/identity_providers`: providers belong to the account, so there is no zone form. */
export function registerIdentityProvidersRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; idps: IdentityProvidersService }): void {
  const { idps } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);
  const forms = ['account'] as const;
  const path = '/access/identity_providers';

  route({
    method: 'POST', path, forms, permissions: IDP_WRITE, status: 201, body: IdpInput, response: envelopeSchema(IdpView),
    handler: async ({ scope, principal, body }) => ok(await idps.create(scope.accountId, body, actorOf(principal))),
  });
  route({
    method: 'GET', path, forms, permissions: IDP_READ, status: 200, query: PageQuery, response: pageEnvelopeSchema(IdpView),
    handler: async ({ scope, query }) => {
      const { items, info } = await idps.list(scope.accountId, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'GET', path: `${path}/:idp_id`, forms, permissions: IDP_READ, status: 200, params: IdpIdParams, response: envelopeSchema(IdpView),
    handler: async ({ scope, params }) => ok(await idps.get(scope.accountId, params.idp_id)),
  });
  route({
    method: 'PUT', path: `${path}/:idp_id`, forms, permissions: IDP_WRITE, status: 200, params: IdpIdParams, body: IdpInput, response: envelopeSchema(IdpView),
    handler: async ({ scope, principal, params, body }) => ok(await idps.update(scope.accountId, params.idp_id, body, actorOf(principal))),
  });
  route({
    method: 'DELETE', path: `${path}/:idp_id`, forms, permissions: IDP_WRITE, status: 202, params: IdpIdParams, body: EmptyBody, response: envelopeSchema(DeletedId),
    handler: async ({ scope, principal, params }) => ok(await idps.delete(scope.accountId, params.idp_id, actorOf(principal))),
  });
}
