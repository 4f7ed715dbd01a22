// What an application's Access policies cost cert_sign: cert_sign against the most expensive policy set
// the budget accepts (test/helpers/policy-worst-case.ts: 100 policies, 300 groups, 5,000 rules, a person
// for whom every policy is tried to its end, the last one letting them in), beside cert_sign against a
// one-rule policy, on one server, in alternating rounds (load.ts `paired`). The goal is a time ratio of at
// most 1.5. `npm run bench -- policy` runs it alone; `node --import tsx bench/policy-cost.ts serve <kind>`
// is its server.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { generateKeyPairSync } from 'node:crypto';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';
import { authorizedKeyLine, publicKeyBlob } from '../src/openssh/public-key-blob.ts';
import { postgresTestDatabase } from '../test/helpers/databases.ts';
import { makeTestIdp } from '../test/helpers/test-idp.ts';
import { testTempDir } from '../test/helpers/temp-dir.ts';
import { worstCaseGroupId, worstCasePolicySet, WORST_CASE_IDP, WORST_CASE_PERSON } from '../test/helpers/policy-worst-case.ts';
import { paired, type Measured, type Scenario } from './load.ts';

/** autocannon connects from here (load.ts), so this is the address cert_sign sees and the worst set's blocks hold. */
const CLIENT = '127.0.0.1';

/** The server: one account, a provider, and two apps with a CA each: one allows everyone, one holds the worst set. */
async function serve(kind: string): Promise<void> {
  const pg = kind === 'postgres' ? await postgresTestDatabase() : null;
  const runtime = await openStoreRuntime({ dataDir: testTempDir('access-ca-bench-policy-'), databaseUrl: pg?.url, masterKeyFile: undefined });
  const app = await buildApp({
    config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false,
    appendWriter: runtime.database.appendWriter, grantRevisions: runtime.database.grantRevisions(), fleetRevisions: runtime.database.grantRevisions('fleet_revisions'),
  });
  const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });
  const account = await identity.createAccount('policy-bench');
  const token = (await identity.createToken({ accountId: account.id, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] })).value;
  const base = `/client/v4/accounts/${account.id}`;
  const call = async (method: string, path: string, payload?: unknown) => {
    const res = await app.inject({ method: method as 'POST', url: `${base}${path}`, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body.slice(0, 500)}`);
    return JSON.parse(res.body).result;
  };
  const idp = await makeTestIdp();
  const ids = new Map([[WORST_CASE_IDP, (await call('POST', '/access/identity_providers', { name: 'bench', config: { issuer: idp.issuer, jwks: idp.jwks } })).id as string]]);
  /** A body of the worst set with the ids the API gave in place of the set's own. */
  const withIds = (body: unknown) => JSON.parse(JSON.stringify(body).replace(/0000(aaaa|bbbb)-0000-4000-8000-[0-9]{12}/g, (id) => ids.get(id) ?? id));
  const signingApp = async (name: string) => {
    const made = await call('POST', '/access/apps', { name, domain: `${name}.policy-bench.example.com` });
    await call('POST', `/access/apps/${made.id}/ca`);
    await call('PUT', `/access/apps/${made.id}/ca/policy`, { principals: { allow: [WORST_CASE_PERSON.email.split('@')[0]] } });
    return made as { id: string; aud: string };
  };

  const one = await signingApp('one');
  await call('POST', `/access/apps/${one.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] });
  const worst = await signingApp('worst');
  const set = worstCasePolicySet({ address: CLIENT, admits: true });
  for (const [n, group] of set.groups.entries()) ids.set(worstCaseGroupId(n), (await call('POST', '/access/groups', { name: `worst ${n}`, ...withIds(group) })).id);
  for (const policy of set.policies) await call('POST', `/access/apps/${worst.id}/policies`, withIds(policy));
  // The dry run of the same decision: every policy tried, the last one deciding.
  const check = await call('POST', `/access/apps/${worst.id}/access_check`, { email: WORST_CASE_PERSON.email, identity_provider_id: ids.get(WORST_CASE_IDP), claims: WORST_CASE_PERSON.claims, ip: CLIENT });
  if (!check.allowed || check.policy?.name !== set.policies.at(-1)!.name) throw new Error(`the worst set does not decide at its last policy: ${check.reason}`);

  const claims = { email: WORST_CASE_PERSON.email, ...WORST_CASE_PERSON.claims };
  const keys = Array.from({ length: 64 }, () => `${authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))}\n`);
  await app.listen({ host: CLIENT, port: 0 });
  process.stdout.write(`${JSON.stringify({
    pid: process.pid, port: (app.server.address() as { port: number }).port, keys,
    one: await idp.sign({ aud: [one.aud], ...claims }, { expiresIn: '1h' }),
    worst: await idp.sign({ aud: [worst.aud], ...claims }, { expiresIn: '1h' }),
  })}\n`);
  process.once('SIGTERM', () => void (async () => {
    await app.close();
    await runtime.database.close();
    await pg?.drop();
    await idp.close();
    process.exit(0);
  })());
}

export interface PolicyCostRow { store: string; one: Measured; worst: Measured; timeRatio: number }

/** Starts the server on core 0 (when `taskset` is there, as bench/run.ts does), and measures both apps in alternating rounds. */
export async function measurePolicyCost(kind: string): Promise<PolicyCostRow> {
  const node = [process.execPath, '--import', 'tsx', 'bench/policy-cost.ts', 'serve', kind];
  const child = existsSync('/usr/bin/taskset') ? spawn('taskset', ['-c', '0', ...node], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = JSON.parse(await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`policy bench server (${kind}) exited ${code}`)));
  }));
  const signing = (jwt: string): Scenario => ({
    method: 'POST', path: '/cdn-cgi/access/cert_sign', headers: { 'content-type': 'application/json' },
    vary: (n) => ({ body: JSON.stringify({ public_key: info.keys[n % info.keys.length], jwt }) }),
  });
  const { ceiling: one, subject: worst } = await paired({ port: info.port, scenario: signing(info.one) }, { port: info.port, scenario: signing(info.worst) });
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    process.kill(info.pid, 'SIGTERM');
  });
  process.stderr.write(`bench: cert_sign, worst accepted policy set (${kind}): ${worst.rate.toFixed(0)}/s, one rule ${one.rate.toFixed(0)}/s\n`);
  return { store: kind, one, worst, timeRatio: one.rate / worst.rate };
}

/** The report's lines, in the style of bench/run.ts. */
export function policyCostReport(rows: PolicyCostRow[]): string[] {
  const ms = (v: number) => v.toFixed(2);
  return [
    'Access policies: cert_sign for a person every policy is tried for, against the most expensive set the budget accepts (100 policies, 300 groups, 5,000 rules), beside cert_sign against one rule; one server, alternating rounds. Goal: time ratio ≤ 1.5.',
    '',
    '| store | one rule req/s | worst set req/s | p50 ms (one / worst) | p99 ms (one / worst) | time ratio |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.store} | ${r.one.rate.toFixed(0)} | ${r.worst.rate.toFixed(0)} | ${ms(r.one.p50)} / ${ms(r.worst.p50)} | ${ms(r.one.p99)} / ${ms(r.worst.p99)} | ${r.timeRatio.toFixed(2)} |`),
  ];
}

if (process.argv[2] === 'serve') await serve(process.argv[3] ?? 'sqlite');
