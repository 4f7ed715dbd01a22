import { OperatorError } from '../platform/operator-error.ts';

/** What the host agent refuses or cannot do: a message for the operator, exit 1. */
export class AgentError extends Error {
  override name = 'AgentError';
}

/** What the operator gave the agent is unusable (a token file, a flag's value): exit 2, like any bad input. */
export class AgentInputError extends OperatorError {
  override name = 'AgentInputError';
}

/** Loop mode was told to stop while a round was under way. */
export class AgentStopped extends Error {
  override name = 'AgentStopped';
}

export const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const ETAG = /^[\x21-\x7e]{1,256}$/;

/** How the agent reaches the server; tests inject a fetch and a signal. */
export interface AgentHttp {
  fetch?: typeof fetch;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One answer, its body read within its bound. */
export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  /** A well-formed ETag, or null. */
  etag: string | null;
}

/** Reads a body up to `limit` bytes; larger is refused, whatever Content-Length claims. */
async function readBounded(res: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw new AgentError(`${what}: the answer is larger than ${limit} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new AgentError(`${what}: the answer is larger than ${limit} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, size);
}

/** The API's error text, when the answer is our envelope. */
export function apiError(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[]; message?: unknown };
    const first = parsed.errors?.[0];
    if (typeof first?.message === 'string') return `${first.message}${typeof first.code === 'number' ? ` (code ${first.code})` : ''}`;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return 'no reason given';
}

/**
 * One request to the server's origin with a deadline (covering the body), a size bound, and no redirects
 * (the credential goes only to the origin the operator named). A 304 comes back as it is; any other status
 * but 200 throws with the server's reason.
 */
export async function agentRequest(
  origin: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; limit: number; what: string },
  http: AgentHttp = {},
): Promise<Answer> {
  const timeoutMs = http.timeoutMs ?? REQUEST_TIMEOUT_MS;
  // A timer of our own (AbortSignal.timeout's does not keep the process alive), covering the body too.
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  const signal = http.signal ? AbortSignal.any([timeout.signal, http.signal]) : timeout.signal;
  const headers = { 'user-agent': 'access-ca-host-agent', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
  try {
    let res: Response;
    try {
      res = await (http.fetch ?? fetch)(`${origin}${path}`, { method: init.method ?? 'GET', headers, body: init.body ?? null, redirect: 'manual', signal });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new AgentError(`cannot reach ${origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    if (res.status === 304) {
      await res.body?.cancel().catch(() => {});
      return { status: 304, headers: res.headers, body: Buffer.alloc(0), etag: null };
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      throw new AgentError(`${init.what}: ${origin} redirects (HTTP ${res.status}); give --server as the origin that answers the API`);
    }
    if (res.status !== 200) {
      const reason = apiError(await readBounded(res, MAX_ERROR_BODY_BYTES, init.what).catch(() => Buffer.alloc(0)));
      throw new AgentError(`${init.what}: ${origin} answered HTTP ${res.status}: ${reason}`);
    }
    const tag = res.headers.get('etag');
    return { status: 200, headers: res.headers, body: await readBounded(res, init.limit, init.what), etag: tag !== null && ETAG.test(tag) ? tag : null };
  } catch (error) {
    if (http.signal?.aborted) throw new AgentStopped();
    if (timeout.signal.aborted) throw new AgentError(`${init.what}: no answer from ${origin} within ${timeoutMs / 1000} s`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The `result` of a successful envelope, or a refusal naming what was wrong. */
export function envelopeResult(body: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AgentError(`${what}: the answer is not JSON; is --server the access-ca origin?`);
  }
  const env = parsed as { success?: unknown; result?: unknown } | null;
  if (env?.success !== true || typeof env.result !== 'object' || env.result === null || Array.isArray(env.result)) throw new AgentError(`${what}: not a successful API envelope`);
  return env.result as Record<string, unknown>;
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

/**
 * The server's origin from `--server`: https, no path, no credentials in the URL. Plain http only to
 * loopback, or when the operator says so: over it the host's credential, and the CA keys sshd trusts for
 * root logins, would cross the network where anyone on the path can read or replace them.
 */
export function serverOrigin(value: string, flag = '--server', opts: { insecureHttp?: boolean } = {}): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AgentError(`${flag} must be a URL such as https://ca.example.com, got ${JSON.stringify(value.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AgentError(`${flag} must be an http(s) URL`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new AgentError(`${flag} is the server's origin (${url.origin}), without a path`);
  if (url.username || url.password) throw new AgentError(`${flag} must not carry credentials`);
  if (url.protocol === 'http:' && !isLoopback(url.hostname) && !opts.insecureHttp) {
    throw new AgentInputError(`${flag} ${url.origin} is plain http: the host's credential and the keys sshd trusts would cross the network in clear; use https (or --insecure-http on a network you trust)`);
  }
  return url.origin;
}
