import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { ApiError } from '../platform/http/errors.ts';
import { CDN_CGI_PREFIX, toApiError } from '../platform/http/error-handler.ts';
import { registerJsonBodyParser } from '../platform/http/body-parser.ts';
import type { AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { IdentityProvidersStore } from '../identity-providers/identity-providers-store.ts';
import { ProviderKeysUnavailable, TokenRejected } from '../identity-providers/jwt-verifier.ts';
import type { TargetCoverage } from './target-coverage.ts';
import { Refusal, type CertSignService } from './cert-sign-service.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';

const HOSTNAME = '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$';

const CertSignBody = Type.Object(
  {
    public_key: Type.String({ minLength: 1, maxLength: 16_384 }),
    jwt: Type.String({ minLength: 1, maxLength: 16_384 }),
    issuer: Type.Optional(Type.String({ maxLength: 2048 })),
    hostname: Type.Optional(Type.String({ maxLength: 253, pattern: HOSTNAME })),
  },
  // cloudflared's request: fields it may add later are ignored, not refused.
  { additionalProperties: true },
);
type CertSignBody = Static<typeof CertSignBody>;

const SignInQuery = Type.Object({ hostname: Type.String({ maxLength: 253, pattern: HOSTNAME }) }, { additionalProperties: true });

/** A catalog error's message without its machine prefix, for a person to read. */
function humanMessage(error: ApiError): string {
  const item = error.items[0]!;
  const { detail } = error;
  const field = item.source?.pointer.slice(1).replace(/\//g, '.');
  if (detail) return field && !detail.includes(field) ? `${field}: ${detail}` : detail;
  if (error.code === 10429) return `too many refused requests from this address; retry in ${error.headers['retry-after']} s`;
  if (error.status === 404) return 'not found';
  // A 503 (the store is unavailable, the server is closing) says so in our own words, with retry-after;
  // any other fault on our side is only "internal error".
  if (error.status === 503) return item.message;
  return error.status >= 500 ? 'internal error' : item.message;
}

type Deps = {
  apps: Pick<AccessAppsStore, 'findByHost'>;
  idps: Pick<IdentityProvidersStore, 'listForAccount'>;
  certSign: CertSignService;
  /** A target's hostname names the infrastructure application that covers it. */
  coverage?: Pick<TargetCoverage, 'coveringApps'> | undefined;
  /** Shared with the API: refused tokens count against the client address like failed logins. */
  limiter: AuthFailureLimiter;
};

/**
 * cloudflared's `/cdn-cgi/access/*` endpoints: `cert_sign` (a person's token and public key in,
 * `{id, certificate, expires_at}` out) and `app` (what a client needs to sign in for a host). Every
 * refusal is a 4xx `{status, message}` a person can act on.
 */
export async function registerCdnCgiAccessRoutes(app: FastifyInstance, deps: Deps): Promise<void> {
  const { apps, idps, certSign, limiter } = deps;

  await app.register(async (scope) => {
    registerJsonBodyParser(scope);
    scope.setErrorHandler((error, request, reply) => {
      let status: number;
      let message: string;
      if (error instanceof Refusal) {
        ({ status, message } = error);
        for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      }
      else if (error instanceof ProviderKeysUnavailable) {
        // The provider's fault or this server's settings, never the person's: not counted against them.
        [status, message] = [error.transient ? 503 : 502, error.message];
        if (error.transient) reply.header('retry-after', '10');
      } else if (error instanceof TokenRejected) {
        // A client that keeps sending refused tokens is told to back off; its own failures only. The
        // limiter's headers (retry-after, ratelimit, ratelimit-policy) go out as on the v4 API's 429, and a
        // refusal it counted tells the client what is left of its allowance.
        const limited = limiter.fail(request.ip);
        if (limited) [status, message] = [429, `too many refused tokens from this address; retry in ${limited.headers['retry-after']} s`];
        else [status, message] = [401, error.message];
        reply.headers(limited?.headers ?? limiter.allowance(request.ip));
      } else {
        const apiError = toApiError(error, request);
        [status, message] = [apiError.status, humanMessage(apiError)];
        for (const [name, value] of Object.entries(apiError.headers)) reply.header(name, value);
      }
      // Every refusal leaves a line for operators (the token itself never does).
      if (status < 500) request.log.info({ event: 'cdn_cgi.refused', url: request.routeOptions.url, status, reason: message }, 'request refused');
      return reply.code(status).type('application/json').send({ status, message });
    });

    scope.setNotFoundHandler((request, reply) => reply.code(404).type('application/json').send({ status: 404, message: `no such endpoint: ${request.method} ${request.url.split('?')[0]!.slice(0, 100)}` }));

    scope.post('/access/cert_sign', { schema: { body: CertSignBody } }, async (request) =>
      certSign.sign(request.body as CertSignBody, { ip: request.ip, rayId: request.id }, request.log));

    // Public on purpose: only what a client needs to start a sign-in, nothing secret.
    scope.get('/access/app', { schema: { querystring: SignInQuery } }, async (request) => {
      const { hostname } = request.query as Static<typeof SignInQuery>;
      const covering = deps.coverage && !(await apps.findByHost(hostname)) ? await deps.coverage.coveringApps(hostname) : [];
      if (covering.length > 1) throw new Refusal(400, 'several applications match: send the hostname of exactly one');
      const target = (await apps.findByHost(hostname)) ?? covering[0];
      if (!target) throw new Refusal(404, `no application for host ${hostname}`);
      const provider = (await idps.listForAccount(target.account_id)).find((p) => p.client_id !== null);
      if (!provider) throw new Refusal(404, `sign-in is not set up for ${hostname}: the account has no identity provider with a client_id`);
      return { aud: target.aud, issuer: provider.issuer, client_id: provider.client_id, scopes: provider.scopes.split(' ') };
    });
  }, { prefix: CDN_CGI_PREFIX });
}
