import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams, DeletedId } from '../access-apps/access-apps-schemas.ts';
import { CaKeyView, CaView, RetiredKey, TrustedKeysView } from './access-cas-schemas.ts';
import type { AccessCasService } from './access-cas-service.ts';

/** The entity tag of a TrustedUserCAKeys file: a hash of its text, so every node gives the same tag. */
export const trustedKeysEtag = (file: string): string => `"${createHash('sha256').update(file, 'utf8').digest('base64url')}"`;

/** True when an If-None-Match header is `*` or lists this tag (weak comparison, RFC 9110 §13.1.2). */
export function noneMatch(header: string | undefined, tag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const candidate = t.trim();
    return candidate === '*' || candidate.replace(/^W\//, '') === tag;
  });
}

/**
 * Registers the CA routes in their account and zone forms: Cloudflare's four (the literal `/ca` list
 * first) and our rotation family under `/ca/rotate` and `/ca/trusted_keys`.
 */
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
    handler: async ({ scope, params, principal }) => ok(await cas.create(scope, params.app_id, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: envelopeSchema(CaView),
    handler: async ({ scope, params }) => ok(await cas.get(scope, params.app_id)),
  });
  route({
    method: 'DELETE', path: '/access/apps/:app_id/ca', permissions: APPS_WRITE, status: 202,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(DeletedId),
    handler: async ({ scope, params, principal }) => ok(await cas.delete(scope, params.app_id, actorOf(principal))),
  });

  route({
    method: 'POST', path: '/access/apps/:app_id/ca/rotate', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(CaKeyView),
    handler: async ({ scope, params, principal }) => ok(await cas.rotate(scope, params.app_id, actorOf(principal))),
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/ca/rotate/activate', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(CaKeyView),
    handler: async ({ scope, params, principal }) => ok(await cas.activate(scope, params.app_id, actorOf(principal))),
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/ca/rotate/retire', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(RetiredKey),
    handler: async ({ scope, params, principal }) => ok(await cas.retire(scope, params.app_id, actorOf(principal))),
  });

  // The scoped router sends what a handler returns with the route's status, so the conditional answer is
  // made in this context's onSend hook, from the tag the handler computed; no other route sees the hook.
  const etags = new WeakMap<FastifyRequest, string>();
  void app.register(async (conditional) => {
    conditional.addHook('onSend', async (request, reply, payload) => {
      const tag = etags.get(request);
      if (tag === undefined || reply.statusCode !== 200) return payload;
      // Servers poll this: each asks again every time, and an unchanged file costs no body.
      reply.header('etag', tag).header('cache-control', 'no-cache');
      if (!noneMatch(request.headers['if-none-match'], tag)) return payload;
      reply.code(304).removeHeader('content-type');
      return null;
    });
    scopedRouter(conditional, deps.auth, deps.basePath)({
      method: 'GET', path: '/access/apps/:app_id/ca/trusted_keys', permissions: APPS_READ, status: 200,
      params: AppIdParams, response: envelopeSchema(TrustedKeysView),
      handler: async ({ scope, params, request }) => {
        const trusted = await cas.trustedKeys(scope, params.app_id);
        etags.set(request, trustedKeysEtag(trusted.trusted_user_ca_keys));
        return ok(trusted);
      },
    });
  });
}
