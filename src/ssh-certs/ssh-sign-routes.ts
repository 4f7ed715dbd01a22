import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { envelopeSchema, ok } from '../platform/http/envelope.ts';
import { errors } from '../platform/http/errors.ts';
import { actorOf, type Authenticator, type Scope } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE, CERTS_SIGN } from '../identity/permission-groups.ts';
import { AppIdParams } from '../access-apps/access-apps-schemas.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { parseGoDuration, GO_DURATION_PATTERN } from '../platform/go-duration.ts';
import { CertPolicyInput, CertPolicyView } from './policy/cert-policy-schemas.ts';
import { normalizePolicy, policyView } from './policy/cert-policy.ts';
import type { CertPolicyStore } from './policy/cert-policy-store.ts';
import type { ApiSignService } from './api-sign-service.ts';

const SignBody = Type.Object(
  {
    public_key: Type.String({ minLength: 1, maxLength: 16_384 }),
    principals: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 64 }),
    ttl: Type.Optional(Type.Union([Type.String({ maxLength: 32, pattern: GO_DURATION_PATTERN }), Type.Integer({ minimum: 1, maximum: 31_536_000 })])),
    // One word: it follows the CA's own part of the key id as `label=<key_id>`.
    key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:@/+=-]+$' })),
    critical_options: Type.Optional(Type.Object({
      force_command: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      source_address: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 100 })),
    }, { additionalProperties: false })),
    extensions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 20 })),
  },
  { additionalProperties: false },
);

const Signed = Type.Object({
  id: Type.String(),
  serial: Type.String(),
  certificate: Type.String(),
  principals: Type.Array(Type.String()),
  valid_after: Type.String(),
  valid_before: Type.String(),
});


function ttlSeconds(ttl: string | number | undefined): number | undefined {
  if (ttl === undefined || typeof ttl === 'number') return ttl;
  const s = parseGoDuration(ttl);
  if (s === null || !Number.isInteger(s)) throw errors.invalidRequest('ttl must be whole seconds, e.g. 5m or 300', '/ttl');
  return s;
}

/** The automation signing route and the per-app certificate policy routes (our extensions). */
export function registerSshSignRoutes(
  app: FastifyInstance,
  deps: { auth: Authenticator; basePath: string; apps: Pick<AccessAppsStore, 'get'>; policies: CertPolicyStore; apiSign: ApiSignService; now: () => Date },
): void {
  const { apps, policies } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);
  const appIn = (scope: Scope, id: string) => requireApp(apps, scope, id);

  route({
    method: 'POST', path: '/access/apps/:app_id/ca/sign', permissions: CERTS_SIGN, status: 200,
    params: AppIdParams, body: SignBody, response: envelopeSchema(Signed),
    handler: async ({ scope, params, body, principal, request }) => ok(await deps.apiSign.sign(scope, actorOf(principal), params.app_id, {
      publicKey: body.public_key, principals: body.principals, ttl: ttlSeconds(body.ttl),
      forceCommand: body.critical_options?.force_command, sourceAddress: body.critical_options?.source_address,
      extensions: body.extensions, keyIdLabel: body.key_id,
    }, { ip: request.ip, rayId: request.id }, request.log)),
  });
  route({
    method: 'GET', path: '/access/apps/:app_id/ca/policy', permissions: APPS_READ, status: 200,
    params: AppIdParams, response: envelopeSchema(CertPolicyView),
    handler: async ({ scope, params }) => ok(policyView(await policies.get((await appIn(scope, params.app_id)).id))),
  });
  route({
    method: 'PUT', path: '/access/apps/:app_id/ca/policy', permissions: APPS_WRITE, status: 200,
    params: AppIdParams, body: CertPolicyInput, response: envelopeSchema(CertPolicyView),
    handler: async ({ scope, params, body }) => {
      const target = await appIn(scope, params.app_id);
      const policy = normalizePolicy(body);
      await policies.put(target.id, policy, deps.now().toISOString());
      return ok(policyView(policy));
    },
  });
}
