// Certificates per second through POST /cdn-cgi/access/cert_sign (verify an ES256 JWT, check policy,
// sign, re-verify, record durably) as a ratio to a bare Fastify POST measured in the same run.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';
import { authorizedKeyLine, publicKeyBlob } from '../src/ssh-certs/openssh/public-key-blob.ts';
import { makeTestIdp } from '../test/helpers/test-idp.ts';
import { call, closeAgent, rate, row, startCeiling, CONCURRENCY } from './bench-http.ts';

const N = Number(process.env['BENCH_N'] ?? 3000);
const dir = mkdtempSync(join(tmpdir(), 'access-ca-bench-'));
const runtime = await openStoreRuntime({ dataDir: dir, databaseUrl: undefined, masterKeyFile: undefined });
const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });
const account = await identity.createAccount('bench');
const token = await identity.createToken({ accountId: account.id, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] });
const app = await buildApp({ config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as { port: number }).port;
const auth = { authorization: `Bearer ${token.value}`, 'content-type': 'application/json' };
const base = `/client/v4/accounts/${account.id}`;

const idp = await makeTestIdp();
await app.inject({ method: 'POST', url: `${base}/access/identity_providers`, headers: auth, payload: { name: 'bench', config: { issuer: idp.issuer, jwks: idp.jwks } } });
const target = JSON.parse((await app.inject({ method: 'POST', url: `${base}/access/apps`, headers: auth, payload: { name: 'b', domain: 'b.example.com' } })).body).result;
await app.inject({ method: 'POST', url: `${base}/access/apps/${target.id}/ca`, headers: auth });

// Tokens and keys are made before timing: the bench measures the server, not the client.
const jwt = await idp.sign({ aud: [target.aud], email: 'bench@example.com' }, { expiresIn: '1h' });
const keys = Array.from({ length: 64 }, () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey)));
const bodies = keys.map((k) => JSON.stringify({ public_key: k, jwt, issuer: 'http://bench' }));
const json = { 'content-type': 'application/json' };

const ceiling = await startCeiling();
await rate(500, (i) => call(ceiling.port, 'POST', '/ceiling', json, bodies[i % bodies.length]), 200);
await rate(300, (i) => call(port, 'POST', '/cdn-cgi/access/cert_sign', json, bodies[i % bodies.length]), 200);
const bare = await rate(N, (i) => call(ceiling.port, 'POST', '/ceiling', json, bodies[i % bodies.length]), 200);
const signed = await rate(N, (i) => call(port, 'POST', '/cdn-cgi/access/cert_sign', json, bodies[i % bodies.length]), 200);
const bare2 = await rate(N, (i) => call(ceiling.port, 'POST', '/ceiling', json, bodies[i % bodies.length]), 200);

const ceilingRate = (bare + bare2) / 2;
console.log(`N=${N}, concurrency ${CONCURRENCY}, SQLite (WAL, synchronous=FULL); the ceiling is measured before and after`);
console.log(row('bare Fastify POST (ceiling)', ceilingRate, ceilingRate));
console.log(row('POST /cdn-cgi/access/cert_sign', signed, ceilingRate));
const count = await runtime.database.db.selectFrom('ssh_certificates').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
console.log(`inventory rows: ${count?.n} (every 200 was recorded before it was sent)`);

await app.close();
await ceiling.app.close();
await idp.close();
await runtime.database.close();
closeAgent();
rmSync(dir, { recursive: true, force: true });
