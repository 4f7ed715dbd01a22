import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { addressRange } from './address-guard.ts';

/** Largest JWKS document read; real ones are a few KiB. */
export const JWKS_MAX_BYTES = 256 * 1024;
/** Most keys a JWKS may hold; providers publish two or three. */
export const JWKS_MAX_KEYS = 100;
/** The whole fetch — DNS, connect, TLS, headers and body — must finish within this. */
export const JWKS_FETCH_TIMEOUT_MS = 5_000;

/** Why a fetch failed, for the administrator adding a provider (never shown to a person signing in). */
export type JwksFetchFailure =
  | 'bad-url' | 'private-address' | 'unreachable' | 'timeout' | 'redirect' | 'http-status' | 'too-large' | 'not-jwks' | 'too-many-keys';

/** A JWKS fetch that failed; the message says what went wrong without naming the addresses involved. */
export class JwksFetchError extends Error {
  override name = 'JwksFetchError';
  constructor(readonly failure: JwksFetchFailure, message: string, readonly bytesRead = 0) {
    super(message);
  }
}

/** A JWKS as fetched: an object whose `keys` are objects, not yet checked for usable keys. */
export interface JwksDocument {
  keys: Record<string, unknown>[];
}

/** Fetches a provider's JWKS; throws JwksFetchError. */
export interface JwksFetcher {
  fetch(url: string): Promise<JwksDocument>;
}

/** Resolves a host name to every address it has (dns.lookup with `all`), replaceable in tests. */
export type Resolve = (hostname: string, family: number) => Promise<{ address: string; family: number }[]>;

export interface JwksFetcherOptions {
  /** Development only: let providers live on private, loopback and link-local addresses. */
  allowPrivateAddresses: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  maxKeys?: number;
  resolve?: Resolve;
}

const systemResolve: Resolve = (hostname, family) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, family: family as 0 | 4 | 6 }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

const refused = () =>
  new JwksFetchError('private-address', 'the JWKS URL\'s host is not a public address (private, loopback, link-local or reserved ranges are refused)');

/**
 * A lookup for node's http client that refuses non-public addresses. The connection goes to exactly the
 * addresses this returns, so what is checked is what is connected to: DNS rebinding between a check and
 * the connect cannot happen. A name with any non-public address is refused outright.
 */
function guardedLookup(resolve: Resolve, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family ?? 0;
    resolve(hostname, family).then((addresses) => {
      if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
      if (!allowPrivate && addresses.some((a) => addressRange(a.address) !== 'public')) throw refused();
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    }).catch((error: NodeJS.ErrnoException) => callback(error, '', 0));
  };
}

function parseDocument(body: Buffer, maxKeys: number): JwksDocument {
  const notJwks = () => new JwksFetchError('not-jwks', 'the JWKS URL did not answer with a JWKS (a JSON object with a "keys" array)', body.length);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw notJwks();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw notJwks();
  const { keys } = parsed as { keys?: unknown };
  if (!Array.isArray(keys)) throw notJwks();
  if (keys.length > maxKeys) throw new JwksFetchError('too-many-keys', `the JWKS holds ${keys.length} keys; at most ${maxKeys} are accepted`, body.length);
  if (!keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) throw notJwks();
  return { keys: keys as Record<string, unknown>[] };
}

/**
 * The one way access-ca fetches a provider's keys: GET over http(s) with no redirects, the address
 * checked at connect time, the whole exchange bounded in time, and the body read as a stream that is
 * cut off as soon as it passes the size limit.
 */
export function createJwksFetcher(opts: JwksFetcherOptions): JwksFetcher {
  const timeoutMs = opts.timeoutMs ?? JWKS_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? JWKS_MAX_BYTES;
  const maxKeys = opts.maxKeys ?? JWKS_MAX_KEYS;
  const allowPrivate = opts.allowPrivateAddresses;
  const lookup = guardedLookup(opts.resolve ?? systemResolve, allowPrivate);

  function target(text: string): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new JwksFetchError('bad-url', 'the JWKS URL is not a URL');
    }
    if (url.username || url.password) throw new JwksFetchError('bad-url', 'the JWKS URL must not carry credentials');
    // An IP literal is connected to without a lookup, so it is judged here.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) && !allowPrivate && addressRange(host) !== 'public') throw refused();
    // Plain http lets anyone on the path swap the keys: only a development setup may use it.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivate)) throw new JwksFetchError('bad-url', 'the JWKS URL must be https');
    return url;
  }

  return {
    fetch(text: string): Promise<JwksDocument> {
      let url: URL;
      try {
        url = target(text);
      } catch (error) {
        return Promise.reject(error);
      }
      return new Promise<JwksDocument>((resolve, reject) => {
        let settled = false;
        let bytesRead = 0;
        let req: ClientRequest | undefined;
        const finish = (error: JwksFetchError | null, doc?: JwksDocument) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (error) {
            req?.destroy();
            reject(error);
          } else resolve(doc!);
        };
        const timer = setTimeout(() => finish(new JwksFetchError('timeout', `the JWKS URL did not answer within ${timeoutMs / 1000} s`, bytesRead)), timeoutMs);
        const unreachable = () => new JwksFetchError('unreachable', 'the JWKS URL could not be reached (DNS, connection or TLS failure)', bytesRead);

        req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
          method: 'GET',
          // A connection of its own: a pooled socket would skip the lookup, and with it the address check.
          agent: false,
          lookup,
          headers: { accept: 'application/jwk-set+json, application/json', 'user-agent': 'access-ca' },
        });
        req.on('socket', (socket) => {
          // The lookup already refused non-public names; this catches any path to a socket that skipped it.
          socket.once('connect', () => {
            if (!allowPrivate && addressRange(socket.remoteAddress ?? '') !== 'public') finish(refused());
          });
        });
        req.on('error', (error) => finish(error instanceof JwksFetchError ? error : unreachable()));
        req.on('response', (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400) {
            return finish(new JwksFetchError('redirect', `the JWKS URL answered with a redirect (HTTP ${status}); redirects are not followed: give the final URL`));
          }
          if (status !== 200) return finish(new JwksFetchError('http-status', `the JWKS URL answered HTTP ${status}, not 200`));
          const declared = Number(res.headers['content-length']);
          const tooLarge = () => new JwksFetchError('too-large', `the JWKS document is larger than ${maxBytes / 1024} KiB`, bytesRead);
          if (Number.isFinite(declared) && declared > maxBytes) return finish(tooLarge());
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => {
            if (settled) return;
            bytesRead += chunk.length;
            if (bytesRead > maxBytes) return finish(tooLarge());
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            try {
              finish(null, parseDocument(Buffer.concat(chunks), maxKeys));
            } catch (error) {
              finish(error as JwksFetchError);
            }
          });
          res.on('error', () => finish(unreachable()));
          res.on('close', () => {
            if (!res.complete) finish(unreachable());
          });
        });
        req.end();
      });
    },
  };
}
