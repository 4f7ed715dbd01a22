import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { errors } from '../platform/http/errors.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE, GROUPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams } from '../access-apps/access-apps-schemas.ts';
import type { RevocationService } from './revocation-service.ts';

/** A revocation as the API shows it (revocation-service.ts revocationView). */
export const RevocationView = Type.Object({
  id: Type.String(), kind: Type.String(), value: Type.String(), app_id: Type.Union([Type.String(), Type.Null()]), reason: Type.String(),
  actor: Type.String(), certificates: Type.Integer(), created_at: Type.String(), blocks: Type.String(),
  lifted_at: Type.Optional(Type.String()), lifted_by: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

const RevocationParams = Type.Object({
  app_id: AppIdParams.properties.app_id,
  revocation_id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
});

/** Cloudflare's body: `devices` and `warp_session_reauth` speak of WARP devices, which access-ca has none of. */
const RevokeUserBody = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 320 }),
  devices: Type.Optional(Type.Boolean()),
  warp_session_reauth: Type.Optional(Type.Boolean()),
  user_uid: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });

/**
 * Withdrawal beyond one certificate: Cloudflare's revoke_user and revoke_tokens, and the revocations that
 * reach an application (ours), with lifting a principal's block.
 */
export function registerRevocationRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; revocations: RevocationService }): void {
  const { revocations } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);

  route({
    method: 'POST', path: '/access/organizations/revoke_user', permissions: GROUPS_WRITE, status: 200,
    body: RevokeUserBody, query: Type.Object({ devices: Type.Optional(Type.Boolean()) }, { additionalProperties: true }), response: envelopeSchema(Type.Boolean()),
    handler: async ({ scope, body, principal }) => {
      if (body.user_uid !== undefined) throw errors.invalidRequest('access-ca names people by email: send email alone', '/user_uid');
      await revocations.revokeUser(scope, body.email, actorOf(principal));
      return ok(true);
    },
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/revoke_tokens', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: EmptyBody, response: envelopeSchema(Type.Null()),
    handler: async ({ scope, params, principal }) => {
      await revocations.revokeTokens(scope, params.app_id, actorOf(principal));
      return ok(null);
    },
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/revocations', permissions: APPS_READ, status: 200,
    params: AppIdParams, query: Type.Object({ ...PageQuery.properties }, { additionalProperties: true }), response: pageEnvelopeSchema(RevocationView),
    handler: async ({ scope, params, query }) => {
      const { items, info } = await revocations.listRevocations(scope, params.app_id, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/revocations/:revocation_id', permissions: APPS_READ, status: 200,
    params: RevocationParams, response: envelopeSchema(RevocationView),
    handler: async ({ scope, params }) => ok(await revocations.getRevocation(scope, params.app_id, params.revocation_id)),
  });
  route({
    method: 'DELETE', path: '/access/apps/:app_id/ca/revocations/:revocation_id', permissions: APPS_WRITE, status: 200,
    params: RevocationParams, body: EmptyBody, response: envelopeSchema(RevocationView),
    handler: async ({ scope, params, principal }) => ok(await revocations.lift(scope, params.app_id, params.revocation_id, actorOf(principal))),
  });
}
