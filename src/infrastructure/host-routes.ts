import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { EmptyBody, envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { errors, ApiError } from '../platform/http/errors.ts';
import { pageRequest } from '../platform/http/pagination.ts';
import { noneMatch } from '../platform/http/conditional.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { CDN_CGI_PREFIX } from '../platform/http/error-handler.ts';
import { actorOf, type Authenticator } from '../identity/authenticate.ts';
import { rawReply, scopedRouter } from '../identity/scoped-route.ts';
import { APPS_READ, APPS_WRITE } from '../identity/permission-groups.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import type { Built, HostBundleService } from './host-bundle-service.ts';
import type { HostCaService } from './host-ca-service.ts';
import { enrolledHostView, type HostEnrollmentService } from './host-enrollment-service.ts';
import type { EnrolledHost } from './host-enrollment-store.ts';
import type { TargetsService } from './targets-service.ts';
import { TargetIdParams } from './targets-schemas.ts';
import {
  BundleView, ChallengeInput, ChallengeView, EnrolledView, EnrollInput, HostCaInput, HostCaKeyView, HostCaView, HostCertificatesInput,
  HostCertificatesView, HostIdParams, HostsQuery, HostView, JoinTokenInput, JoinTokenParams, JoinTokenStatusView, JoinTokenView, RevokedHostKeyView, RevokeHostKeyInput,
} from './host-schemas.ts';

export interface HostRoutesDeps {
  auth: Authenticator;
  basePath: string;
  limiter: AuthFailureLimiter;
  targets: TargetsService;
  enrollment: HostEnrollmentService;
  bundles: HostBundleService;
  hostCa: HostCaService;
}

/** A Go duration from a body field, in whole seconds; 400 naming the field otherwise. */
function seconds(text: string | undefined, pointer: string): number | undefined {
  if (text === undefined) return undefined;
  const s = parseGoDuration(text);
  if (s === null || s <= 0) throw errors.invalidRequest('a duration such as 1h or 720h', pointer);
  return Math.round(s);
}

/** A built bundle or KRL, or 304 when the client holds it; its version in a header of its own. */
function conditional(request: FastifyRequest, built: Built, versionHeader: string, contentType: string) {
  const headers = { etag: built.etag, [versionHeader]: String(built.version), 'cache-control': 'no-cache' };
  if (noneMatch(request.headers['if-none-match'], built.etag)) return rawReply(304, headers);
  return rawReply(200, { ...headers, 'content-type': contentType }, built.bytes);
}

/**
 * The fleet's routes. Operators (API tokens): join tokens, enrolled hosts, a target's bundle and KRL, the
 * host CA. Hosts: enrollment with a join token, then, with the host credential alone, `/host/*` — their
 * own target's bundle, KRL and host certificates, and nothing else. The host CA's public keys are public.
 */
export async function registerHostRoutes(app: FastifyInstance, deps: HostRoutesDeps): Promise<void> {
  const { enrollment, bundles, hostCa, targets, limiter } = deps;
  const route = scopedRouter(app, deps.auth, deps.basePath);
  const account = ['account'] as const;
  const JSON_TYPE = 'application/json; charset=utf-8';

  // --- operators ---------------------------------------------------------------------------------
  route({
    method: 'POST', path: '/infrastructure/targets/:target_id/join_token', forms: account, permissions: APPS_WRITE, status: 200,
    params: TargetIdParams, body: JoinTokenInput, response: envelopeSchema(JoinTokenView),
    handler: async ({ scope, params, body, principal }) => {
      const target = await targets.row(scope.accountId, params.target_id);
      return ok(await enrollment.createJoinToken(target, { ttlSeconds: seconds(body.ttl, '/ttl'), hostKeyFingerprints: body.host_key_fingerprints }, actorOf(principal)));
    },
  });
  route({
    method: 'GET', path: '/infrastructure/targets/:target_id/join_tokens', forms: account, permissions: APPS_READ, status: 200,
    params: TargetIdParams, response: envelopeSchema(Type.Array(JoinTokenStatusView)),
    handler: async ({ scope, params }) => ok(await enrollment.joinTokens(await targets.row(scope.accountId, params.target_id))),
  });
  route({
    method: 'DELETE', path: '/infrastructure/targets/:target_id/join_tokens/:token_id', forms: account, permissions: APPS_WRITE, status: 200,
    params: JoinTokenParams, body: EmptyBody, response: envelopeSchema(Type.Object({ id: Type.String() })),
    handler: async ({ scope, params, principal }) =>
      ok(await enrollment.deleteJoinToken(await targets.row(scope.accountId, params.target_id), params.token_id, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/infrastructure/targets/:target_id/trust_bundle', forms: account, permissions: APPS_READ, status: 200,
    params: TargetIdParams, response: envelopeSchema(BundleView),
    handler: async ({ scope, params, request }) => conditional(request, await bundles.bundle(await targets.row(scope.accountId, params.target_id)), 'x-bundle-version', JSON_TYPE),
  });
  route({
    method: 'GET', path: '/infrastructure/targets/:target_id/krl', forms: account, permissions: APPS_READ, status: 200,
    params: TargetIdParams, response: Type.Any(),
    handler: async ({ scope, params, request }) => conditional(request, await bundles.krl(await targets.row(scope.accountId, params.target_id)), 'x-krl-version', 'application/octet-stream'),
  });
  route({
    method: 'GET', path: '/infrastructure/hosts', forms: account, permissions: APPS_READ, status: 200, query: HostsQuery, response: pageEnvelopeSchema(HostView),
    handler: async ({ scope, query }) => {
      const { items, info } = await enrollment.list(scope.accountId, query.target_id?.toLowerCase(), pageRequest(query));
      return okPage(items, info);
    },
  });
  route({
    method: 'DELETE', path: '/infrastructure/hosts/:host_id', forms: account, permissions: APPS_WRITE, status: 200,
    params: HostIdParams, body: EmptyBody, response: envelopeSchema(Type.Object({ id: Type.String() })),
    handler: async ({ scope, params, principal }) => ok(await enrollment.remove(scope.accountId, params.host_id, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/host_ca', forms: account, permissions: APPS_READ, status: 200, response: envelopeSchema(HostCaView),
    handler: async ({ scope }) => ok(await hostCa.view(scope.accountId)),
  });
  route({
    method: 'POST', path: '/access/host_ca', forms: account, permissions: APPS_WRITE, status: 200, body: HostCaInput, response: envelopeSchema(HostCaView),
    handler: async ({ scope, principal, body }) => ok(await hostCa.configure(scope.accountId, seconds(body.max_ttl, '/max_ttl'), actorOf(principal))),
  });
  const step = (path: string, view: typeof HostCaKeyView | typeof DeletedKey, run: (accountId: string, actor: string) => Promise<unknown>) => route({
    method: 'POST', path: `/access/host_ca/rotate${path}`, forms: account, permissions: APPS_WRITE, status: 200, body: EmptyBody, response: envelopeSchema(view),
    handler: async ({ scope, principal }) => ok(await run(scope.accountId, actorOf(principal))),
  });
  const DeletedKey = Type.Object({ id: Type.String() });
  step('', HostCaKeyView, hostCa.rotate);
  step('/activate', HostCaKeyView, hostCa.activate);
  step('/retire', DeletedKey, hostCa.retire);
  route({
    method: 'POST', path: '/access/host_ca/revoked_keys', forms: account, permissions: APPS_WRITE, status: 200, body: RevokeHostKeyInput, response: envelopeSchema(RevokedHostKeyView),
    handler: async ({ scope, principal, body }) => ok(await hostCa.revokeHostKey(scope.accountId, body.public_key, body.reason, actorOf(principal))),
  });
  route({
    method: 'GET', path: '/access/host_ca/revoked_keys', forms: account, permissions: APPS_READ, status: 200, response: envelopeSchema(Type.Array(RevokedHostKeyView)),
    handler: async ({ scope }) => ok(await hostCa.revokedHostKeys(scope.accountId)),
  });

  // --- hosts ----------------------------------------------------------------------------------------
  /** A refusal of a host's credential or join token counts against its address, as a failed login does. */
  const counted = async <T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) throw limiter.fail(request.ip) ?? error;
      throw error;
    }
  };
  const host = (request: FastifyRequest): Promise<EnrolledHost> => counted(request, () => enrollment.authenticate(request.headers.authorization));
  const targetOf = (h: EnrolledHost) => ({ id: h.target_id, account_id: h.account_id, host: h.host });

  app.post('/host/enroll/challenge', { schema: { body: ChallengeInput, response: { 200: envelopeSchema(ChallengeView) } } }, async (request) =>
    ok(await counted(request, () => enrollment.challenge((request.body as Static<typeof ChallengeInput>).join_token))));
  app.post('/host/enroll', { schema: { body: EnrollInput, response: { 200: envelopeSchema(EnrolledView) } } }, async (request) => {
    const enrolled = await counted(request, () => enrollment.enroll(request.body as Static<typeof EnrollInput>));
    // The host CA is made with the account's first host. The token is used by now: a failure here must not
    // lose the credential (the first host certificate request makes the CA too).
    await hostCa.ensure(enrolled.account_id, `host:${enrolled.id}`).catch((error: unknown) => request.log.warn({ err: error }, 'could not make the account\'s host CA at enrollment'));
    return ok(enrolled);
  });
  app.get('/host', { schema: { response: { 200: envelopeSchema(HostView) } } }, async (request) => {
    return ok(enrolledHostView(await host(request)));
  });
  app.get('/host/trust_bundle', { schema: { response: { 200: envelopeSchema(BundleView) } } }, async (request, reply) => {
    const h = await host(request);
    const raw = conditional(request, await bundles.bundle(targetOf(h), async () => ({ host_certificates: await hostCa.hostStatus(h) })), 'x-bundle-version', JSON_TYPE);
    return reply.code(raw.status as 200).headers(raw.headers).send(raw.body);
  });
  app.get('/host/krl', async (request, reply) => {
    const raw = conditional(request, await bundles.krl(targetOf(await host(request))), 'x-krl-version', 'application/octet-stream');
    return reply.code(raw.status).headers(raw.headers).send(raw.body);
  });
  app.post('/host/certificates', { schema: { body: HostCertificatesInput, response: { 200: envelopeSchema(HostCertificatesView) } } }, async (request) => {
    const h = await host(request);
    const body = (request.body ?? {}) as Static<typeof HostCertificatesInput>;
    return ok(await hostCa.issue(h, { publicKeys: body.public_keys, ttlSeconds: seconds(body.ttl, '/ttl') }));
  });
}

/** `GET /cdn-cgi/access/host_ca?hostname=H`: public, for `access-ca known-hosts`; only names some account holds. */
export async function registerPublicHostCaRoute(app: FastifyInstance, deps: { hostCa: HostCaService }): Promise<void> {
  const Query = Type.Object({ hostname: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$' }) }, { additionalProperties: true });
  await app.register(async (scope) => {
    scope.setErrorHandler((error, _request, reply) => {
      const status = error instanceof ApiError ? error.status : (error as { statusCode?: number }).statusCode === 400 ? 400 : 500;
      const message = status === 400 ? 'hostname must be a host name' : status === 404 ? 'not found' : 'internal error';
      if (status >= 500) reply.log.error({ err: error }, 'host_ca lookup failed');
      return reply.code(status).type('application/json').send({ status, message });
    });
    scope.get('/access/host_ca', { schema: { querystring: Query } }, async (request, reply) => {
      const { hostname } = request.query as Static<typeof Query>;
      const found = await deps.hostCa.knownHosts(hostname);
      if (!found) return reply.code(404).type('application/json').send({ status: 404, message: `no host CA speaks for ${hostname.slice(0, 253)}` });
      return found;
    });
  }, { prefix: CDN_CGI_PREFIX });
}
