import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static, type TSchema } from 'typebox';
import { errors } from '../platform/http/errors.ts';
import type { Authenticator, Principal, Scope, ScopeRef } from './authenticate.ts';
import type { PermissionGroup } from './permission-groups.ts';

const HEX32 = /^[0-9a-f]{32}$/;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

const RAW = Symbol('raw reply');

/** A reply that is not the JSON envelope (a KRL, a 304): sent with its own status, headers and bytes. */
export interface RawReply {
  [RAW]: true;
  status: number;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export const rawReply = (status: number, headers: Record<string, string>, body?: Buffer): RawReply => ({ [RAW]: true, status, headers, body });

/** What a handler of a scoped route receives once the request is authorized and validated. */
export interface ScopedContext<P, B, Q> {
  scope: Scope;
  principal: Principal;
  params: P;
  body: B;
  query: Q;
  request: FastifyRequest;
}

/** One route of the v4 API, served in both its account form and its zone form. */
export interface ScopedRoute<P extends TSchema, B extends TSchema, Q extends TSchema> {
  method: Method;
  /** The path after the scope, e.g. `/access/apps/:app_id/ca`. */
  path: string;
  /** Which forms the route has; both unless said. */
  forms?: readonly ('account' | 'zone')[];
  /** Any one of these permission groups allows the call. */
  permissions: readonly PermissionGroup[];
  status: number;
  params?: P;
  body?: B;
  query?: Q;
  response: TSchema;
  handler(ctx: ScopedContext<Static<P>, Static<B>, Static<Q>>): Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    accessAuth: { scope: Scope; principal: Principal } | null;
  }
}

/** Adds the request slot the scoped routes fill; call once per app. */
export function decorateScopedRequests(app: FastifyInstance): void {
  app.decorateRequest('accessAuth', null);
}

/** The path after the base, for the 7003 message. */
function routedPath(request: FastifyRequest, basePath: string): string {
  const path = request.url.split('?')[0] ?? '';
  return path.startsWith(basePath) ? path.slice(basePath.length) : path;
}

/**
 * Registers a route at `/accounts/:account_id<path>` and `/zones/:zone_id<path>`. Before anything is
 * parsed it checks, in CONTRACT §3's order: the scope id's shape (7003), authentication, then scope
 * and permission, so a caller without rights learns nothing about which ids exist.
 */
export function registerScopedRoute<P extends TSchema, B extends TSchema, Q extends TSchema>(
  app: FastifyInstance,
  auth: Authenticator,
  basePath: string,
  route: ScopedRoute<P, B, Q>,
): void {
  for (const kind of route.forms ?? (['account', 'zone'] as const)) {
    const scopeParam = kind === 'account' ? 'account_id' : 'zone_id';
    const paramsSchema = Type.Object({
      [scopeParam]: Type.String(),
      ...((route.params as unknown as { properties?: Record<string, TSchema> })?.properties ?? {}),
    });
    app.route({
      method: route.method,
      url: `/${kind === 'account' ? 'accounts' : 'zones'}/:${scopeParam}${route.path}`,
      schema: {
        params: paramsSchema,
        ...(route.body ? { body: route.body } : {}),
        ...(route.query ? { querystring: route.query } : {}),
        response: { [route.status]: route.response },
      },
      onRequest: async (request) => {
        const id = (request.params as Record<string, string>)[scopeParam] ?? '';
        if (!HEX32.test(id)) throw errors.invalidObjectIdentifier(routedPath(request, basePath));
        const ref: ScopeRef = kind === 'account' ? { kind, accountId: id } : { kind, zoneId: id };
        request.accessAuth = await auth.authorize(request.headers, ref, route.permissions, request.ip);
      },
      preValidation: async (request) => {
        // No body, an empty JSON body and `{}` are the same request (CONTRACT §1).
        if (route.body && request.body === undefined) request.body = {};
      },
      handler: async (request, reply) => {
        const authz = request.accessAuth!;
        const result = await route.handler({
          scope: authz.scope,
          principal: authz.principal,
          params: request.params as Static<P>,
          body: request.body as Static<B>,
          query: request.query as Static<Q>,
          request,
        });
        if (result !== null && typeof result === 'object' && RAW in result) {
          const raw = result as RawReply;
          return reply.code(raw.status).headers(raw.headers).send(raw.body);
        }
        return reply.code(route.status).send(result);
      },
    });
  }
}

/** Binds the app, authenticator and base path once, for a capability's route file. */
export function scopedRouter(app: FastifyInstance, auth: Authenticator, basePath: string) {
  return <P extends TSchema, B extends TSchema, Q extends TSchema>(route: ScopedRoute<P, B, Q>): void =>
    registerScopedRoute(app, auth, basePath, route);
}
