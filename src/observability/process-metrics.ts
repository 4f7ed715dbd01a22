import { collectDefaultMetrics, Registry } from 'prom-client';

/** How often the event-loop delay monitor samples, in milliseconds (prom-client's default). */
const EVENT_LOOP_PRECISION_MS = 10;

let shared: Registry | undefined;

/**
 * The process's own metrics (CPU, memory, file descriptors, GC, and event-loop lag as
 * `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`), under prom-client's standard,
 * unprefixed names so that stock Node.js dashboards work. They describe the process, not an app, so
 * there is one registry per process, made on first use and shared by every app in it: each
 * `collectDefaultMetrics` call starts its own event-loop delay monitor that is never stopped, and several
 * apps in one test process must not each leave one running. It is never prom-client's global registry.
 */
export function processMetricsRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared, eventLoopMonitoringPrecision: EVENT_LOOP_PRECISION_MS });
  }
  return shared;
}
