import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { actorOf, type Authenticator, type Scope } from '../identity/authenticate.ts';
import { rawReply, scopedRouter } from '../identity/scoped-route.ts';
import { entityTag, noneMatch } from '../platform/http/conditional.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams, DeletedId } from '../access-apps/access-apps-schemas.ts';
import { CaKeyView, CaView, CreateCaBody, RetiredKey, RotateCaBody, TrustedKeysView } from './access-cas-schemas.ts';
import type { KeyStorage } from '../signers/ca-key-token.ts';
import type { AccessCasService } from './access-cas-service.ts';

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
    params: AppIdParams, body: CreateCaBody, response: envelopeSchema(CaView),
    handler: async ({ scope, params, principal, body }) => ok(await cas.create(scope, params.app_id, actorOf(principal), body?.key_storage)),
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

  // The rotation steps: no body (rotate's may say where the next key lives), the actor audited, the key the step leaves behind in the answer.
  const step = (path: string, view: TSchema, run: (scope: Scope, appId: string, actor: string, body: { key_storage?: KeyStorage }) => Promise<unknown>, body: TSchema = EmptyBody) => route({
    method: 'POST', path: `/access/apps/:app_id/ca/rotate${path}`, permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body, response: envelopeSchema(view),
    handler: async ({ scope, params, principal, body: given }) => ok(await run(scope, params.app_id, actorOf(principal), (given ?? {}) as { key_storage?: KeyStorage })),
  });
  step('', CaKeyView, (scope, appId, actor, body) => cas.rotate(scope, appId, actor, body.key_storage), RotateCaBody);
  step('/activate', CaKeyView, cas.activate);
  step('/retire', RetiredKey, cas.retire);

  // Servers poll this: each asks again every time, and an unchanged file costs no body.
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/trusted_keys', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: envelopeSchema(TrustedKeysView),
    handler: async ({ scope, params, request }) => {
      const trusted = await cas.trustedKeys(scope, params.app_id);
      const headers = { etag: entityTag(trusted.trusted_user_ca_keys), 'cache-control': 'no-cache' };
      if (noneMatch(request.headers['if-none-match'], headers.etag)) return rawReply(304, headers);
      return rawReply(200, { ...headers, 'content-type': 'application/json; charset=utf-8' }, Buffer.from(JSON.stringify(ok(trusted))));
    },
  });
}
