import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { rfc3339 } from '../platform/clock.ts';
import { envelopeSchema, ok } from '../platform/http/envelope.ts';
import { errors } from '../platform/http/errors.ts';
import type { Authenticator } from './authenticate.ts';
import type { TokenWithPermissions } from './identity-store.ts';

const TokenStatus = Type.Object({
  id: Type.String(),
  status: Type.String(),
  not_before: Type.Optional(Type.String()),
  expires_on: Type.Optional(Type.String()),
});

function statusView(t: TokenWithPermissions) {
  return {
    id: t.id,
    status: 'active',
    ...(t.not_before ? { not_before: rfc3339(new Date(t.not_before)) } : {}),
    ...(t.expires_on ? { expires_on: rfc3339(new Date(t.expires_on)) } : {}),
  };
}

const header = (request: FastifyRequest): string | undefined => {
  const v = request.headers.authorization;
  return Array.isArray(v) ? v.join(',') : v;
};

/** `GET /user/tokens/verify` and its account form: is this bearer token usable, and until when. */
export function registerTokenVerifyRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string }): void {
  const { auth, basePath } = deps;
  const response = { 200: envelopeSchema(TokenStatus) };

  app.get('/user/tokens/verify', { schema: { response } }, async (request) =>
    ok(statusView(await auth.verifyBearer(header(request), request.ip))));

  app.get('/accounts/:account_id/tokens/verify', { schema: { response } }, async (request) => {
    const accountId = (request.params as { account_id: string }).account_id;
    if (!/^[0-9a-f]{32}$/.test(accountId)) {
      throw errors.invalidObjectIdentifier((request.url.split('?')[0] ?? '').slice(basePath.length));
    }
    const token = await auth.verifyBearer(header(request), request.ip);
    if (token.account_id !== accountId) throw errors.authenticationError();
    return ok(statusView(token));
  });
}
