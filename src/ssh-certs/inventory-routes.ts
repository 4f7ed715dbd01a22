import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { PageQuery, pageRequest } from '../platform/http/pagination.ts';
import { errors } from '../platform/http/errors.ts';
import { PRINTABLE_PATTERN, canonicalEmail } from '../platform/text.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { rawReply, scopedRouter } from '../identity/scoped-route.ts';
import { noneMatch } from '../platform/http/conditional.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import { AppIdParams } from '../access-apps/access-apps-schemas.ts';
import { parseSelector, type RevocationService } from './revocation-service.ts';
import { RevocationView } from './revocation-routes.ts';

const CertParams = Type.Object({ app_id: AppIdParams.properties.app_id, cert_id: Type.String({ pattern: '^[0-9a-fA-F]{32}$' }) });
const Reason = Type.String({ minLength: 1, maxLength: 500, pattern: PRINTABLE_PATTERN });

const InventoryQuery = Type.Object({
  ...PageQuery.properties,
  principal: Type.Optional(Type.String({ maxLength: 256 })),
  identity: Type.Optional(Type.String({ maxLength: 320 })),
  key_id: Type.Optional(Type.String({ maxLength: 512 })),
  fingerprint: Type.Optional(Type.String({ maxLength: 60 })),
  valid_at: Type.Optional(Type.String({ maxLength: 40 })),
  status: Type.Optional(Type.Union([Type.Literal('valid'), Type.Literal('expired'), Type.Literal('revoked')])),
}, { additionalProperties: true });

const CertificateView = Type.Object({
  id: Type.String(), serial: Type.String(), key_id: Type.String(), principals: Type.Array(Type.String()), identity: Type.String(),
  public_key_type: Type.String(), public_key_fingerprint: Type.String(), valid_after: Type.String(), valid_before: Type.String(),
  critical_options: Type.Record(Type.String(), Type.String()), extensions: Type.Array(Type.String()), source: Type.String(),
  created_at: Type.String(), status: Type.String(), revoked_at: Type.Optional(Type.String()),
  revocation: Type.Optional(Type.Object({ id: Type.String(), kind: Type.String(), reason: Type.String(), actor: Type.String(), created_at: Type.String() })),
});
const BulkRevoke = Type.Object({
  identity: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
  principal: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 512, pattern: PRINTABLE_PATTERN })),
  public_key_fingerprint: Type.Optional(Type.String({ minLength: 1, maxLength: 60 })),
  reason: Reason,
}, { additionalProperties: false });

function validAt(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(t)) throw errors.invalidRequest('valid_at must be an RFC 3339 time');
  return new Date(t).toISOString();
}

/** The inventory (`…/ca/certificates`), revocation and the KRL (`…/ca/krl`): our extensions. */
export function registerInventoryRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; revocations: RevocationService }): void {
  const { revocations } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);

  route({
    method: 'GET', path: '/access/apps/:app_id/ca/certificates', permissions: APPS_READ, status: 200,
    params: AppIdParams, query: InventoryQuery, response: pageEnvelopeSchema(CertificateView),
    handler: async ({ scope, params, query }) => {
      const { items, info } = await revocations.list(scope, params.app_id, {
        principal: query.principal, identity: query.identity === undefined ? undefined : canonicalEmail(query.identity), keyId: query.key_id,
        fingerprint: query.fingerprint, validAt: validAt(query.valid_at), status: query.status,
      }, pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/certificates/:cert_id', permissions: APPS_READ, status: 200,
    params: CertParams, response: envelopeSchema(CertificateView),
    handler: async ({ scope, params }) => ok(await revocations.get(scope, params.app_id, params.cert_id)),
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/ca/certificates/:cert_id/revoke', permissions: APPS_WRITE, status: 200,
    params: CertParams, body: Type.Object({ reason: Reason }, { additionalProperties: false }), response: envelopeSchema(RevocationView),
    handler: async ({ scope, params, body, principal }) =>
      ok(await revocations.revoke(scope, params.app_id, { kind: 'certificate', value: params.cert_id.toLowerCase() }, body.reason, actorOf(principal))),
  });
  route({
    method: 'POST', path: '/access/apps/:app_id/ca/certificates/revoke', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: BulkRevoke, response: envelopeSchema(RevocationView),
    handler: async ({ scope, params, body, principal }) => ok(await revocations.revoke(scope, params.app_id, parseSelector(body), body.reason, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/krl', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: Type.Any(),
    handler: async ({ scope, params, request }) => {
      const krl = await revocations.krl(scope, params.app_id);
      const headers = { etag: krl.etag, 'x-krl-version': String(krl.version), 'cache-control': 'no-cache' };
      if (noneMatch(request.headers['if-none-match'], krl.etag)) return rawReply(304, headers);
      return rawReply(200, { ...headers, 'content-type': 'application/octet-stream' }, krl.bytes);
    },
  });
}
