import type { FastifyInstance } from 'fastify';
import type { Readiness, ReadinessCheck } from './readiness.ts';
import { HealthView, ReadinessView } from './health-schemas.ts';
import { closingFlag } from '../platform/http/closing.ts';

/** Liveness and readiness, outside the v4 prefix, for load balancers and orchestrators. */
export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/**
 * GET /healthz answers 200 `{"status":"ok"}` while the process can answer at all (it touches nothing);
 * GET /readyz answers 200 `{"status":"ready",…}` or 503 `{"status":"unavailable",…}` with each check's
 * outcome and the failed ones named (while shutting down: 503, every check skipped). Both are unauthenticated and say nothing secret. Probes arrive every
 * few seconds, so requests are not logged; a change of readiness is, once, as a warning.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: { readiness: Readiness }): void {
  // Both answer for themselves while the server shuts down (see registerErrorHandling).
  app.get(HEALTH_PATH, { logLevel: 'warn', config: { answersWhileClosing: true }, schema: { response: { 200: HealthView } } }, async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));

  // Assumed ready at start, so that a first probe that fails is logged too.
  let lastFailed: ReadinessCheck[] = [];
  // A server that is shutting down is not ready, whatever its store says: a probe on a kept-alive
  // connection must not keep a draining node in the pool. Nothing is checked then.
  const closing = closingFlag(app);
  app.get(READY_PATH, { logLevel: 'warn', config: { answersWhileClosing: true }, schema: { response: { 200: ReadinessView, 503: ReadinessView } } }, async (request, reply) => {
    if (closing()) {
      const checks = Object.fromEntries(deps.readiness.names.map((name) => [name, 'skipped']));
      return reply.code(503).header('cache-control', 'no-store').send({ status: 'unavailable', checks, failed: [] });
    }
    const report = await deps.readiness.check();
    if (lastFailed.join() !== report.failed.join()) {
      if (report.ready) request.log.warn({ event: 'readiness', ready: true }, 'ready again');
      else request.log.warn({ event: 'readiness', ready: false, failed: report.failed, reasons: report.reasons }, 'not ready');
    }
    lastFailed = report.failed;
    return reply.code(report.ready ? 200 : 503).header('cache-control', 'no-store')
      .send({ status: report.ready ? 'ready' : 'unavailable', checks: report.checks, failed: report.failed, ...(report.reasons ? { reasons: report.reasons } : {}) });
  });
}
