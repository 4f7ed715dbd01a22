import { Agent, request } from 'node:http';
import type { Measured, Scenario } from './load.ts';

/**
 * Open-loop load: one request every 1/rate seconds, evenly spaced, whatever the answers are doing (as
 * wrk2 does). autocannon's `overallRate` is a per-second budget that each connection spends at full speed
 * and then idles, so "half the rate" is half a second at full load; it also reports whole milliseconds.
 * Latency is timed from when each request was due (no coordinated omission), in microseconds.
 */
export async function paced(port: number, scenario: Scenario, rate: number, seconds: number): Promise<Measured> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let failures = 0;
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    let settled = 0;
    const send = (n: number, due: number) => {
      const { body, path } = { body: scenario.body, path: scenario.path, ...(scenario.vary?.(n) ?? {}) };
      const req = request({ agent, host: '127.0.0.1', port, method: scenario.method, path, headers: { ...scenario.headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
        res.resume();
        res.once('end', () => {
          if ((res.statusCode ?? 0) >= 300) failures++;
          latencies.push(performance.now() - due);
          if (++settled === total) done();
        });
      });
      req.once('error', () => {
        failures++;
        if (++settled === total) done();
      });
      req.end(body);
    };
    const tick = () => {
      // Everything due by now is sent now; the timer only wakes the loop.
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        send(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
  agent.destroy();
  if (failures > 0) throw new Error(`${scenario.method} ${scenario.path}: ${failures} of ${total} paced requests failed`);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { rate: total / ((performance.now() - start) / 1000), p50: at(0.5), p99: at(0.99) };
}
