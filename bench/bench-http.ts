import { Agent, request } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';

export const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 8);
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One HTTP request on a keep-alive loopback connection; resolves to the status. */
export function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `n` requests, `CONCURRENCY` at a time; returns requests per second, and fails on a wrong status. */
export async function rate(n: number, one: (i: number) => Promise<number>, expect: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      const status = await one(i);
      if (status !== expect) throw new Error(`request ${i}: status ${status}, expected ${expect}`);
    }
  }));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** The ceiling: a bare Fastify app that parses a JSON body and answers a small JSON object. */
export async function startCeiling(): Promise<{ port: number; app: FastifyInstance }> {
  const app = Fastify();
  app.post('/ceiling', async () => ({ id: 'x', certificate: 'y', expires_at: 'z' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port };
}

export const closeAgent = (): void => agent.destroy();

/** A row of the report: rate and its ratio to the ceiling. */
export const row = (name: string, r: number, ceiling: number): string =>
  `${name.padEnd(36)} ${r.toFixed(0).padStart(7)}/s  ${(r / ceiling).toFixed(3)} × ceiling`;
