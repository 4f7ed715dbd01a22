// CA API throughput over real HTTP on loopback, as ratios to a bare Fastify POST measured in the same run
// (absolute numbers drift ±25 % on these machines; ratios do not). Not part of `npm test`.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';

const CONCURRENCY = 8;
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
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
async function rate(n: number, one: (i: number) => Promise<number>, expect: number): Promise<number> {
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

const ceiling = Fastify();
ceiling.post('/ceiling', async () => ({ success: true, errors: [], messages: [], result: { id: 'x' } }));
await ceiling.listen({ host: '127.0.0.1', port: 0 });
const ceilingPort = (ceiling.server.address() as { port: number }).port;

const dir = mkdtempSync(join(tmpdir(), 'access-ca-bench-'));
const runtime = await openStoreRuntime({ dataDir: dir, databaseUrl: undefined, masterKeyFile: undefined });
const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });
const account = await identity.createAccount('bench');
const token = await identity.createToken({ accountId: account.id, permissions: ['Access: Apps and Policies Write'] });
const app = await buildApp({ config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const auth = { authorization: `Bearer ${token.value}` };
const base = `/client/v4/accounts/${account.id}/access/apps`;

const N = Number(process.env['BENCH_N'] ?? 2000);
const appIds: string[] = [];
for (let i = 0; i < N; i++) {
  const res = await app.inject({ method: 'POST', url: base, headers: auth, payload: { name: `b${i}`, domain: 'b.example.com' } });
  appIds.push(JSON.parse(res.body).result.id);
}

await rate(500, () => call(ceilingPort, 'POST', '/ceiling', {}), 200); // warm-up
const bare = await rate(N, () => call(ceilingPort, 'POST', '/ceiling', {}), 200);
const create = await rate(N, (i) => call(port, 'POST', `${base}/${appIds[i]}/ca`, auth), 200);
const get = await rate(N, (i) => call(port, 'GET', `${base}/${appIds[i]}/ca`, auth), 200);
const list = await rate(N / 4, () => call(port, 'GET', `${base}/ca?per_page=100`, auth), 200);

const row = (name: string, r: number) => `${name.padEnd(34)} ${r.toFixed(0).padStart(7)}/s  ${(r / bare).toFixed(3)} × ceiling`;
console.log(`N=${N}, concurrency ${CONCURRENCY}, SQLite (WAL, synchronous=FULL)`);
console.log(row('bare Fastify POST (ceiling)', bare));
console.log(row('POST /access/apps/{id}/ca', create));
console.log(row('GET /access/apps/{id}/ca', get));
console.log(row('GET /access/apps/ca?per_page=100', list));

await app.close();
await ceiling.close();
await runtime.database.close();
agent.destroy();
rmSync(dir, { recursive: true, force: true });
