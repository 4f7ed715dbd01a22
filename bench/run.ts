// `npm run bench`: every server in its own process, pinned to one core where `taskset` exists, loaded by
// autocannon from this process on the other core. Throughput is given as ratios to ceilings measured in
// the same run (these machines drift ±25 % in absolute terms; ratios do not). `npm run bench -- fleet`
// (or `http`, `krl`, several at once) runs only those parts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresUnavailable } from '../test/helpers/databases.ts';
import { CONNECTIONS, measure, paired, SECONDS, type Measured, type Scenario } from './load.ts';
import { krlReport, measureKrl } from './krl.ts';
import { paced } from './paced.ts';
import { fleetReport, measureFleet, type FleetResult } from './fleet.ts';
import { measurePolicyCost, policyCostReport, type PolicyCostRow } from './policy-cost.ts';
import { measurePkcs11, pkcs11Report, type Pkcs11Result } from './pkcs11.ts';

const PARTS = ['http', 'krl', 'fleet', 'policy', 'pkcs11'];
const asked = process.argv.slice(2);
for (const part of asked) if (!PARTS.includes(part)) throw new Error(`unknown bench part ${part}: one of ${PARTS.join(', ')}`);
const runs = (part: string) => asked.length === 0 || asked.includes(part);

const hasTool = (tool: string) => ['/usr/bin', '/bin', '/usr/sbin'].some((d) => existsSync(join(d, tool)));
const pinned = hasTool('taskset');
if (pinned) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

interface Server { info: any; child: ChildProcess; stop(): Promise<void> }

async function startServer(mode: string, kind: string): Promise<Server> {
  const node = [process.execPath, '--import', 'tsx', 'bench/bench-server.ts', mode, kind];
  // A profiled server is not pinned: V8's sampling thread would share the core with the thread it samples,
  // and see mostly the moments that thread is idle.
  const pin = pinned && !process.env['BENCH_CPU_PROFILE'];
  const child = pin ? spawn('taskset', ['-c', '0', ...node], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench server ${mode} ${kind} exited ${code}`)));
  });
  const info = JSON.parse(line);
  return {
    info, child,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      process.kill(info.pid, 'SIGTERM');
    }),
  };
}

/** fsync and fdatasync calls per request while `work` runs, counted by strace on the server's threads. */
async function fsyncsDuring(pid: number, work: () => Promise<number>): Promise<number | null> {
  if (!hasTool('strace')) return null;
  const out = join(tmpdir(), `access-ca-bench-strace-${process.pid}`);
  const tracer = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(pid)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const requests = await work();
  const exited = new Promise((r) => tracer.once('exit', r));
  tracer.kill('SIGINT');
  await exited;
  const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
  rmSync(out, { force: true });
  const calls = [...text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(?:fsync|fdatasync)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return calls / requests;
}

const json = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}`, ...json });
const rows: { scenario: string; store: string; m: Measured; against: string; ratio: number; note?: string }[] = [];
const record = (scenario: string, store: string, m: Measured, against: string, ceiling: number, note?: string) => {
  rows.push({ scenario, store, m, against, ratio: m.rate / ceiling, ...(note ? { note } : {}) });
  process.stderr.write(`bench: ${scenario} (${store}): ${m.rate.toFixed(0)}/s, ${(m.rate / ceiling).toFixed(2)} × ${against}\n`);
};

const kinds = ['sqlite', ...((await postgresUnavailable()) === null ? ['postgres'] : [])];
const ceilings: Record<string, Measured> = {};
const fsyncs: Record<string, number | null> = {};
if (runs('http')) {
// The ceilings: what the route's unavoidable work costs, with no store (but the token lookup's). The
// full-crypto and token ceilings stay up and are measured again in rounds alternating with the scenario
// they bound (load.ts `paired`): these machines drift, and a ratio should not depend on when each ran.
const ceilingScenario = (jwt: string): Scenario => ({ method: 'POST', path: '/ceiling', headers: json, body: JSON.stringify({ public_key: 'x'.repeat(80), jwt }) });
for (const mode of ['ceiling-bare', 'ceiling-sign']) {
  const server = await startServer(mode, 'none');
  ceilings[mode] = await measure(server.info.port, ceilingScenario(server.info.jwt), { warmup: 3 });
  process.stderr.write(`bench: ${mode}: ${ceilings[mode]!.rate.toFixed(0)}/s\n`);
  await server.stop();
}
const cryptoCeiling = await startServer('ceiling-crypto', 'none');
const crypto = { port: cryptoCeiling.info.port as number, scenario: ceilingScenario(cryptoCeiling.info.jwt) };

for (const kind of kinds) {
  const tokenCeiling = await startServer('ceiling-token', kind);
  const token = { port: tokenCeiling.info.port as number, scenario: { method: 'POST', path: '/ceiling', headers: bearer(tokenCeiling.info.token), body: '{"x":1}' } };

  const server = await startServer('app', kind);
  const { port, certSign, caSign, caCreate, lists } = server.info;
  const signScenario: Scenario = {
    method: 'POST', path: '/cdn-cgi/access/cert_sign', headers: json,
    vary: (n) => ({ body: JSON.stringify({ public_key: certSign.keys[n % certSign.keys.length], jwt: certSign.jwt }) }),
  };
  const full = await paired(crypto, { port, scenario: signScenario });
  ceilings[`ceiling-crypto (beside ${kind})`] = full.ceiling;
  record('POST /cdn-cgi/access/cert_sign', kind, full.subject, 'full crypto', full.ceiling.rate);
  // Latency at half the rate, beside the crypto ceiling paced at that same rate: on a shared machine the
  // tail is partly the machine's, and the ceiling shows how much.
  const halfRate = Math.floor(full.subject.rate / 2);
  const half = await paced(port, signScenario, halfRate, SECONDS);
  const halfCeiling = await paced(crypto.port, crypto.scenario, halfRate, SECONDS);
  const spread = (m: Measured) => (m.p99 / Math.max(m.p50, 0.001)).toFixed(2);
  ceilings[`ceiling-crypto paced at ${halfRate}/s (beside ${kind})`] = halfCeiling;
  record('cert_sign at half its maximum rate', kind, half, 'full crypto', full.ceiling.rate, `p99/p50 = ${spread(half)} (the crypto ceiling at this rate: ${spread(halfCeiling)})`);
  const signed = await paired(token, {
    port, scenario: {
      method: 'POST', path: caSign.path, headers: bearer(caSign.token),
      vary: (n) => ({ body: JSON.stringify({ public_key: caSign.keys[n % caSign.keys.length], principals: ['deploy'] }) }),
    },
  });
  ceilings[`ceiling-token/${kind}`] = signed.ceiling;
  record('POST /access/apps/{id}/ca/sign', kind, signed.subject, 'token lookup + crypto', signed.ceiling.rate);
  await tokenCeiling.stop();

  let nextApp = 0;
  const create: Scenario = { method: 'POST', path: '', headers: bearer(caCreate.token), vary: () => ({ path: `${caCreate.base}/${caCreate.apps[nextApp++]}/ca` }) };
  const created = await measure(port, create, { warmup: 1, seconds: Math.min(SECONDS, 5) });
  fsyncs[kind] = kind === 'sqlite' ? await fsyncsDuring(server.info.pid, async () => {
    const before = nextApp;
    await measure(port, create, { warmup: 0, seconds: 1 });
    return nextApp - before;
  }) : null;
  record('POST /access/apps/{id}/ca (create)', kind, created, 'bare POST', ceilings['ceiling-bare']!.rate, fsyncs[kind] === null ? undefined : `${fsyncs[kind]!.toFixed(2)} fsync per create`);

  const page = (size: string) => ({ port: port as number, scenario: { method: 'GET', path: lists[size].path, headers: bearer(lists[size].token) } });
  const { ceiling: small, subject: large } = await paired(page('1000'), page('100000'));
  record('GET /access/apps/ca page, 1,000 CAs', kind, small, 'bare POST', ceilings['ceiling-bare']!.rate);
  record('GET /access/apps/ca page, 100,000 CAs', kind, large, 'the 1,000 page', small.rate, `${(small.rate / large.rate).toFixed(2)}× the 1,000 page's time`);
  await server.stop();
}
await cryptoCeiling.stop();

}

// The fleet's steady state, on each store (bench/fleet.ts); BENCH_FLEET_STORES=sqlite narrows it.
const fleet: FleetResult[] = [];
const fleetKinds = kinds.filter((k) => (process.env['BENCH_FLEET_STORES'] ?? k).split(',').includes(k));
if (runs('fleet')) for (const kind of fleetKinds) fleet.push(await measureFleet(startServer, kind));
// What Access policies cost cert_sign, at the most the budget accepts (bench/policy-cost.ts).
const policy: PolicyCostRow[] = [];
if (runs('policy')) for (const kind of kinds) policy.push(await measurePolicyCost(kind));
// CA keys in a PKCS#11 token (SoftHSM2) against sealed keys (bench/pkcs11.ts).
const pkcs11: { kind: string; result: Pkcs11Result }[] = [];
if (runs('pkcs11')) for (const kind of kinds) pkcs11.push({ kind, result: await measurePkcs11(startServer, kind) });

const ms = (v: number) => v.toFixed(2);
if (runs('http')) {
  console.log(`Load: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per scenario after a warm-up; each ratio to full crypto, to token lookup + crypto and between the two list pages from alternating rounds; the half-rate latencies from evenly paced requests (bench/paced.ts); ${pinned ? 'server pinned to core 0 and load to core 1 (taskset)' : 'no taskset: server and load share the cores'}.`);
  console.log('');
  console.log('| ceiling | req/s | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|');
  for (const [name, m] of Object.entries(ceilings)) console.log(`| ${name} | ${m.rate.toFixed(0)} | ${ms(m.p50)} | ${ms(m.p99)} |`);
  console.log('');
  console.log('| scenario | store | req/s | p50 ms | p99 ms | ratio | against | note |');
  console.log('|---|---|---:|---:|---:|---:|---|---|');
  for (const r of rows) console.log(`| ${r.scenario} | ${r.store} | ${r.m.rate.toFixed(0)} | ${ms(r.m.p50)} | ${ms(r.m.p99)} | ${r.ratio.toFixed(2)} | ${r.against} | ${r.note ?? ''} |`);
  if (kinds.length === 1) console.log('(no PostgreSQL at 127.0.0.1:5432: SQLite only)');
  console.log('');
}

const report = { when: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, pinned, ceilings, rows, krl: runs('krl') ? measureKrl() : [], fleet, policy, pkcs11 };
if (process.env['BENCH_JSON']) writeFileSync(process.env['BENCH_JSON'], `${JSON.stringify(report, null, 2)}\n`);
if (runs('policy')) console.log([...policyCostReport(policy), ''].join('\n'));
if (runs('pkcs11')) console.log([...pkcs11Report(pkcs11), ''].join('\n'));
if (runs('krl')) {
  for (const line of krlReport(report.krl)) console.log(line);
  console.log('');
}
if (runs('fleet')) {
  for (const line of fleetReport(fleet)) console.log(line);
  if (!pinned) console.log('(no taskset: server and load share the cores)');
  console.log('');
}
console.log(`JSON: ${process.env['BENCH_JSON'] ?? '(set BENCH_JSON=<file> to write it)'}`);
