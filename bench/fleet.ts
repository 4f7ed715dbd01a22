// The fleet's steady state: 10,000 enrolled hosts polling every 60 s with If-None-Match, against an
// account with 100,000 revoked certificates in the application covering them. What matters is what the
// server spends at the fleet's real rate (paced, not blasted): its CPU per second of wall time, from
// /proc/<pid>/stat, measured while a bare Fastify route answers the same conditional GETs at the same rate
// on the same core (on these shared machines the absolute figure drifts by half; the ratio much less).
// Then revocations: how long one takes, the KRL's first (cold) and cached GET after it, and whether the
// event loop stalls meanwhile (/healthz probed throughout). `npm run bench -- fleet` runs this part alone;
// BENCH_FLEET_SECONDS, BENCH_FLEET_HOSTS, BENCH_FLEET_REVOKED and BENCH_FLEET_STORES change its size.
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { authorizedKeyLine, publicKeyBlob } from '../src/openssh/public-key-blob.ts';
import { signSshsig } from '../src/openssh/sshsig.ts';
import { decodeKrl } from '../src/openssh/krl.ts';
import { ENROLL_NAMESPACE } from '../src/infrastructure/host-enrollment-service.ts';
import { POSTGRES_ADMIN_URL } from '../test/helpers/databases.ts';
import { FLEET_API_ENROLLED, FLEET_HOSTS, FLEET_REVOKED } from './fleet-seed.ts';

/** Seconds of each steady-state run: 30 s holds exactly one of the server's last-seen flushes (every 30 s). */
export const FLEET_SECONDS = Number(process.env['BENCH_FLEET_SECONDS'] ?? 30);
const POLL_INTERVAL_S = 60;
/** Each host polls once a minute; one poll is one conditional GET, of its trust bundle and its KRL in turn. */
const RATE = FLEET_HOSTS / POLL_INTERVAL_S;
const REVOKES = 3;
/** Paced requests before each server's first timed run, so that what it times is not V8's compiling. */
const WARMUP_SECONDS = 3;
const ENDPOINTS = ['/client/v4/host/trust_bundle', '/client/v4/host/krl'] as const;

interface StartedServer { info: any; stop(): Promise<void> }
type StartServer = (mode: string, kind: string) => Promise<StartedServer>;

interface Answer { status: number; headers: IncomingHttpHeaders; bytes: number; body: Buffer | null; ms: number }

/** One request; the body is kept only when asked for (a KRL is 800 kB, and 10,000 hosts fetch it in the first round). */
function send(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown; agent: Agent | false; keep?: boolean; due?: number; from?: string }): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const started = opts.due ?? performance.now();
  return new Promise((resolve, reject) => {
    const req = request({
      agent: opts.agent, host: '127.0.0.1', port, method, path, ...(opts.from ? { localAddress: opts.from } : {}),
      headers: { ...opts.headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
    }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (opts.keep) chunks.push(c);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, body: opts.keep ? Buffer.concat(chunks) : null, ms: performance.now() - started }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(payload);
  });
}

const expect = (a: Answer, status: number, what: string): Answer => {
  if (a.status !== status) throw new Error(`${what}: ${a.status} ${a.body?.toString().slice(0, 300) ?? ''}`);
  return a;
};

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds a process has used so far: its main thread's user and system time, and all its other threads'. */
interface Cpu { user: number; system: number; others: number }

/** User and system seconds from a /proc stat line (fields 14 and 15; the command name may hold spaces). */
function stat(path: string): [number, number] {
  const text = readFileSync(path, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / ticksPerSecond, Number(fields[12]) / ticksPerSecond];
}

/** The process's CPU so far (threads that ended still count in the process's total); null where there is no /proc. */
function cpuSeconds(pid: number): Cpu | null {
  if (!existsSync(`/proc/${pid}/stat`)) return null;
  const [user, system] = stat(`/proc/${pid}/task/${pid}/stat`);
  const [all, allSystem] = stat(`/proc/${pid}/stat`);
  return { user, system, others: all + allSystem - user - system };
}

/**
 * CPU per second of wall time, each part as a fraction of one core: the server process's (main thread
 * user and kernel, other threads), and on PostgreSQL, apart, the database backends serving its connections.
 */
export interface CpuShare { total: number; user: number; system: number; others: number; database: number | null }

/**
 * The CPU seconds of a database's PostgreSQL backends (this machine's server) while it is watched: the
 * backends are listed every 0.5 s, so one that comes and goes between two looks is missed.
 */
function watchBackends(database: string) {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  const seen = new Map<number, { first: number; last: number }>();
  let timer: NodeJS.Timeout | undefined;
  const look = async () => {
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [database]);
    for (const { pid } of rows) {
      if (!existsSync(`/proc/${pid}/stat`)) continue;
      const [user, system] = stat(`/proc/${pid}/stat`);
      const known = seen.get(pid);
      if (known) known.last = user + system;
      else seen.set(pid, { first: user + system, last: user + system });
    }
  };
  return {
    async start() {
      await client.connect();
      await look();
      timer = setInterval(() => void look().catch(() => {}), 500);
    },
    async stop(): Promise<number> {
      clearInterval(timer);
      await look();
      await client.end();
      return [...seen.values()].reduce((sum, b) => sum + b.last - b.first, 0);
    },
  };
}

/** The server's CPU per second of wall time while `work` runs (and its database's backends', when named). */
async function cpuDuring<T>(pid: number, work: () => Promise<T>, database?: string | null): Promise<{ result: T; cpu: CpuShare | null; wall: number }> {
  const backends = database ? watchBackends(database) : null;
  await backends?.start();
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const result = await work();
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(pid);
  const databaseSeconds = backends ? await backends.stop() : null;
  if (cpu0 === null || cpu1 === null) return { result, cpu: null, wall };
  const user = (cpu1.user - cpu0.user) / wall;
  const system = (cpu1.system - cpu0.system) / wall;
  const others = (cpu1.others - cpu0.others) / wall;
  return { result, cpu: { total: user + system + others, user, system, others, database: databaseSeconds === null ? null : databaseSeconds / wall }, wall };
}

/** 0 … n-1 in a random order (Fisher–Yates). */
function shuffled(n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * Host n's own address in 127.0.0.0/8: hosts are separate machines, and the server caps connections per
 * client address (64), which one shared address would reach whenever the server stalls for 0.4 s.
 */
const hostAddress = (n: number) => `127.${2 + Math.floor(n / 62_500)}.${1 + (Math.floor(n / 250) % 250)}.${1 + (n % 250)}`;

interface Host { credential: string; etags: [string | null, string | null] }

interface Polled { requests: number; rate: number; notModified: number; ok: number; bytes: number; p50: number; p99: number; max: number; hosts: number }

/**
 * Open-loop polling, as bench/paced.ts paces (each request sent when due, latency timed from then):
 * request n is the next host in a shuffled cycle over all hosts, so every request in a run of under a
 * minute comes from a different host; a host's polls alternate between its bundle and its KRL.
 * With `agent` false each request is a new connection from the host's own address (hosts reconnect: a
 * minute is past the server's keep-alive); otherwise they share the agent's connections, as through a
 * proxy. A 200 updates the tag the host holds; anything but 200 or 304 fails the run.
 */
async function poll(port: number, hosts: Host[], order: number[], from: number, seconds: number, agent: Agent | false, path?: string): Promise<Polled> {
  const total = Math.round(RATE * seconds);
  const interval = 1000 / RATE;
  const latencies: number[] = [];
  const seen = new Set<number>();
  let notModified = 0;
  let ok = 0;
  let bytes = 0;
  const failures: string[] = [];
  const start = performance.now();
  await new Promise<void>((done) => {
    let sent = 0;
    let settled = 0;
    const finish = () => {
      if (++settled === total) done();
    };
    const fire = (n: number, due: number) => {
      const cycle = from + n;
      const index = order[cycle % order.length]!;
      seen.add(index);
      const host = hosts[index]!;
      const which = (index + Math.floor(cycle / order.length)) % 2;
      const etag = host.etags[which];
      const address = agent === false ? hostAddress(index) : undefined;
      send(port, 'GET', path ?? ENDPOINTS[which]!, { headers: { authorization: `Bearer ${host.credential}`, ...(etag ? { 'if-none-match': etag } : {}) }, agent, due, from: address }).then((a) => {
        latencies.push(a.ms);
        bytes += a.bytes;
        if (a.status === 304) notModified++;
        else if (a.status === 200) {
          ok++;
          host.etags[which] = String(a.headers['etag']);
        } else failures.push(`${a.status}`);
      }, (error: Error) => failures.push(error.message)).finally(finish);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        fire(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
  if (failures.length > 0) throw new Error(`fleet poll: ${failures.length} of ${total} failed (${[...new Set(failures)].slice(0, 3).join('; ')})`);
  latencies.sort((a, b) => a - b);
  return { requests: total, rate: total / ((performance.now() - start) / 1000), notModified, ok, bytes, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1)!, hosts: seen.size };
}

/** Enrolls a host as the agent does: a target and a join token (the operator), then challenge, SSHSIG and enroll (the host). */
async function enrollThroughApi(port: number, info: { accountId: string; token: string; domain: string }, n: number, agent: Agent): Promise<{ credential: string; ms: number }> {
  const operator = { authorization: `Bearer ${info.token}` };
  const base = `/client/v4/accounts/${info.accountId}`;
  const target = expect(await send(port, 'POST', `${base}/infrastructure/targets`, { headers: operator, body: { hostname: `api${n}.${info.domain}` }, agent, keep: true }), 201, 'target');
  const targetId = JSON.parse(target.body!.toString()).result.id as string;
  const jt = expect(await send(port, 'POST', `${base}/infrastructure/targets/${targetId}/join_token`, { headers: operator, body: {}, agent, keep: true }), 200, 'join token');
  const joinToken = JSON.parse(jt.body!.toString()).result.token as string;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicBlob = publicKeyBlob(publicKey);
  const started = performance.now();
  const c = expect(await send(port, 'POST', '/client/v4/host/enroll/challenge', { body: { join_token: joinToken }, agent, keep: true }), 200, 'challenge');
  const challenge = JSON.parse(c.body!.toString()).result.challenge as string;
  const signature = signSshsig({ privateKey, publicBlob }, ENROLL_NAMESPACE, Buffer.from(challenge)).toString('base64');
  const e = expect(await send(port, 'POST', '/client/v4/host/enroll', { body: { join_token: joinToken, challenge, host_keys: [{ public_key: authorizedKeyLine(publicBlob), signature }] }, agent, keep: true }), 200, 'enroll');
  return { credential: JSON.parse(e.body!.toString()).result.credential as string, ms: performance.now() - started };
}

/** /healthz asked over and over (1 ms apart) until stopped: each answer's start and latency. */
function healthProbe(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: { at: number; ms: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = performance.now();
      expect(await send(port, 'GET', '/healthz', { agent }), 200, 'healthz');
      samples.push({ at, ms: performance.now() - at });
      await sleep(1);
    }
  })();
  return {
    /** The longest answer among those under way at some time in [from, to]. */
    worst: (from: number, to: number) => Math.max(0, ...samples.filter((s) => s.at <= to && s.at + s.ms >= from).map((s) => s.ms)),
    median: () => quantile(samples.map((s) => s.ms).sort((a, b) => a - b), 0.5),
    async stop() {
      running = false;
      await loop;
      agent.destroy();
    },
  };
}

const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);

export interface FleetPollRow { scenario: string; store: string; ratio: number | null; rate: number; p50: number; p99: number; cpu: CpuShare | null; notModified: number; hosts: number; note: string }
export interface FleetResult {
  store: string;
  hosts: number;
  revoked: number;
  seconds: number;
  idleCpu: CpuShare | null;
  polls: FleetPollRow[];
  enroll: { hosts: number; p50Ms: number };
  firstRound: { requests: number; seconds: number; cpu: CpuShare | null; bytes: number };
  krl: { serials: number; coldMs: number[]; coldBytes: number; warmMs: number[]; warmBytes: number; revokeMs: number[]; healthzIdleMs: number; healthzDuringRevokeMs: number; healthzDuringColdMs: number };
}

/** Runs the fleet scenarios against a `fleet` bench server of `kind`, and the bare baseline beside it. */
export async function measureFleet(start: StartServer, kind: string): Promise<FleetResult> {
  const log = (text: string) => process.stderr.write(`bench: fleet (${kind}): ${text}\n`);
  // The baseline, on a server of its own: a bare route answering the same conditional GETs with 304 at the
  // fleet's rate, over the same kind of connections.
  const bare = await start('ceiling-bare', 'none');
  const bareHosts: Host[] = Array.from({ length: FLEET_HOSTS }, () => ({ credential: 'x', etags: ['"bench"', '"bench"'] }));
  const bareOrder = shuffled(FLEET_HOSTS);
  let bareNext = 0;
  const bareRun = async (seconds: number, agent: Agent | false) => {
    const from = bareNext;
    bareNext += Math.round(RATE * seconds);
    return cpuDuring(bare.info.pid, () => poll(bare.info.port, bareHosts, bareOrder, from, seconds, agent, '/ceiling'));
  };
  let bareStopped = false;

  const server = await start('fleet', kind).catch(async (error: unknown) => {
    await bare.stop();
    throw error;
  });
  const { port, pid, database } = server.info as { port: number; pid: number; database: string | null };
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const enrolled = [];
    for (let i = 0; i < FLEET_API_ENROLLED; i++) enrolled.push(await enrollThroughApi(port, server.info, i, keepAlive));
    const hosts: Host[] = [...server.info.credentials as string[], ...enrolled.map((e) => e.credential)].map((credential) => ({ credential, etags: [null, null] }));
    if (hosts.length !== FLEET_HOSTS) throw new Error(`expected ${FLEET_HOSTS} hosts, have ${hosts.length}`);

    // The first round: every host fetches its bundle and its KRL without a tag (16 at a time; not paced).
    let next = 0;
    let firstBytes = 0;
    let serials = 0;
    const first = await cpuDuring(pid, () => Promise.all(Array.from({ length: 16 }, async () => {
      while (next < hosts.length * 2) {
        const n = next++;
        const host = hosts[n >> 1]!;
        const which = n & 1;
        const a = expect(await send(port, 'GET', ENDPOINTS[which]!, { headers: { authorization: `Bearer ${host.credential}` }, agent: keepAlive, keep: n === 1 }), 200, ENDPOINTS[which]!);
        host.etags[which] = String(a.headers['etag']);
        firstBytes += a.bytes;
        if (n === 1) serials = decodeKrl(a.body!).certificates.reduce((sum, s) => sum + s.serials.length, 0);
      }
    })));
    if (serials !== FLEET_REVOKED) throw new Error(`the KRL holds ${serials} serials, not ${FLEET_REVOKED}`);
    log(`first round: ${hosts.length * 2} GETs in ${first.wall.toFixed(1)} s, ${(firstBytes / 1e9).toFixed(2)} GB`);

    await sleep(2000);
    const idle = await cpuDuring(pid, () => sleep(5000), database);
    const order = shuffled(hosts.length);
    await Promise.all([poll(port, hosts, order, 0, WARMUP_SECONDS, false), bareRun(WARMUP_SECONDS, false)]);
    const warmed = Math.round(RATE * WARMUP_SECONDS);
    // BENCH_CPU_PROFILE=<dir>: the server profiles this run, and the revocations below (bench-server.ts, SIGUSR2).
    const profiling = Boolean(process.env['BENCH_CPU_PROFILE']);
    if (profiling) {
      process.kill(pid, 'SIGUSR2');
      await sleep(500);
    }
    // Each run with the baseline beside it, at the same time on the same core, so that whatever else the
    // machine is doing weighs on both alike.
    const [fresh, bareFresh] = await Promise.all([cpuDuring(pid, () => poll(port, hosts, order, warmed, FLEET_SECONDS, false), database), bareRun(FLEET_SECONDS, false)]);
    if (profiling) {
      process.kill(pid, 'SIGUSR2');
      await sleep(1000);
    }
    log(`polls, new connections: ${pct(fresh.cpu)} of a core (bare route beside it: ${pct(bareFresh.cpu)}), ${fresh.result.notModified}/${fresh.result.requests} 304`);
    const bareAgent = new Agent({ keepAlive: true, maxSockets: 16 });
    const [kept, bareKept] = await Promise.all([cpuDuring(pid, () => poll(port, hosts, order, warmed + fresh.result.requests, FLEET_SECONDS, keepAlive), database), bareRun(FLEET_SECONDS, bareAgent)]);
    bareAgent.destroy();
    log(`polls, kept-alive connections: ${pct(kept.cpu)} of a core (bare route beside it: ${pct(bareKept.cpu)}), ${kept.result.notModified}/${kept.result.requests} 304`);
    bareStopped = true;
    await bare.stop();

    // One revocation at a time; the KRL's first GET after it builds it, the second is the cached one.
    if (profiling) {
      process.kill(pid, 'SIGUSR2');
      await sleep(500);
    }
    const probe = healthProbe(port);
    await sleep(500);
    const healthzIdleMs = probe.median();
    const revokeMs: number[] = [];
    const coldMs: number[] = [];
    const warmMs: number[] = [];
    let coldBytes = 0;
    let warmBytes = 0;
    let duringRevoke = 0;
    let duringCold = 0;
    const krlAs = { authorization: `Bearer ${hosts[0]!.credential}` };
    const operator = { authorization: `Bearer ${server.info.token}` };
    for (const certId of (server.info.toRevoke as string[]).slice(0, REVOKES)) {
      await sleep(300);
      const t0 = performance.now();
      expect(await send(port, 'POST', `/client/v4/accounts/${server.info.accountId}/access/apps/${server.info.appId}/ca/certificates/${certId}/revoke`, { headers: operator, body: { reason: 'bench' }, agent: keepAlive }), 200, 'revoke');
      const t1 = performance.now();
      const cold = expect(await send(port, 'GET', ENDPOINTS[1], { headers: krlAs, agent: keepAlive }), 200, 'cold KRL');
      const t2 = performance.now();
      await sleep(50);
      const warm = expect(await send(port, 'GET', ENDPOINTS[1], { headers: krlAs, agent: keepAlive }), 200, 'warm KRL');
      revokeMs.push(t1 - t0);
      coldMs.push(cold.ms);
      warmMs.push(warm.ms);
      coldBytes = cold.bytes;
      warmBytes = warm.bytes;
      duringRevoke = Math.max(duringRevoke, probe.worst(t0, t1));
      duringCold = Math.max(duringCold, probe.worst(t1, t2));
    }
    await probe.stop();
    if (profiling) {
      process.kill(pid, 'SIGUSR2');
      await sleep(1000);
    }

    const row = (scenario: string, r: { result: Polled; cpu: CpuShare | null }, note: string, baseline?: CpuShare | null): FleetPollRow => ({
      scenario, store: kind, ratio: r.cpu && baseline ? r.cpu.total / baseline.total : null, rate: r.result.rate, p50: r.result.p50, p99: r.result.p99, cpu: r.cpu, notModified: r.result.notModified / r.result.requests, hosts: r.result.hosts, note,
    });
    return {
      store: kind, hosts: hosts.length, revoked: FLEET_REVOKED, seconds: FLEET_SECONDS, idleCpu: idle.cpu,
      polls: [
        row('hosts poll, a new connection each', fresh, `${fresh.result.hosts} hosts; max ${fresh.result.max.toFixed(1)} ms`, bareFresh.cpu),
        row('beside it: a bare Fastify route answering 304, a new connection each', bareFresh, 'the baseline: no store, no credential'),
        row('hosts poll, over 16 kept-alive connections', kept, `${kept.result.hosts} hosts; max ${kept.result.max.toFixed(1)} ms`, bareKept.cpu),
        row('beside it: the bare route, over 16 kept-alive connections', bareKept, 'the baseline'),
      ],
      enroll: { hosts: enrolled.length, p50Ms: median(enrolled.map((e) => e.ms)) },
      firstRound: { requests: hosts.length * 2, seconds: first.wall, cpu: first.cpu, bytes: firstBytes },
      krl: { serials, coldMs, coldBytes, warmMs, warmBytes, revokeMs, healthzIdleMs, healthzDuringRevokeMs: duringRevoke, healthzDuringColdMs: duringCold },
    };
  } finally {
    keepAlive.destroy();
    await server.stop();
    if (!bareStopped) await bare.stop();
  }
}

function pct(x: CpuShare | number | null): string {
  if (x === null) return 'n/a';
  return `${((typeof x === 'number' ? x : x.total) * 100).toFixed(2)} %`;
}
const ms = (v: number) => v.toFixed(2);
/** Where a run's CPU went: per request, and between the main thread (user, kernel) and the process's other threads. */
const split = (cpu: CpuShare | null, rate: number) => (cpu === null ? '' : `${((cpu.total / rate) * 1e6).toFixed(0)} µs CPU/request: main thread ${pct(cpu.user)} user + ${pct(cpu.system)} kernel, other threads ${pct(cpu.others)}${cpu.database === null ? '' : `; and PostgreSQL's backends ${pct(cpu.database)} (${((cpu.database / rate) * 1e6).toFixed(0)} µs/request)`}`);

/** The report's lines, in the style of bench/run.ts. */
export function fleetReport(results: FleetResult[]): string[] {
  if (results.length === 0) return [];
  const r0 = results[0]!;
  const lines = [
    `Fleet: ${r0.hosts} enrolled hosts polling every ${POLL_INTERVAL_S} s, one conditional GET (If-None-Match) per poll, alternating /host/trust_bundle and /host/krl (each host fetches each every ${POLL_INTERVAL_S * 2} s): ${RATE.toFixed(0)} GETs/s, paced, ${r0.seconds} s per run after a first round in which every host GETs both without a tag; ${r0.revoked} revoked certificates in the application covering every host. Server CPU = user + system time of the server process (all threads, /proc/<pid>/stat) per second of wall time, as a fraction of one core; goal < 5 %.`,
    '',
    '| scenario | store | req/s | p50 ms | p99 ms | server CPU (of one core) | × the bare route beside it | 304 | note |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    for (const p of r.polls) {
      lines.push(`| ${p.scenario} | ${p.store} | ${p.rate.toFixed(0)} | ${ms(p.p50)} | ${ms(p.p99)} | ${pct(p.cpu)} | ${p.ratio === null ? '' : p.ratio.toFixed(2)} | ${(p.notModified * 100).toFixed(2)} % | ${p.note}; ${split(p.cpu, p.rate)} |`);
    }
    lines.push(`| the fleet's server idle (no requests, 5 s) | ${r.store} | 0 | | | ${pct(r.idleCpu)} | | | ${r.idleCpu?.database == null ? '' : `PostgreSQL's backends ${pct(r.idleCpu.database)}`} |`);
  }
  lines.push('', '| one-off | store | value | note |', '|---|---|---:|---|');
  for (const r of results) {
    const k = r.krl;
    lines.push(
      `| first round: ${r.firstRound.requests} GETs without a tag | ${r.store} | ${r.firstRound.seconds.toFixed(1)} s | ${(r.firstRound.bytes / 1e9).toFixed(2)} GB, server CPU ${pct(r.firstRound.cpu)} (16 at a time, unpaced) |`,
      `| enroll through the API (challenge + SSHSIG + enroll) | ${r.store} | ${ms(r.enroll.p50Ms)} ms | median of ${r.enroll.hosts} hosts; the other ${r.hosts - r.enroll.hosts} seeded in the store |`,
      `| POST …/certificates/{id}/revoke, ${r.revoked} revoked | ${r.store} | ${ms(median(k.revokeMs))} ms | median of ${k.revokeMs.length} (${k.revokeMs.map(ms).join(', ')}); /healthz at worst ${ms(k.healthzDuringRevokeMs)} ms meanwhile (idle ${ms(k.healthzIdleMs)} ms) |`,
      `| GET /host/krl, cold (first after the revocation) | ${r.store} | ${ms(median(k.coldMs))} ms | ${k.coldBytes} bytes, ${k.serials} serials (${(k.coldBytes / k.serials).toFixed(2)} bytes/serial); ${k.coldMs.map(ms).join(', ')}; /healthz at worst ${ms(k.healthzDuringColdMs)} ms meanwhile |`,
      `| GET /host/krl, warm (cached) | ${r.store} | ${ms(median(k.warmMs))} ms | ${k.warmBytes} bytes; ${k.warmMs.map(ms).join(', ')} |`,
    );
  }
  return lines;
}
