import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { testTempDir } from './temp-dir.ts';

export const SSHD = '/usr/sbin/sshd';

/** Why an sshd test cannot run here, or null. `.ci/run` installs OpenSSH and runs as root. */
export function sshdUnavailable(): string | null {
  if (process.env['ACCESS_CA_TEST_QUICK'] === '1') return 'npm run test:quick leaves sshd out; npm test runs it';
  if (!existsSync(SSHD)) return `${SSHD} is not installed (Debian: openssh-server); .ci/run installs it`;
  if (spawnSync('ssh', ['-V']).error) return 'the ssh client is not installed (Debian: openssh-client)';
  if (process.getuid?.() !== 0) return 'root is needed to add test users (useradd) and run sshd; .ci/run runs as root';
  if (spawnSync('useradd', ['--help']).error) return 'useradd is not available';
  return null;
}

/** A Unix account made for one test run and removed after it. */
export function addTestUser(prefix: string): { name: string; remove(): void } {
  const name = `${prefix}${randomBytes(4).toString('hex')}`;
  const add = spawnSync('useradd', ['-m', '-s', '/bin/sh', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`useradd ${name}: ${add.stderr}`);
  // A fresh account is "locked" to sshd under UsePAM no; '*' unlocks it without giving it a password.
  spawnSync('usermod', ['-p', '*', name]);
  return { name, remove: () => void spawnSync('userdel', ['-r', name], { stdio: 'ignore' }) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A stock sshd on a loopback port that trusts the CA keys in `caFile`. */
export interface TestSshd {
  port: number;
  log(): string;
  /** Waits up to 3 s for the log to match: sshd's session processes write after ssh has returned. */
  waitForLog(pattern: RegExp): Promise<string>;
  stop(): Promise<void>;
}

/**
 * `trust` is the TrustedUserCAKeys file, or the sshd_config lines to use instead (e.g. with RevokedKeys).
 * `hostKey`: the host's own key (an enrolled host's), instead of a fresh one.
 */
export async function startSshd(trust: string | string[], opts: { hostKey?: string } = {}): Promise<TestSshd & { pidFile: string; reload(): Promise<void> }> {
  const dir = testTempDir('access-ca-sshd-');
  mkdirSync('/run/sshd', { recursive: true });
  const hostKey = opts.hostKey ?? join(dir, 'host_ed25519');
  if (!opts.hostKey) {
    const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    if (keygen.status !== 0) throw new Error('ssh-keygen could not make a host key');
  }
  const port = await freePort();
  const pidFile = join(dir, 'sshd.pid');
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${pidFile}`,
    ...(typeof trust === 'string' ? [`TrustedUserCAKeys ${trust}`] : trust), 'AuthorizedKeysFile none', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes', 'UsePAM no', 'StrictModes no', 'LogLevel VERBOSE', '',
  ].join('\n'));
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 100 && !log.includes('Server listening'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!log.includes('Server listening')) throw new Error(`sshd did not start:\n${log}`);
  return {
    port,
    pidFile,
    /** SIGHUP: sshd re-executes itself and reads its config, host keys and certificates again. */
    async reload() {
      const before = log.length;
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGHUP');
      for (let i = 0; i < 100 && !log.slice(before).includes('Server listening'); i++) await new Promise((r) => setTimeout(r, 50));
      if (!log.slice(before).includes('Server listening')) throw new Error(`sshd did not come back after SIGHUP:\n${log.slice(before)}`);
    },
    log: () => log,
    async waitForLog(pattern) {
      for (let i = 0; i < 60 && !pattern.test(log); i++) await new Promise((r) => setTimeout(r, 50));
      return log;
    },
    async stop() {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : child.pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `ssh` with one key and certificate, nothing from the user's own config. */
export function sshWith(opts: { port: number; user: string; key: string; cert: string; command: string }): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh', [
    '-F', '/dev/null', '-i', opts.key, '-o', `CertificateFile=${opts.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5',
    '-p', String(opts.port), `${opts.user}@127.0.0.1`, opts.command,
  ], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
