// One server for the bench, in its own process (pinned to one core by bench/run.ts): a ceiling, or the
// real app on a fresh store with everything the scenarios need (`app`; `fleet` for bench/fleet.ts).
// Prints one JSON line, then serves until SIGTERM.
import { generateKeyPairSync, randomBytes, randomUUID, sign, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService, secretHash } from '../src/identity/identity-service.ts';
import { authorizedKeyLine, publicKeyBlob } from '../src/openssh/public-key-blob.ts';
import type { Db } from '../src/platform/db/schema.ts';
import { postgresTestDatabase } from '../test/helpers/databases.ts';
import { makeTestIdp } from '../test/helpers/test-idp.ts';
import { testTempDir } from '../test/helpers/temp-dir.ts';
import { openPkcs11Token } from '../src/signers/pkcs11-token.ts';
import type { CaKeyToken } from '../src/signers/ca-key-token.ts';
import { FLEET_API_ENROLLED, FLEET_DOMAIN, FLEET_HOSTS, FLEET_REVOKED, seedHosts, seedRevoked } from './fleet-seed.ts';

const [mode = 'app', kind = 'sqlite'] = process.argv.slice(2);
const LIST_SIZES = (process.env['BENCH_LIST_SIZES'] ?? '1000,100000').split(',').map(Number);
const CREATE_APPS = Number(process.env['BENCH_CREATE_APPS'] ?? 20_000);

/** What every ceiling does with its body: parse it as JSON (Fastify) and answer a small object. */
const answer = { id: 'x'.repeat(32), certificate: 'y'.repeat(400), expires_at: '2026-01-01T00:00:00Z' };

async function ceiling(): Promise<Record<string, unknown>> {
  const app = Fastify();
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const idp = await makeTestIdp();
  const jwt = await idp.sign({ aud: ['bench'], email: 'bench@example.com' }, { expiresIn: '1h' });
  const keys = createLocalJWKSet(idp.jwks);
  const tbs = randomBytes(500);
  // The certificate's cryptography: one P-256 signature, and one verify of what was signed.
  const signAndCheck = () => {
    const signature = sign('sha256', tbs, ca.privateKey);
    if (!verify('sha256', tbs, ca.publicKey, signature)) throw new Error('bad signature');
  };
  const lookup = kind === 'none' ? null : await tokenTable();
  app.post('/ceiling', async (request) => {
    if (mode === 'ceiling-sign') sign('sha256', tbs, ca.privateKey);
    if (mode === 'ceiling-crypto') {
      await jwtVerify((request.body as { jwt: string }).jwt, keys, { audience: 'bench' });
      signAndCheck();
    }
    if (mode === 'ceiling-token') {
      await lookup!.find(String(request.headers.authorization).slice(7));
      signAndCheck();
    }
    return answer;
  });
  // The fleet bench's baseline: a conditional GET answered 304 from a tag held in memory, and nothing else.
  const tag = '"bench"';
  app.get('/ceiling', async (request, reply) => (request.headers['if-none-match'] === tag ? reply.code(304).header('etag', tag).send() : reply.header('etag', tag).send(answer)));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as { port: number }).port, jwt, token: lookup?.token, close: async () => { await app.close(); await lookup?.close(); await idp.close(); } };
}

/** The token ceiling's store: a fresh store of `kind` with one token, looked up as authentication does. */
async function tokenTable() {
  const { runtime, identity, close } = await freshStore();
  const account = await identity.createAccount('ceiling');
  const token = await identity.createToken({ accountId: account.id, permissions: ['Access: Apps and Policies Write'] });
  const store = createIdentityStore(runtime.database.db);
  return {
    token: token.value,
    async find(value: string) {
      if (!(await store.findTokenBySecret(secretHash(value)))) throw new Error('no token');
    },
    close,
  };
}

async function freshStore() {
  const dir = testTempDir('access-ca-bench-');
  const pg = kind === 'postgres' ? await postgresTestDatabase() : null;
  const runtime = await openStoreRuntime({ dataDir: dir, databaseUrl: pg?.url, masterKeyFile: undefined });
  const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });
  return { runtime, identity, database: pg ? new URL(pg.url).pathname.slice(1) : null, close: async () => { await runtime.database.close(); await pg?.drop(); } };
}

/** Apps (and, with `withCa`, a CA and an active key each) written straight into the store, in chunks. */
async function seedApps(db: Db, accountId: string, count: number, withCa: boolean): Promise<string[]> {
  const ids: string[] = [];
  const at = new Date().toISOString();
  const publicKey = randomBytes(104).toString('base64');
  for (let start = 0; start < count; start += 500) {
    const n = Math.min(500, count - start);
    const apps = Array.from({ length: n }, () => ({
      id: randomUUID(), account_id: accountId, zone_id: null, aud: randomBytes(32).toString('hex'), name: 'seeded', domain: null, host: null,
      type: 'self_hosted', session_duration: '24h', created_at: at, updated_at: at,
    }));
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('access_apps').values(apps).execute();
      if (!withCa) return;
      const cas = apps.map((a) => ({ id: randomBytes(12).toString('hex'), app_id: a.id, created_at: at }));
      await trx.insertInto('ssh_cas').values(cas).execute();
      await trx.insertInto('ssh_ca_keys').values(cas.map((c) => ({
        id: randomBytes(8).toString('hex'), ca_id: c.id, state: 'active', algorithm: 'ecdsa-sha2-nistp256', public_key: publicKey, private_key_sealed: randomBytes(160), created_at: at,
      }))).execute();
    });
    ids.push(...apps.map((a) => a.id));
  }
  return ids;
}

/** The real app on a fresh store, built as `access-ca serve` builds it; `call` goes through its routes in-process. */
async function servedApp(caKeyToken?: CaKeyToken) {
  const store = await freshStore();
  const { runtime, identity } = store;
  const app = await buildApp({
    caKeyToken,
    config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false,
    appendWriter: process.env['BENCH_NO_WRITER'] ? undefined : runtime.database.appendWriter, grantRevisions: runtime.database.grantRevisions(), fleetRevisions: runtime.database.grantRevisions('fleet_revisions'),
  });
  const admin = async (accountId: string) => (await identity.createToken({ accountId, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write', 'Access: SSH Certificates Sign'] })).value;
  const call = async (token: string, method: string, url: string, payload?: unknown) => {
    const res = await app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return JSON.parse(res.body).result;
  };
  return { ...store, app, db: runtime.database.db, admin, call };
}

async function realApp(): Promise<Record<string, unknown>> {
  const { identity, close, app, db, admin, call } = await servedApp();

  // cert_sign and /ca/sign: one app with a provider, a CA and an allow-everyone policy.
  const account = await identity.createAccount('bench');
  const token = await admin(account.id);
  const base = `/client/v4/accounts/${account.id}`;
  const idp = await makeTestIdp();
  await call(token, 'POST', `${base}/access/identity_providers`, { name: 'bench', config: { issuer: idp.issuer, jwks: idp.jwks } });
  const target = await call(token, 'POST', `${base}/access/apps`, { name: 'b', domain: 'b.example.com' });
  await call(token, 'POST', `${base}/access/apps/${target.id}/ca`);
  await call(token, 'POST', `${base}/access/apps/${target.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] });
  await call(token, 'PUT', `${base}/access/apps/${target.id}/ca/policy`, { principals: { allow: ['deploy', 'bench'] } });
  // cloudflared sends one token until it expires; keys are made before timing.
  const jwt = await idp.sign({ aud: [target.aud], email: 'bench@example.com' }, { expiresIn: '1h' });
  // cloudflared's key: P-256, one per host, kept and sent again with each request (sshgen.go), as an
  // authorized_keys line with its newline. 64 people, each with their own.
  const keys = Array.from({ length: 64 }, () => `${authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))}\n`);

  // CA create: fresh apps without a CA; CA list: one account per size.
  const creator = await identity.createAccount('create');
  const createApps = await seedApps(db, creator.id, CREATE_APPS, false);
  const lists: Record<string, { path: string; token: string }> = {};
  for (const size of LIST_SIZES) {
    const started = Date.now();
    const owner = await identity.createAccount(`list-${size}`);
    await seedApps(db, owner.id, size, true);
    process.stderr.write(`bench: seeded ${size} CAs in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    lists[String(size)] = { path: `/client/v4/accounts/${owner.id}/access/apps/ca?page=2&per_page=50`, token: await admin(owner.id) };
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: (app.server.address() as { port: number }).port,
    certSign: { jwt, keys },
    caSign: { path: `${base}/access/apps/${target.id}/ca/sign`, token, keys },
    caCreate: { base: `/client/v4/accounts/${creator.id}/access/apps`, token: await admin(creator.id), apps: createApps },
    lists,
    close: async () => { await app.close(); await close(); await idp.close(); },
  };
}

/**
 * bench/pkcs11.ts's server: the app with the token of BENCH_PKCS11 ({module, tokenLabel, pin}), and two
 * applications that differ only in where their CA key lives, each with its provider token and keys.
 */
async function pkcs11App(): Promise<Record<string, unknown>> {
  const token = openPkcs11Token(JSON.parse(process.env['BENCH_PKCS11']!), { log: { info() {}, warn() {}, error: (o, m) => process.stderr.write(`${m}\n`) } });
  const { identity, close, app, admin, call } = await servedApp(token);
  const account = await identity.createAccount('pkcs11');
  const admin1 = await admin(account.id);
  const base = `/client/v4/accounts/${account.id}`;
  const idp = await makeTestIdp();
  await call(admin1, 'POST', `${base}/access/identity_providers`, { name: 'bench', config: { issuer: idp.issuer, jwks: idp.jwks } });
  const jwt: Record<string, string> = {};
  const made: Record<string, string> = {};
  for (const storage of ['sealed', 'pkcs11']) {
    const target = await call(admin1, 'POST', `${base}/access/apps`, { name: storage, domain: `${storage}.example.com` });
    await call(admin1, 'POST', `${base}/access/apps/${target.id}/ca`, { key_storage: storage });
    await call(admin1, 'POST', `${base}/access/apps/${target.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] });
    jwt[target.aud] = await idp.sign({ aud: [target.aud], email: 'bench@example.com' }, { expiresIn: '1h' });
    made[storage] = target.aud;
  }
  const keys = Array.from({ length: 64 }, () => `${authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))}\n`);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: (app.server.address() as { port: number }).port, jwt, keys, sealedAud: made['sealed'], tokenAud: made['pkcs11'],
    close: async () => { await app.close(); await close(); await token.close(); await idp.close(); },
  };
}

/**
 * The fleet bench's server: one account whose application `*.<domain>` (a real CA, made through the API)
 * covers every host, 100,000 of its certificates revoked, and 10,000 hosts enrolled but the few the bench
 * enrolls itself. A few certificates signed through the API are left for the bench to revoke.
 */
async function fleetApp(): Promise<Record<string, unknown>> {
  const { identity, close, app, db, admin, call, database } = await servedApp();
  const account = await identity.createAccount('fleet');
  const token = await admin(account.id);
  const base = `/client/v4/accounts/${account.id}`;
  const covering = await call(token, 'POST', `${base}/access/apps`, { name: 'fleet', domain: `*.${FLEET_DOMAIN}` });
  await call(token, 'POST', `${base}/access/apps/${covering.id}/ca`);
  await call(token, 'PUT', `${base}/access/apps/${covering.id}/ca/policy`, { principals: { allow: ['ops'] } });
  const toRevoke: string[] = [];
  for (let i = 0; i < 8; i++) {
    const key = `${authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey))}\n`;
    toRevoke.push((await call(token, 'POST', `${base}/access/apps/${covering.id}/ca/sign`, { public_key: key, principals: ['ops'] })).id);
  }
  let started = Date.now();
  await seedRevoked(db, { id: covering.id, accountId: account.id }, FLEET_REVOKED);
  process.stderr.write(`bench: seeded ${FLEET_REVOKED} revoked certificates in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  started = Date.now();
  const credentials = await seedHosts(db, account.id, FLEET_HOSTS - FLEET_API_ENROLLED);
  process.stderr.write(`bench: seeded ${credentials.length} enrolled hosts in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: (app.server.address() as { port: number }).port, database, accountId: account.id, token, appId: covering.id, toRevoke, domain: FLEET_DOMAIN, credentials,
    close: async () => { await app.close(); await close(); },
  };
}

/**
 * With BENCH_CPU_PROFILE=<dir>: each SIGUSR2 starts V8's sampling profiler, the next stops it and writes
 * `<dir>/<mode>-<pid>-<n>.cpuprofile` (Chrome DevTools' format), so a bench profiles only the part it times.
 */
function profileOnSignal(dir: string): void {
  const session = new Session();
  session.connect();
  let running = false;
  let n = 0;
  process.on('SIGUSR2', () => void (async () => {
    if (!running) {
      running = true;
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
      return;
    }
    running = false;
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(dir, `${mode}-${process.pid}-${n++}.cpuprofile`), JSON.stringify(profile));
  })());
}
if (process.env['BENCH_CPU_PROFILE']) profileOnSignal(process.env['BENCH_CPU_PROFILE']);

const server = mode === 'app' ? await realApp() : mode === 'fleet' ? await fleetApp() : mode === 'pkcs11' ? await pkcs11App() : await ceiling();
const { close, ...info } = server as Record<string, unknown> & { close: () => Promise<void> };
process.stdout.write(`${JSON.stringify({ pid: process.pid, ...info })}\n`);
process.once('SIGTERM', () => void close().then(() => process.exit(0)));
