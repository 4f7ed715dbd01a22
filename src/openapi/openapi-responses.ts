import { Type, type TSchema } from 'typebox';
import { KnownHostsView } from '../infrastructure/host-schemas.ts';

/**
 * What the OpenAPI document says of answers the route schemas cannot: the error bodies (written by the
 * error handlers, not by the routes), replies a handler sends raw (the KRL's bytes, 304s) and the
 * `/cdn-cgi` answers that cloudflared reads, which carry no response schema so that nothing of theirs is
 * whitelisted away.
 */

const ErrorItem = Type.Object({
  code: Type.Integer(),
  message: Type.String(),
  error_chain: Type.Optional(Type.Array(Type.Object({ code: Type.Integer(), message: Type.String() }))),
  source: Type.Optional(Type.Object({ pointer: Type.String() })),
});

/** The v4 envelope of a failure (CONTRACT §3): `success` false, at least one error, `result` null. */
export const ErrorEnvelope = Type.Object({
  success: Type.Literal(false),
  errors: Type.Array(ErrorItem, { minItems: 1 }),
  messages: Type.Array(Type.Object({ code: Type.Integer(), message: Type.String() })),
  result: Type.Null(),
});

/** cloudflared's refusal: a status a person can act on and a message saying why. */
export const CdnCgiError = Type.Object({ status: Type.Integer({ minimum: 400, maximum: 599 }), message: Type.String() });

const CertSigned = Type.Object({ id: Type.String(), certificate: Type.String(), expires_at: Type.String() });
const SignInInfo = Type.Object({ aud: Type.String(), issuer: Type.String(), client_id: Type.String(), scopes: Type.Array(Type.String()) });

/** One documented answer: a JSON body (schema), raw bytes of a media type, or no body at all. */
export type Answer =
  | { description: string; schema: TSchema }
  | { description: string; mediaType: string; schema: TSchema }
  | { description: string; empty: true };

const why: Record<number, string> = {
  400: 'The request or an identifier in its path is not valid',
  401: 'No usable credentials',
  403: 'The credentials do not allow this',
  404: 'Not found (or not visible to these credentials)',
  409: 'Conflicts with the current state',
  413: 'The body is too large',
  415: 'The body is not JSON',
  429: 'Too many failed authentications from this address; see Retry-After',
  500: 'Internal error (never shows internals)',
  503: 'The store is unavailable, or the server is shutting down; retry after Retry-After',
};

/** The error statuses a route can answer: every route the common ones (503 while shutting down), writes a conflict, bodies their limits. */
export function errorStatuses(method: string, hasBody: boolean, cdnCgi: boolean): number[] {
  const statuses = [400, 401, 403, 404, 429, 500, 503];
  if (!cdnCgi && method !== 'GET') statuses.push(409);
  if (hasBody) statuses.push(413, 415);
  return statuses.sort((a, b) => a - b);
}

/** Which part of the server a route belongs to: the v4 API, cloudflared's endpoints, or neither (the console's files). */
export type RouteKind = 'v4' | 'cdn-cgi' | 'other';

/** The error answers of one route, in the shape its kind uses. */
export function errorAnswers(method: string, hasBody: boolean, kind: RouteKind): Record<number, Answer> {
  if (kind === 'other') return { 404: { description: why[404]!, schema: ErrorEnvelope }, 500: { description: why[500]!, schema: ErrorEnvelope }, 503: { description: why[503]!, schema: ErrorEnvelope } };
  const schema = kind === 'cdn-cgi' ? CdnCgiError : ErrorEnvelope;
  return Object.fromEntries(errorStatuses(method, hasBody, kind === 'cdn-cgi').map((s) => [s, { description: why[s]!, schema }]));
}

/** A route outside the API (the web console's pages and files) answers with whatever it serves. */
export const otherAnswers: Record<number, Answer> = {
  200: { description: 'A page or file, served as is (not part of the API)', mediaType: '*/*', schema: Type.String() },
  304: { description: 'Unchanged since the entity tag in If-None-Match: no body', empty: true },
  308: { description: 'Moved: see Location', empty: true },
};

const krlAnswer = (what: string): Answer =>
  ({ description: `${what}, with its ETag and X-KRL-Version`, mediaType: 'application/octet-stream', schema: Type.String({ format: 'binary' }) });

const notModified: Answer = { description: 'Unchanged since the entity tag in If-None-Match: no body', empty: true };

/**
 * Answers of routes whose handler replies raw or that carry no response schema, by method and the route
 * path after the base path or scope (`…` stands for `/accounts/{account_id}` or `/zones/{zone_id}`).
 * They replace the route's own 2xx entry where given, and 304s are added.
 */
export const rawAnswers: Record<string, Record<number, Answer>> = {
  'GET …/access/apps/{app_id}/ca/krl': {
    200: krlAnswer('The OpenSSH key revocation list (ssh-keygen -Q -f)'),
    304: notModified,
  },
  'GET …/access/apps/{app_id}/ca/trusted_keys': { 304: notModified },
  'GET …/infrastructure/targets/{target_id}/krl': { 200: krlAnswer('The KRL the target\'s hosts enforce'), 304: notModified },
  'GET …/infrastructure/targets/{target_id}/trust_bundle': { 304: notModified },
  'GET /host/krl': { 200: krlAnswer('The KRL this host enforces'), 304: notModified },
  'GET /host/trust_bundle': { 304: notModified },
  'GET /cdn-cgi/access/host_ca': {
    200: { description: 'The known_hosts lines for a host name: the host CA keys of the account that holds it, and its revoked host keys', schema: KnownHostsView },
  },
  'POST /cdn-cgi/access/cert_sign': {
    200: { description: 'The signed certificate, as cloudflared reads it', schema: CertSigned },
    502: { description: 'The identity provider\'s keys cannot be used: its entry, or this server\'s settings, must change (the message says which)', schema: CdnCgiError },
    503: { description: 'The store is unavailable, the server is shutting down, or the identity provider did not answer; retry after Retry-After', schema: CdnCgiError },
  },
  'GET /cdn-cgi/access/app': {
    200: { description: 'What a client needs to start a sign-in for the host', schema: SignInInfo },
  },
};
