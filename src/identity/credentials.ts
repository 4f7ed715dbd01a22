import { ApiError, errors } from '../platform/http/errors.ts';

/** Credentials as they arrived, each already checked for form (CONTRACT §8). */
export type Credential =
  | { kind: 'token'; token: string }
  | { kind: 'emailKey'; email: string; key: string };

/**
 * What the request carried, in the order failures are reported: email+key first, then token. `malformed`
 * is refused on sight, before any lookup: a bad form, or a global key on a server that takes none.
 */
export type ParsedCredential = Credential | { kind: 'malformed'; error: ApiError };

/**
 * A host's credential (infrastructure/host-enrollment-service.ts) starts with this. It is not an API token:
 * every route but a host's own answers it 403 without looking it up.
 */
export const HOST_CREDENTIAL_PREFIX = 'acah_';
/** A single-use join token a host enrolls with; no route but enrollment takes it. */
export const JOIN_TOKEN_PREFIX = 'acaj_';

const SECRET = /^[\x21-\x7e]{1,256}$/;
const EMAIL = /^[^@\s]{1,256}@[^@\s]{1,256}$/;

type HeaderBag = Record<string, string | string[] | undefined>;

function single(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * Reads X-Auth-Email/X-Auth-Key and Authorization. Throws 9106 when none of them is present;
 * a malformed one becomes a failure that another, valid credential may still outweigh. With
 * `globalKeys: false` an X-Auth-Email or X-Auth-Key header, well-formed or not, is refused as such.
 */
export function parseCredentials(headers: HeaderBag, opts: { globalKeys: boolean } = { globalKeys: true }): ParsedCredential[] {
  const email = single(headers, 'x-auth-email');
  const key = single(headers, 'x-auth-key');
  const authorization = single(headers, 'authorization');
  if (email === undefined && key === undefined && authorization === undefined) throw errors.missingCredentials();

  const found: ParsedCredential[] = [];
  if (email !== undefined || key !== undefined) {
    if (!opts.globalKeys) found.push({ kind: 'malformed', error: errors.globalKeysDisabled() });
    else if (email === undefined || !EMAIL.test(email)) found.push({ kind: 'malformed', error: errors.malformedAuthEmail() });
    else if (key === undefined || !SECRET.test(key)) found.push({ kind: 'malformed', error: errors.malformedAuthKey() });
    else found.push({ kind: 'emailKey', email: email.toLowerCase(), key });
  }
  if (authorization !== undefined) {
    const match = /^Bearer ([^ ]+)$/.exec(authorization);
    if (!match || !SECRET.test(match[1]!)) found.push({ kind: 'malformed', error: errors.malformedAuthorization() });
    else found.push({ kind: 'token', token: match[1]! });
  }
  return found;
}
