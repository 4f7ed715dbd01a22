import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { EmptyBody, envelopeSchema, ok } from '../platform/http/envelope.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { CaKeyView, RetiredKey } from './access-cas-schemas.ts';
import type { GatewayCaService } from './gateway-ca-service.ts';

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Cloudflare's gateway CA object (`id`, `public_key`), and ours: every key of a rotation. */
export const GatewayCaView = Type.Object({
  id: Type.String(),
  public_key: Type.String(),
  keys: Type.Array(CaKeyView),
  created_at: Type.String(),
});
const CertificateIdParams = Type.Object({ certificate_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });

/** `/accounts/{account_id}/access/gateway_ca`: Cloudflare's create, list and delete, and our rotation steps. */
export function registerGatewayCaRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; gatewayCa: GatewayCaService }): void {
  const { gatewayCa } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);
  const forms = ['account'] as const;
  route({
    method: 'POST', path: '/access/gateway_ca', forms, permissions: APPS_WRITE, status: 200, body: EmptyBody, response: envelopeSchema(GatewayCaView),
    handler: async ({ scope, principal }) => ok(await gatewayCa.create(scope.accountId, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/gateway_ca', forms, permissions: APPS_READ, status: 200, response: envelopeSchema(Type.Array(GatewayCaView)),
    handler: async ({ scope }) => ok(await gatewayCa.list(scope.accountId)),
  });
  route({
    method: 'DELETE', path: '/access/gateway_ca/:certificate_id', forms, permissions: APPS_WRITE, status: 200, params: CertificateIdParams, body: EmptyBody,
    response: envelopeSchema(Type.Object({ id: Type.String() })),
    handler: async ({ scope, params, principal }) => ok(await gatewayCa.delete(scope.accountId, params.certificate_id, actorOf(principal))),
  });
  const step = (path: string, view: typeof CaKeyView | typeof RetiredKey, run: (accountId: string, actor: string) => Promise<unknown>) => route({
    method: 'POST', path: `/access/gateway_ca/rotate${path}`, forms, permissions: APPS_WRITE, status: 200, body: EmptyBody, response: envelopeSchema(view),
    handler: async ({ scope, principal }) => ok(await run(scope.accountId, actorOf(principal))),
  });
  step('', CaKeyView, gatewayCa.rotate);
  step('/activate', CaKeyView, gatewayCa.activate);
  step('/retire', RetiredKey, gatewayCa.retire);
}
