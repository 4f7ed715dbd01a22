import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { JWTPayload } from 'jose';
import { rfc3339 } from '../platform/clock.ts';
import { ApiError } from '../platform/http/errors.ts';
import { toApiError } from '../platform/http/error-handler.ts';
import { registerJsonBodyParser } from '../platform/http/body-parser.ts';
import type { AccessAppsStore, AppRow } from '../access-apps/access-apps-store.ts';
import type { IdentityProvidersStore, IdpRow } from '../identity-providers/identity-providers-store.ts';
import { peekJwt, TokenRejected, type JwtVerifier } from '../identity-providers/jwt-verifier.ts';
import type { CertIssuer } from './ssh-cert-issuer.ts';
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

/** A refusal in cloudflared's wire form: `{status, message}`. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A catalog error's message without its machine prefix, for a person to read. */
function humanMessage(error: ApiError): string {
  const item = error.items[0]!;
  const { detail } = error;
  const field = item.source?.pointer.slice(1).replace(/\//g, '.');
  if (detail) return field && !detail.includes(field) ? `${field}: ${detail}` : detail;
  if (error.code === 10429) return `too many refused requests from this address; retry in ${error.headers['retry-after']} s`;
  if (error.status === 404) return 'not found';
  return error.status >= 500 ? 'internal error' : item.message;
}

const audiencesOf = (payload: JWTPayload): string[] =>
  typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a) => typeof a === 'string') : [];

type Deps = {
  apps: Pick<AccessAppsStore, 'findByAud' | 'findByHost'>;
  idps: Pick<IdentityProvidersStore, 'findByIssuer' | 'listForAccount'>;
  verifier: JwtVerifier;
  issuer: CertIssuer;
  /** Shared with the API: refused tokens count against the client address like failed logins. */
  limiter: AuthFailureLimiter;
};

/**
 * cloudflared's `/cdn-cgi/access/*` endpoints: `cert_sign` (a person's token and public key in,
 * `{id, certificate, expires_at}` out) and `app` (what a client needs to sign in for a host). Every
 * refusal is a 4xx `{status, message}` a person can act on.
 */
export async function registerCdnCgiAccessRoutes(app: FastifyInstance, deps: Deps): Promise<void> {
  const { apps, idps, verifier, issuer, limiter } = deps;

  async function onlyOne(candidates: AppRow[], none: string): Promise<AppRow> {
    if (candidates.length === 0) throw new Refusal(404, none);
    if (candidates.length > 1) throw new Refusal(400, 'several applications match: send the hostname of exactly one');
    return candidates[0]!;
  }

  /**
   * The app a token is for: by the app's aud tag in the token (Cloudflare's app tokens); else, for a
   * provider's own ID token whose aud is a client id, by the hostname the request names.
   */
  async function appFor(auds: string[], hostname: string | undefined): Promise<AppRow> {
    const byAud = await apps.findByAud(auds);
    if (byAud.length > 0) {
      const chosen = hostname === undefined ? byAud : byAud.filter((a) => a.domain?.split(/[/:]/)[0] === hostname.toLowerCase());
      return onlyOne(chosen, 'no application matches this token\'s audience and hostname');
    }
    if (hostname === undefined) throw new Refusal(404, 'no application matches this token\'s audience');
    return onlyOne(await apps.findByHost(hostname.toLowerCase()), `no application for host ${hostname}`);
  }

  /** Which audience to verify: the app's tag, or a client id (or extra audience) the provider allows. */
  function audienceFor(target: AppRow, idp: IdpRow, auds: string[]): string {
    if (auds.includes(target.aud)) return target.aud;
    const allowed = [...(idp.client_id ? [idp.client_id] : []), ...(JSON.parse(idp.audiences) as string[])];
    const match = allowed.find((a) => auds.includes(a));
    if (!match) throw new TokenRejected('the token is for another client: its audience is neither the application nor the provider\'s client');
    return match;
  }

  await app.register(async (scope) => {
    registerJsonBodyParser(scope);
    // Checked before the body is read: an address that keeps sending bad tokens is slowed down.
    scope.addHook('onRequest', async (request) => limiter.check(request.ip));
    scope.setErrorHandler((error, request, reply) => {
      let status: number;
      let message: string;
      if (error instanceof Refusal) ({ status, message } = error);
      else if (error instanceof TokenRejected) {
        [status, message] = [401, error.message];
        limiter.fail(request.ip);
      } else {
        const apiError = toApiError(error, request);
        [status, message] = [apiError.status, humanMessage(apiError)];
        for (const [name, value] of Object.entries(apiError.headers)) reply.header(name, value);
      }
      return reply.code(status).type('application/json').send({ status, message });
    });

    scope.post('/cdn-cgi/access/cert_sign', { schema: { body: CertSignBody } }, async (request) => {
      const body = request.body as CertSignBody;
      const { payload } = peekJwt(body.jwt);
      const auds = audiencesOf(payload);
      if (auds.length === 0) throw new TokenRejected('the token has no audience');
      const target = await appFor(auds, body.hostname);
      const idp = typeof payload.iss === 'string' ? await idps.findByIssuer(target.account_id, payload.iss) : undefined;
      if (!idp) throw new TokenRejected('the token\'s issuer is not an identity provider of this application\'s account');
      const claims = await verifier.verify(body.jwt, idp, audienceFor(target, idp, auds));
      const email = claims[idp.email_claim];
      if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new TokenRejected(`the token has no ${idp.email_claim} claim with an email`);
      if (claims['email_verified'] === false) throw new Refusal(403, 'the identity provider has not verified this email');
      const issued = await issuer.issue({ app: target, publicKey: body.public_key, identity: email.toLowerCase(), person: { email, claims }, source: 'cert_sign' });
      return { id: issued.id, certificate: issued.certificate, expires_at: rfc3339(issued.validBefore) };
    });

    // Public on purpose: only what a client needs to start a sign-in, nothing secret.
    scope.get('/cdn-cgi/access/app', { schema: { querystring: SignInQuery } }, async (request) => {
      const { hostname } = request.query as Static<typeof SignInQuery>;
      const target = await onlyOne(await apps.findByHost(hostname.toLowerCase()), `no application for host ${hostname}`);
      const provider = (await idps.listForAccount(target.account_id)).find((p) => p.client_id !== null);
      if (!provider) throw new Refusal(404, `sign-in is not set up for ${hostname}: the account has no identity provider with a client_id`);
      return { aud: target.aud, issuer: provider.issuer, client_id: provider.client_id, scopes: provider.scopes.split(' ') };
    });
  });
}
