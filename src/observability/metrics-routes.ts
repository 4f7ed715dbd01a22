import type { FastifyInstance } from 'fastify';
import { errors } from '../platform/http/errors.ts';
import { sendError } from '../platform/http/error-handler.ts';
import type { Metrics } from './metrics.ts';
import { createMetricsGate, type MetricsAccess } from './metrics-access.ts';

/** Where Prometheus scrapes, outside the v4 prefix. */
export const METRICS_PATH = '/metrics';

/**
 * Counts and times every answered request by its route pattern (an onResponse hook on the root, so
 * every route and the not-found answer are seen) and serves GET /metrics to the clients `access` allows;
 * any other client gets the 404 an unknown path gets.
 */
export function registerMetrics(app: FastifyInstance, deps: { metrics: Metrics; access: MetricsAccess; proxiesTrusted: boolean }): void {
  const { metrics } = deps;
  const allowed = createMetricsGate(deps.access, deps.proxiesTrusted);

  app.addHook('onResponse', (request, reply, done) => {
    // The pattern, never the URL: ids in paths would make a series per id.
    metrics.observeRequest(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  // A scrape every few seconds would flood the request log: only warnings and errors are logged.
  app.get(METRICS_PATH, { logLevel: 'warn' }, async (request, reply) => {
    // Refused as if there were no such route: a scanner learns nothing, not even that metrics exist here.
    if (!allowed(request)) return sendError(reply, errors.noRoute());
    const body = await metrics.exposition();
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(body);
  });
}
