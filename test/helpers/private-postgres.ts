import { execFile } from 'node:child_process';
import { chownSync, existsSync, appendFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testTempDir } from './temp-dir.ts';

const run = promisify(execFile);

/** Where Debian's PostgreSQL 15 keeps initdb and pg_ctl (.ci/run installs the package). */
export const POSTGRES_BIN = process.env['ACCESS_CA_TEST_POSTGRES_BIN'] ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own, in a temp dir, on a free loopback port with trust
 * authentication: one that a fault test may stop and restart without touching the machine's shared one.
 */
export interface PrivatePostgres {
  /** The cluster's `postgres` database, as the postgres superuser. */
  url: string;
  port: number;
  /** Starts the stopped cluster and waits until it accepts connections. */
  start(): Promise<void>;
  /** Stops it: `fast` ends sessions with 57P01 and checkpoints, `immediate` is a crash (57P02, WAL replay at start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** The server's own log so far (for a failure message). */
  log(): string;
}

/** Why a private cluster cannot run here, or null when it can. */
export function privatePostgresUnavailable(): string | null {
  if (process.env['ACCESS_CA_TEST_QUICK'] === '1') return 'npm run test:quick leaves PostgreSQL out; npm test runs it';
  if (process.getuid?.() !== 0) return 'a private PostgreSQL cluster runs as the postgres OS user, which needs root (runuser)';
  for (const tool of [join(POSTGRES_BIN, 'initdb'), join(POSTGRES_BIN, 'pg_ctl'), '/usr/sbin/runuser']) {
    if (!existsSync(tool)) return `${tool} is not installed here (Debian: apt-get install postgresql-15); .ci/run installs it`;
  }
  return null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Makes and starts a private cluster (initdb, then pg_ctl as the postgres user). Its removal is
 * registered with `after` before anything is made, so a failed start or a failed test still stops the
 * server and removes its directory.
 */
export async function startPrivatePostgres(after: (fn: () => Promise<void>) => void): Promise<PrivatePostgres> {
  const dir = testTempDir('access-ca-pg-');
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  let running = false;
  const asPostgres = (tool: string, args: string[]) =>
    run('/usr/sbin/runuser', ['-u', 'postgres', '--', join(POSTGRES_BIN, tool), ...args], { cwd: dir, timeout: 60_000 });
  const ctl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', ...args]);

  after(async () => {
    if (running || existsSync(join(data, 'postmaster.pid'))) await ctl('stop', '-m', 'immediate').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  const { stdout: uid } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  chownSync(dir, Number(uid.trim()), Number(gid.trim()));
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  // Only this test's clients reach it: loopback TCP, and its Unix socket in its own directory.
  appendFileSync(join(data, 'postgresql.conf'), `\nport = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\n`);

  const cluster: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await ctl('start');
      running = true;
    },
    async stop(mode = 'fast') {
      await ctl('stop', '-m', mode);
      running = false;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  await cluster.start();
  return cluster;
}
