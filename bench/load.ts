import autocannon, { type Request } from 'autocannon';

export const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 10);
export const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 8);

export interface Measured {
  rate: number;
  p50: number;
  p99: number;
}

/** A request, varied per call by `vary` (the nth request made): a path, a body or a header. */
export type Scenario = { method: string; path: string; headers?: Record<string, string>; body?: string; vary?: (n: number) => Partial<Request> };

/**
 * Load from this process (autocannon) against a server in another: a short warm-up, then the timed run.
 * Any answer that is not 2xx fails the run, so a rate is never a rate of refusals.
 */
export async function measure(port: number, scenario: Scenario, opts: { seconds?: number; warmup?: number; overallRate?: number } = {}): Promise<Measured> {
  let n = 0;
  const request: Request = {
    method: scenario.method, path: scenario.path, headers: scenario.headers ?? {}, ...(scenario.body === undefined ? {} : { body: scenario.body }),
    ...(scenario.vary ? { setupRequest: (r: Request) => ({ ...r, ...scenario.vary!(n++) }) } : {}),
  };
  const run = (duration: number) => autocannon({
    url: `http://127.0.0.1:${port}`, connections: CONNECTIONS, duration, requests: [request],
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
  });
  if ((opts.warmup ?? 2) > 0) await run(opts.warmup ?? 2);
  const result = await run(opts.seconds ?? SECONDS);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${scenario.method} ${scenario.path}: ${result.non2xx} non-2xx, ${result.errors} errors (${JSON.stringify(result.statusCodeStats)})`);
  }
  return { rate: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}
