import { createHash, timingSafeEqual } from 'node:crypto';
import { cidrContains, parseCidr, type Cidr } from '../platform/cidr.ts';
import { unmappedAddress } from '../platform/client-address.ts';

/** Who may read /metrics: clients from these addresses or blocks, or anyone presenting the token. */
export interface MetricsAccess {
  /** Addresses or CIDR blocks allowed without a token. Loopback only unless configured. */
  allow: string[];
  /** A bearer token that opens /metrics from any address; none unless configured. */
  token: string | undefined;
}

/** Fail closed: a deployment that says nothing serves /metrics to loopback only. */
export const defaultMetricsAccess: MetricsAccess = { allow: ['127.0.0.0/8', '::1'], token: undefined };

/** A metrics token long enough that guessing it is hopeless, in characters a header carries as they are. */
const TOKEN_SHAPE = /^[\x21-\x7e]{32,512}$/;

/** The metrics access settings could not be read; the message says which and why, never the token. */
export class MetricsConfigError extends Error {
  override name = 'MetricsConfigError';
}

/**
 * Reads ACCESS_CA_METRICS_ALLOW (comma-separated addresses or CIDR blocks; `none` for no address at all)
 * and ACCESS_CA_METRICS_TOKEN (32 or more printable characters) into MetricsAccess; either left unset
 * keeps its default (loopback; no token).
 */
export function parseMetricsAccess(env: { ACCESS_CA_METRICS_ALLOW?: string | undefined; ACCESS_CA_METRICS_TOKEN?: string | undefined }): MetricsAccess {
  const allowText = env.ACCESS_CA_METRICS_ALLOW?.trim();
  const allow = allowText === undefined || allowText === '' ? defaultMetricsAccess.allow
    : allowText.toLowerCase() === 'none' ? []
    : allowText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  compileAllowList(allow);
  const token = env.ACCESS_CA_METRICS_TOKEN === undefined || env.ACCESS_CA_METRICS_TOKEN === '' ? undefined : env.ACCESS_CA_METRICS_TOKEN.trim();
  if (token !== undefined && !TOKEN_SHAPE.test(token)) {
    throw new MetricsConfigError('ACCESS_CA_METRICS_TOKEN must be 32 to 512 printable characters without spaces (e.g. openssl rand -hex 32)');
  }
  return { allow, token };
}

function compileAllowList(allow: readonly string[]): Cidr[] {
  return allow.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) throw new MetricsConfigError(`metrics allow list: ${JSON.stringify(text)} is not an address or CIDR block (host bits must be zero)`);
    return cidr;
  });
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The request facts the decision needs. */
export interface MetricsRequest {
  /** The client address as Fastify resolved it (through the trusted proxies, when there are any). */
  ip: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Decides whether a request may read /metrics: a matching bearer token from anywhere, or no token from an
 * allowed address. `proxiesTrusted` says whether Fastify resolved `ip` through X-Forwarded-For; when it
 * did not, a request that carries forwarding headers came through a proxy we were not told about, and its
 * socket address (often the proxy's loopback) says nothing about the real client: no address allowance.
 */
export function createMetricsGate(access: MetricsAccess, proxiesTrusted: boolean): (request: MetricsRequest) => boolean {
  const blocks = compileAllowList(access.allow);
  if (access.token !== undefined && !TOKEN_SHAPE.test(access.token)) {
    throw new MetricsConfigError('the metrics token must be 32 to 512 printable characters without spaces');
  }
  const tokenDigest = access.token === undefined ? undefined : digest(access.token);

  function tokenMatches(authorization: string | string[] | undefined): boolean {
    if (tokenDigest === undefined || typeof authorization !== 'string') return false;
    const presented = /^Bearer +([\x21-\x7e]+)$/i.exec(authorization)?.[1];
    // Comparing digests of equal length keeps the comparison's time independent of the token.
    return presented !== undefined && timingSafeEqual(digest(presented), tokenDigest);
  }

  function addressAllowed(request: MetricsRequest): boolean {
    if (!proxiesTrusted && (request.headers['x-forwarded-for'] !== undefined || request.headers['forwarded'] !== undefined || request.headers['x-real-ip'] !== undefined)) return false;
    const client = parseCidr(unmappedAddress(request.ip));
    return client !== null && blocks.some((block) => cidrContains(block, client));
  }

  return (request) => tokenMatches(request.headers['authorization']) || addressAllowed(request);
}
