import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { AUDIT_READ } from '../identity/permission-groups.ts';
import type { AccessRequestsQuery, AccessRequestsService } from './access-requests-service.ts';

const names = ['since', 'until', 'direction', 'email', 'email_exact', 'emailOp', 'allowed', 'allowedOp', 'app_uid', 'app_uidOp', 'ray_id', 'ray_idOp',
  'idp', 'idpOp', 'app_type', 'app_typeOp', 'non_identity', 'non_identityOp', 'country_code', 'country_codeOp', 'limit', 'page', 'per_page', 'fields'] as const;
/** Every parameter a string of bounded length (checked in the service); others, user_id included, are ignored as on every list route. */
const Query = Type.Object(Object.fromEntries(names.map((n) => [n, Type.Optional(Type.String({ maxLength: 1024 }))])), { additionalProperties: true });

/** Items are whitelisted: a field not listed here never leaves, whatever an event's data holds. */
const View = Type.Object({
  action: Type.Optional(Type.String()), allowed: Type.Optional(Type.Boolean()), app_domain: Type.Optional(Type.String()), app_uid: Type.Optional(Type.String()),
  connection: Type.Optional(Type.String()), created_at: Type.Optional(Type.String()), ip_address: Type.Optional(Type.String()), ray_id: Type.Optional(Type.String()),
  user_email: Type.Optional(Type.String()), non_identity: Type.Optional(Type.Boolean()), actor: Type.Optional(Type.String()),
  certificate_id: Type.Optional(Type.String()), serial: Type.Optional(Type.String()), reason: Type.Optional(Type.String()),
});

/** `GET /accounts/{id}/access/logs/access_requests`: Cloudflare's authentication log, over every signing decision. */
export function registerAccessRequestsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; accessRequests: AccessRequestsService }): void {
  const route = scopedRouter(app, deps.auth, deps.basePath);
  route({
    method: 'GET', path: '/access/logs/access_requests', forms: ['account'], permissions: AUDIT_READ, status: 200,
    query: Query, response: pageEnvelopeSchema(View),
    handler: async ({ scope, query }) => {
      const { items, info } = await deps.accessRequests.list(scope.accountId, query as AccessRequestsQuery);
      return okPage(items, info);
    },
  });
}
