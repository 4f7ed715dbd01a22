// CA API throughput over real HTTP on loopback, as ratios to a bare Fastify POST measured in the same run
// (absolute numbers drift ±25 % on these machines; ratios do not). Not part of `npm test`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, closeAgent, rate, row as report, startCeiling, CONCURRENCY } from './bench-http.ts';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';

const ceiling = await startCeiling();
const ceilingPort = ceiling.port;

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

const row = (name: string, r: number) => report(name, r, bare);
console.log(`N=${N}, concurrency ${CONCURRENCY}, SQLite (WAL, synchronous=FULL)`);
console.log(row('bare Fastify POST (ceiling)', bare));
console.log(row('POST /access/apps/{id}/ca', create));
console.log(row('GET /access/apps/{id}/ca', get));
console.log(row('GET /access/apps/ca?per_page=100', list));

await app.close();
await ceiling.app.close();
await runtime.database.close();
closeAgent();
rmSync(dir, { recursive: true, force: true });
