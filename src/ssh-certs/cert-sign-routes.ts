import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { rfc3339 } from '../platform/clock.ts';
import { ApiError } from '../platform/http/errors.ts';
import { toApiError } from '../platform/http/error-handler.ts';
import { registerJsonBodyParser } from '../platform/http/body-parser.ts';
import type { AccessAppsStore, AppRow } from '../access-apps/access-apps-store.ts';
import type { IdentityProvidersStore } from '../identity-providers/identity-providers-store.ts';
import { peekJwt, TokenRejected, type JwtVerifier } from '../identity-providers/jwt-verifier.ts';
import type { CertIssuer } from './ssh-cert-issuer.ts';

const CertSignBody = Type.Object(
  {
    public_key: Type.String({ minLength: 1, maxLength: 16_384 }),
    jwt: Type.String({ minLength: 1, maxLength: 16_384 }),
    issuer: Type.Optional(Type.String({ maxLength: 2048 })),
    hostname: Type.Optional(Type.String({ maxLength: 253 })),
  },
  // cloudflared's request: fields it may add later are ignored, not refused.
  { additionalProperties: true },
);
type CertSignBody = Static<typeof CertSignBody>;

/** A refusal in cloudflared's wire form: `{status, message}`. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A catalog error's message without its machine prefix, for a person to read. */
function humanMessage(error: ApiError): string {
  const item = error.items[0]!;
  const detail = /^access\.api\.error\.[a-z_]+: (.*)$/s.exec(item.message)?.[1];
  const field = item.source?.pointer.slice(1).replace(/\//g, '.');
  if (detail) return field && !detail.includes(field) ? `${field}: ${detail}` : detail;
  const text = item.message;
  if (error.code === 10413) return text;
  if (error.status === 404) return 'not found';
  return error.status >= 500 ? 'internal error' : text;
}

function hostOf(domain: string | null): string | null {
  return domain === null ? null : domain.split('/')[0]!.replace(/:\d+$/, '');
}

/**
 * `POST /cdn-cgi/access/cert_sign`, in cloudflared's wire format: a person's token and public key in,
 * `{id, certificate, expires_at}` out; every refusal a 4xx `{status, message}` they can act on.
 */
export async function registerCertSignRoute(
  app: FastifyInstance,
  deps: { apps: Pick<AccessAppsStore, 'findByAud'>; idps: Pick<IdentityProvidersStore, 'findByIssuer'>; verifier: JwtVerifier; issuer: CertIssuer },
): Promise<void> {
  const { apps, idps, verifier, issuer } = deps;

  async function appFor(auds: string[], hostname: string | undefined): Promise<AppRow> {
    let candidates = await apps.findByAud(auds);
    if (hostname !== undefined) candidates = candidates.filter((a) => hostOf(a.domain) === hostname.toLowerCase());
    if (candidates.length === 0) throw new Refusal(404, 'no application matches this token\'s audience');
    if (candidates.length > 1) throw new Refusal(400, 'the token names several applications: send the hostname');
    return candidates[0]!;
  }

  await app.register(async (scope) => {
    registerJsonBodyParser(scope);
    scope.setErrorHandler((error, request, reply) => {
      let status: number;
      let message: string;
      if (error instanceof Refusal) ({ status, message } = error);
      else if (error instanceof TokenRejected) [status, message] = [401, error.message];
      else {
        const apiError = toApiError(error, request);
        [status, message] = [apiError.status, humanMessage(apiError)];
      }
      return reply.code(status).type('application/json').send({ status, message });
    });

    scope.post('/cdn-cgi/access/cert_sign', { schema: { body: CertSignBody } }, async (request) => {
      const body = request.body as CertSignBody;
      const { payload } = peekJwt(body.jwt);
      const auds = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a) => typeof a === 'string') : [];
      if (auds.length === 0) throw new TokenRejected('the token has no audience');
      const target = await appFor(auds, body.hostname);
      const idp = typeof payload.iss === 'string' ? await idps.findByIssuer(target.account_id, payload.iss) : undefined;
      if (!idp) throw new TokenRejected('the token\'s issuer is not an identity provider of this application\'s account');
      const claims = await verifier.verify(body.jwt, idp, target.aud);
      const email = claims['email'];
      if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) throw new TokenRejected('the token has no email claim');
      if (claims['email_verified'] === false) throw new Refusal(403, 'the identity provider has not verified this email');
      const issued = await issuer.issue({ app: target, publicKey: body.public_key, identity: email.toLowerCase(), person: { email, claims }, source: 'cert_sign' });
      return { id: issued.id, certificate: issued.certificate, expires_at: rfc3339(issued.validBefore) };
    });
  });
}
