/**
 * The one catalog of errors access-ca answers with. Each factory names a situation from CONTRACT §3;
 * the HTTP status is derived from the code in one exhaustive switch, never from message text.
 */

export type ErrorCode =
  | 1000 | 6003 | 6102 | 6103 | 6111 | 7000 | 7003 | 9103 | 9106 | 9109
  | 10000 | 10001 | 10413 | 10415 | 10429 | 10503 | 12045 | 12130 | 12131 | 12132 | 12133 | 12134 | 12135 | 12136 | 12137 | 12138 | 12139 | 12140;

/** The HTTP status for each code. Chain-only codes (61xx) never head a response, so they map to 400. */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 1000: return 401;
    case 6003: case 6102: case 6103: case 6111: return 400;
    case 7000: return 404;
    case 7003: return 400;
    case 9103: return 403;
    case 9106: return 400;
    case 9109: return 403;
    case 10000: return 403;
    case 10001: return 500;
    case 10413: return 413;
    case 10415: return 415;
    case 10429: return 429;
    case 10503: return 503;
    case 12045: return 400;
    case 12130: return 400;
    case 12131: return 409;
    case 12132: return 409;
    case 12133: return 409;
    case 12134: return 409;
    case 12136: return 409;
    case 12137: return 403;
    case 12138: return 403;
    case 12139: return 409;
    case 12140: return 403;
    case 12135: return 404;
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

export interface ErrorItem {
  code: ErrorCode;
  message: string;
  error_chain?: { code: ErrorCode; message: string }[];
  source?: { pointer: string };
}

/** An error whose items and headers are safe to send as they are. */
export class ApiError extends Error {
  readonly status: number;
  readonly items: ErrorItem[];
  readonly headers: Record<string, string>;
  /** The part of the message meant for a person (CLI, cert_sign), without the machine key before it. */
  detail: string | undefined;

  constructor(items: [ErrorItem, ...ErrorItem[]], headers: Record<string, string> = {}) {
    super(items[0].message);
    this.name = 'ApiError';
    this.items = items;
    this.status = statusForCode(items[0].code);
    this.headers = this.status === 409 ? { 'x-should-retry': 'false', ...headers } : headers;
  }

  get code(): ErrorCode {
    return this.items[0]!.code;
  }
}

const one = (code: ErrorCode, message: string, extra: Partial<ErrorItem> = {}): ApiError =>
  new ApiError([{ code, message, ...extra }]);

/** Cloudflare's access errors: `access.api.error.<key>`, with an optional detail after a colon. */
function accessError(code: ErrorCode, key: string, detail?: string, extra: Partial<ErrorItem> = {}): ApiError {
  const error = one(code, detail ? `access.api.error.${key}: ${detail}` : `access.api.error.${key}`, extra);
  error.detail = detail;
  return error;
}

const headerError = (code: 6102 | 6103 | 6111, message: string): ApiError =>
  one(6003, 'Invalid request headers', { error_chain: [{ code, message }] });

export const errors = {
  missingCredentials: () => one(9106, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers'),
  malformedAuthorization: () => headerError(6111, 'Invalid format for Authorization header'),
  malformedAuthEmail: () => headerError(6102, 'Invalid format for X-Auth-Email header'),
  malformedAuthKey: () => headerError(6103, 'Invalid format for X-Auth-Key header'),
  unknownAuthKey: () => one(9103, 'Unknown X-Auth-Key or X-Auth-Email'),
  /** The server takes API tokens only (AppConfig.globalKeys off): a key is refused before it is looked up. */
  globalKeysDisabled: () => one(9103, 'Global API keys (X-Auth-Email/X-Auth-Key) are disabled on this server; use an API token (Authorization: Bearer)'),
  invalidAccessToken: () => one(9109, 'Invalid access token'),
  /** Cloudflare's code and words, then which groups would do: what an operator adds to the token. */
  missingPermission: (anyOf: readonly string[] = []) =>
    one(9109, anyOf.length === 0 ? 'Unauthorized to access requested resource'
      : `Unauthorized to access requested resource: the token needs one of the permission groups ${anyOf.map((g) => `"${g}"`).join(', ')}`),
  /** A host credential or join token on a route that is not a host's own: it may read only its host's trust material. */
  hostCredentialRefused: () => one(9109, 'Unauthorized to access requested resource: a host credential reads only its own host\'s trust bundle, KRL and host certificates (/host routes)'),
  /** A host route without a valid host credential: unknown, removed, or not one at all. */
  invalidHostCredential: () => one(9109, 'Invalid host credential: enroll the host with `access-ca host enroll`'),
  /** A join token that is unknown, used, expired, or answered with another challenge: one answer for all. */
  invalidJoinToken: (detail = 'the join token is unknown, used or expired; make a new one with `access-ca host join-token`') => accessError(12138, 'invalid_join_token', detail),
  invalidApiToken: () => one(1000, 'Invalid API Token'),
  authenticationError: () => one(10000, 'Authentication error'),
  invalidObjectIdentifier: (path: string) =>
    new ApiError([
      { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      { code: 7000, message: 'No route for that URI' },
    ]),
  noRoute: () => one(7000, 'No route for that URI'),
  invalidApplicationId: () => one(12045, 'access.api.error.invalid_application_id'),
  notFound: (detail?: string) => accessError(12135, 'not_found', detail),
  caAlreadyExists: () => one(12131, 'access.api.error.certificate_authority_already_exists'),
  idpAlreadyExists: () => accessError(12132, 'identity_provider_already_exists', 'the account has a provider with this issuer'),
  /** A policy or group that others still use; removing it would change who gets in. */
  inUse: (detail: string) => accessError(12133, 'in_use', detail),
  hostTaken: (host: string) => accessError(12134, 'domain_taken', `the host ${host} belongs to another application`, { source: { pointer: '/domain' } }),
  hostOfAnotherAccount: (host: string, pointer = '/domain') => accessError(12134, 'domain_taken', `the host ${host} is in a zone of another account`, { source: { pointer } }),
  /** A zone-level application's host lies in its zone (identity/host-delegation.ts). */
  hostOutsideZone: (host: string) => accessError(12137, 'domain_not_delegated',
    `the host ${host} is not in this zone; a zone's applications hold hosts under the zone's name`, { source: { pointer: '/domain' } }),
  /** Among several accounts, a host is held only through a zone the operator delegated (identity/host-delegation.ts). */
  hostNotDelegated: (host: string) => accessError(12137, 'domain_not_delegated',
    `the host ${host} is in no zone of this account (GET /zones lists them); an operator delegates hosts to an account with \`access-ca zone create --account <id> --name <dns name>\``,
    { source: { pointer: '/domain' } }),
  /** A CA key rotation step that does not follow from the keys as they are (one rotation at a time). */
  rotationConflict: (detail: string) => accessError(12136, 'ca_rotation_conflict', detail),
  /** Only a principal's block is lifted; other revocations stand (a certificate or key in a KRL stays there). */
  revocationNotLiftable: (detail: string) => accessError(12139, 'revocation_not_liftable', detail),
  policyRefused: (detail: string) => accessError(12140, 'refused_by_policy', detail),
  invalidRequest: (detail: string, pointer?: string) =>
    accessError(12130, 'invalid_request', detail, pointer === undefined ? {} : { source: { pointer } }),
  bodyTooLarge: (limit: number) => one(10413, `Request body is larger than ${limit} bytes`),
  unsupportedMediaType: () => one(10415, 'Unsupported Content-Type: send application/json or no body'),
  /** `retry-after` in whole seconds (what the SDK waits), with the limiter's `ratelimit` / `ratelimit-policy` fields. */
  rateLimited: (retryAfterSeconds: number, fields: Record<string, string> = {}) =>
    new ApiError([{ code: 10429, message: 'Rate limited' }], { 'retry-after': String(Math.ceil(retryAfterSeconds)), ...fields }),
  internal: () => one(10001, 'Internal error'),
  /** A request that reached a server already stopping (on a kept-alive connection): try again, elsewhere. */
  /** The store cannot serve now (no connection, shutting down, full, read-only): clients retry, an operator is told once (store-health.ts). */
  storeUnavailable: () => new ApiError([{ code: 10503, message: 'The store is unavailable; retry the request' }], { 'retry-after': '2' }),
  storeContended: () => new ApiError([{ code: 10503, message: 'The store was busy with conflicting writes; retry the request' }], { 'retry-after': '1' }),
  storeBusy: () => new ApiError([{ code: 10503, message: 'The store did not answer in time; retry the request' }], { 'retry-after': '1' }),
  /** `serve --audit-log` could not write the request's events: nothing is acknowledged that is not in the stream. */
  auditLogUnavailable: () => new ApiError([{ code: 10503, message: 'The audit log could not be written; retry the request' }], { 'retry-after': '5' }),
  /**
   * A CA key held in a PKCS#11 token that cannot sign now (module missing, token absent, PIN refused, key
   * gone): a person is told why in our words; an operator must act, so clients wait longer before retrying.
   */
  caKeyUnavailable: (reason: string) =>
    new ApiError([{ code: 10503, message: `This CA's key is held in a PKCS#11 token that cannot sign now: ${reason}. Other CAs are not affected; retry later` }], { 'retry-after': '30' }),
  /** More signatures are waiting for the token than its queue holds, or one waited past its bound. */
  signerBusy: () => new ApiError([{ code: 10503, message: 'The PKCS#11 token that holds this CA\'s key is busy; retry the request' }], { 'retry-after': '1' }),
  shuttingDown: () => new ApiError([{ code: 10503, message: 'The server is shutting down; retry the request' }], { 'retry-after': '1', connection: 'close' }),
} as const;
