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

/**
 * A scenario and its ceiling measured in alternating rounds (warm-up of both first), so that whatever
 * else the machine is doing weighs on both alike: the ratio is of the two means.
 */
export async function paired(
  ceiling: { port: number; scenario: Scenario },
  subject: { port: number; scenario: Scenario },
  rounds = 4,
): Promise<{ ceiling: Measured; subject: Measured; ratio: number }> {
  const seconds = Math.max(1, Math.round(SECONDS / rounds));
  await measure(ceiling.port, ceiling.scenario, { warmup: 0, seconds: 2 });
  await measure(subject.port, subject.scenario, { warmup: 0, seconds: 2 });
  const c: Measured[] = [];
  const s: Measured[] = [];
  for (let i = 0; i < rounds; i++) {
    c.push(await measure(ceiling.port, ceiling.scenario, { warmup: 0, seconds }));
    s.push(await measure(subject.port, subject.scenario, { warmup: 0, seconds }));
  }
  const mean = (ms: Measured[]): Measured => ({
    rate: ms.reduce((a, m) => a + m.rate, 0) / ms.length,
    p50: ms.reduce((a, m) => a + m.p50, 0) / ms.length,
    p99: ms.reduce((a, m) => a + m.p99, 0) / ms.length,
  });
  const [cm, sm] = [mean(c), mean(s)];
  return { ceiling: cm, subject: sm, ratio: sm.rate / cm.rate };
}
