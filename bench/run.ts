// `npm run bench`: every server in its own process, pinned to one core where `taskset` exists, loaded by
// autocannon from this process on the other core. Throughput is given as ratios to ceilings measured in
// the same run (these machines drift ±25 % in absolute terms; ratios do not).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresUnavailable } from '../test/helpers/databases.ts';
import { CONNECTIONS, measure, SECONDS, type Measured, type Scenario } from './load.ts';
import { krlReport, measureKrl } from './krl.ts';

const hasTool = (tool: string) => ['/usr/bin', '/bin', '/usr/sbin'].some((d) => existsSync(join(d, tool)));
const pinned = hasTool('taskset');
if (pinned) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

interface Server { info: any; child: ChildProcess; stop(): Promise<void> }

async function startServer(mode: string, kind: string): Promise<Server> {
  const node = [process.execPath, '--import', 'tsx', 'bench/bench-server.ts', mode, kind];
  const child = pinned ? spawn('taskset', ['-c', '0', ...node], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
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

// The ceilings: what the route's unavoidable work costs, with no store (but the token lookup's).
const ceilings: Record<string, Measured> = {};
for (const mode of ['ceiling-bare', 'ceiling-sign', 'ceiling-crypto']) {
  const server = await startServer(mode, 'none');
  ceilings[mode] = await measure(server.info.port, { method: 'POST', path: '/ceiling', headers: json, body: JSON.stringify({ public_key: 'x'.repeat(80), jwt: server.info.jwt }) }, { warmup: 3 });
  process.stderr.write(`bench: ${mode}: ${ceilings[mode]!.rate.toFixed(0)}/s\n`);
  await server.stop();
}

const kinds = ['sqlite', ...((await postgresUnavailable()) === null ? ['postgres'] : [])];
const fsyncs: Record<string, number | null> = {};
for (const kind of kinds) {
  const tokenCeiling = await startServer('ceiling-token', kind);
  ceilings[`ceiling-token/${kind}`] = await measure(tokenCeiling.info.port, { method: 'POST', path: '/ceiling', headers: bearer(tokenCeiling.info.token), body: '{"x":1}' }, { warmup: 3 });
  await tokenCeiling.stop();

  const server = await startServer('app', kind);
  const { port, certSign, caSign, caCreate, lists } = server.info;
  const signScenario: Scenario = {
    method: 'POST', path: '/cdn-cgi/access/cert_sign', headers: json,
    vary: (n) => ({ body: JSON.stringify({ public_key: certSign.keys[n % certSign.keys.length], jwt: certSign.jwt }) }),
  };
  const full = await measure(port, signScenario, { warmup: 3 });
  record('POST /cdn-cgi/access/cert_sign', kind, full, 'full crypto', ceilings['ceiling-crypto']!.rate);
  const half = await measure(port, signScenario, { warmup: 0, overallRate: Math.floor(full.rate / 2) });
  record('cert_sign at half its maximum rate', kind, half, 'full crypto', ceilings['ceiling-crypto']!.rate, `p99/p50 = ${(half.p99 / Math.max(half.p50, 0.001)).toFixed(2)}`);
  record('POST /access/apps/{id}/ca/sign', kind, await measure(port, {
    method: 'POST', path: caSign.path, headers: bearer(caSign.token),
    vary: (n) => ({ body: JSON.stringify({ public_key: caSign.keys[n % caSign.keys.length], principals: ['deploy'] }) }),
  }), 'token lookup + crypto', ceilings[`ceiling-token/${kind}`]!.rate);

  let nextApp = 0;
  const create: Scenario = { method: 'POST', path: '', headers: bearer(caCreate.token), vary: () => ({ path: `${caCreate.base}/${caCreate.apps[nextApp++]}/ca` }) };
  const created = await measure(port, create, { warmup: 1, seconds: Math.min(SECONDS, 5) });
  fsyncs[kind] = kind === 'sqlite' ? await fsyncsDuring(server.info.pid, async () => {
    const before = nextApp;
    await measure(port, create, { warmup: 0, seconds: 1 });
    return nextApp - before;
  }) : null;
  record('POST /access/apps/{id}/ca (create)', kind, created, 'bare POST', ceilings['ceiling-bare']!.rate, fsyncs[kind] === null ? undefined : `${fsyncs[kind]!.toFixed(2)} fsync per create`);

  const small = await measure(port, { method: 'GET', path: lists['1000'].path, headers: bearer(lists['1000'].token) });
  const large = await measure(port, { method: 'GET', path: lists['100000'].path, headers: bearer(lists['100000'].token) });
  record('GET /access/apps/ca page, 1,000 CAs', kind, small, 'bare POST', ceilings['ceiling-bare']!.rate);
  record('GET /access/apps/ca page, 100,000 CAs', kind, large, 'the 1,000 page', small.rate, `${(small.rate / large.rate).toFixed(2)}× the 1,000 page's time`);
  await server.stop();
}

const ms = (v: number) => v.toFixed(2);
console.log(`Load: autocannon, ${CONNECTIONS} connections, ${SECONDS} s per scenario after a warm-up; ${pinned ? 'server pinned to core 0 and load to core 1 (taskset)' : 'no taskset: server and load share the cores'}.`);
console.log('');
console.log('| ceiling | req/s | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|');
for (const [name, m] of Object.entries(ceilings)) console.log(`| ${name} | ${m.rate.toFixed(0)} | ${ms(m.p50)} | ${ms(m.p99)} |`);
console.log('');
console.log('| scenario | store | req/s | p50 ms | p99 ms | ratio | against | note |');
console.log('|---|---|---:|---:|---:|---:|---|---|');
for (const r of rows) console.log(`| ${r.scenario} | ${r.store} | ${r.m.rate.toFixed(0)} | ${ms(r.m.p50)} | ${ms(r.m.p99)} | ${r.ratio.toFixed(2)} | ${r.against} | ${r.note ?? ''} |`);
if (kinds.length === 1) console.log('(no PostgreSQL at 127.0.0.1:5432: SQLite only)');

const report = { when: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, pinned, ceilings, rows, krl: measureKrl() };
if (process.env['BENCH_JSON']) writeFileSync(process.env['BENCH_JSON'], `${JSON.stringify(report, null, 2)}\n`);
console.log('');
for (const line of krlReport(report.krl)) console.log(line);
console.log('');
console.log(`JSON: ${process.env['BENCH_JSON'] ?? '(set BENCH_JSON=<file> to write it)'}`);
