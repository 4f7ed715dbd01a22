import type { TObject, TSchema } from 'typebox';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest, type PageRequest } from '../platform/http/pagination.ts';
import type { ResultInfo } from '../platform/http/envelope.ts';
import { actorOf, type Scope } from './authenticate.ts';
import type { ScopedRoute } from './scoped-route.ts';
import type { PermissionGroup } from './permission-groups.ts';

/** A collection's service, as its five routes call it; a change is told who made it (`actor`, for the audit trail). */
export interface CrudService<I, V> {
  create(scope: Scope, input: I, actor: string): Promise<V>;
  list(scope: Scope, page: PageRequest): Promise<{ items: V[]; info: ResultInfo }>;
  get(scope: Scope, id: string): Promise<V>;
  update(scope: Scope, id: string, input: I, actor: string): Promise<V>;
  delete(scope: Scope, id: string, actor: string): Promise<{ id: string }>;
}

/**
 * Cloudflare's five routes of a collection — POST and GET on `path`, GET, PUT and DELETE on
 * `path/:id` — with its envelope, paging and status codes (201, 200, 200, 200, 202).
 */
export function registerCrudRoutes<I, V>(
  route: <P extends TSchema, B extends TSchema, Q extends TSchema>(r: ScopedRoute<P, B, Q>) => void,
  spec: {
    path: string;
    idParams: TObject;
    read: readonly PermissionGroup[];
    write: readonly PermissionGroup[];
    input: TSchema;
    view: TSchema;
    deleted: TSchema;
    service: CrudService<I, V>;
  },
): void {
  const { path, idParams, read, write, input, view, service } = spec;
  const idName = Object.keys(idParams.properties)[0]!;
  const idOf = (params: unknown) => (params as Record<string, string>)[idName]!;
  const one = `${path}/:${idName}`;
  route({ method: 'POST', path, permissions: write, status: 201, body: input, response: envelopeSchema(view), handler: async ({ scope, principal, body }) => ok(await service.create(scope, body as I, actorOf(principal))) });
  route({
    method: 'GET', path, permissions: read, status: 200, query: PageQuery, response: pageEnvelopeSchema(view),
    handler: async ({ scope, query }) => {
      const { items, info } = await service.list(scope, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({ method: 'GET', path: one, permissions: read, status: 200, params: idParams, response: envelopeSchema(view), handler: async ({ scope, params }) => ok(await service.get(scope, idOf(params))) });
  route({ method: 'PUT', path: one, permissions: write, status: 200, params: idParams, body: input, response: envelopeSchema(view), handler: async ({ scope, principal, params, body }) => ok(await service.update(scope, idOf(params), body as I, actorOf(principal))) });
  route({ method: 'DELETE', path: one, permissions: write, status: 202, params: idParams, body: EmptyBody, response: envelopeSchema(spec.deleted), handler: async ({ scope, principal, params }) => ok(await service.delete(scope, idOf(params), actorOf(principal))) });
}
