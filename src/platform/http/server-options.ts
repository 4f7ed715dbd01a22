import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyHttpOptions } from 'fastify';
import type { Server } from 'node:http';
import { frameworkErrors } from './error-handler.ts';
import type { ConnectionLimits } from './connection-limits.ts';

/** Node's deadline checks, on an interval fine enough for them (30 s by default, far too coarse for a 10 s deadline). */
const serverTimeouts = (limits: ConnectionLimits) =>
  ({ headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) });

/** Fastify's options for the server: bounds, the client address, ids, the contract's shape for Fastify's own refusals. */
export function serverOptions(opts: {
  logger: FastifyBaseLogger | boolean;
  bodyLimit: number;
  trustProxy: string[];
  connections: ConnectionLimits;
  tls?: { cert: Buffer; key: Buffer } | undefined;
}): FastifyHttpOptions<Server, FastifyBaseLogger> {
  const { connections } = opts;
  return {
    ...(typeof opts.logger === 'boolean' ? { logger: opts.logger } : { loggerInstance: opts.logger }),
    bodyLimit: opts.bodyLimit,
    // Random, so that a request's log lines and its audit event (ray_id) name it across nodes and restarts.
    genReqId: () => randomBytes(8).toString('hex'),
    // A client's word about its address is believed only from the proxies the operator names.
    trustProxy: opts.trustProxy.length > 0 ? opts.trustProxy : false,
    requestTimeout: connections.requestTimeoutMs,
    connectionTimeout: connections.requestTimeoutMs,
    keepAliveTimeout: connections.keepAliveTimeoutMs,
    ...(opts.tls ? { https: { ...serverTimeouts(connections), cert: opts.tls.cert, key: opts.tls.key } } : { http: serverTimeouts(connections) }),
    routerOptions: { ignoreTrailingSlash: true },
    // Requests that arrive while closing are refused in the envelope (registerErrorHandling), not Fastify's shape.
    return503OnClosing: false,
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    // With `https`, Fastify makes an HTTPS server; its instance is used as the HTTP one everywhere else.
  } as FastifyHttpOptions<Server, FastifyBaseLogger>;
}
