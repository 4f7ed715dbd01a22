import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cleanEnv, runCliInProcess } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

// An install that never asks the registry for our name: `npm pack` in the clone, then
// `npm install -g ./access-ca-<version>.tgz`, then `access-ca` (docs/install.md), and the systemd unit in
// packaging/ that runs what that install put at /usr/local/bin.

const UNIT = join(ROOT, 'packaging/access-ca.service');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The environment npm gets: `npm test`'s own lifecycle variables would point a nested npm at this clone. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const k of Object.keys(env)) {
    if (/^npm_(lifecycle_|package_)|^npm_command$|^npm_config_(prefix|global_prefix|local_prefix|global|call)$/i.test(k)) delete env[k];
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, env: npmEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** One section's `Key=value` lines of a unit file, in order (a key may repeat); comments and blanks dropped. */
function unitSection(text: string, section: string): [string, string][] {
  const out: [string, string][] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === section) {
      const eq = line.indexOf('=');
      out.push([line.slice(0, eq), line.slice(eq + 1)]);
    }
  }
  return out;
}

/** The long options a `--help` text lists. */
const helpFlags = (help: string): Set<string> => new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!));

test('the systemd unit runs the installed server as its own user, hardened, with flags serve accepts', async () => {
  const service = new Map<string, string[]>();
  for (const [k, v] of unitSection(readFileSync(UNIT, 'utf8'), 'Service')) service.set(k, [...(service.get(k) ?? []), v]);
  const one = (k: string) => service.get(k)?.at(-1);

  assert.equal(one('User'), 'access-ca');
  assert.equal(one('StateDirectory'), 'access-ca');
  assert.equal(one('StateDirectoryMode'), '0700');
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('ProtectHome'), 'yes');
  assert.equal(one('PrivateTmp'), 'yes');
  assert.equal(one('NoNewPrivileges'), 'yes');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('CapabilityBoundingSet'), '');
  assert.equal(one('AmbientCapabilities'), '');
  assert.equal(one('SystemCallArchitectures'), 'native');
  assert.deepEqual(service.get('SystemCallFilter'), ['@system-service', '~@privileged']);
  assert.equal(one('SystemCallErrorNumber'), 'EPERM');
  assert.equal(one('EnvironmentFile'), '-/etc/access-ca/env');
  // V8's JIT writes the code it then runs: this one would stop Node at its first compiled function.
  assert.equal(service.has('MemoryDenyWriteExecute'), false);
  assert.deepEqual(unitSection(readFileSync(UNIT, 'utf8'), 'Install'), [['WantedBy', 'multi-user.target']]);

  const exec = one('ExecStart')!.split(/\s+/);
  assert.equal(exec[0], '/usr/local/bin/access-ca');
  const at = exec.indexOf('serve');
  assert.ok(at > 0, 'ExecStart runs serve');
  const global = exec.slice(1, at);
  const serveArgs = exec.slice(at + 1);
  assert.deepEqual(global, ['--data-dir', '/var/lib/access-ca'], 'the data directory is the StateDirectory');

  const rootHelp = await runCliInProcess(['--help']);
  const serveHelp = await runCliInProcess(['serve', '--help']);
  assert.equal(rootHelp.code, 0);
  assert.equal(serveHelp.code, 0);
  const known = helpFlags(serveHelp.stdout);
  for (const flag of serveArgs.filter((a) => a.startsWith('--'))) assert.ok(known.has(flag), `serve --help lists ${flag}`);
  for (const flag of global.filter((a) => a.startsWith('--'))) assert.ok(helpFlags(rootHelp.stdout).has(flag), `--help lists ${flag}`);
  assert.equal(serveArgs[serveArgs.indexOf('--listen') + 1], '127.0.0.1:8787', 'loopback until TLS or a proxy is in front');

  // Without --audit-log, SIGHUP keeps its default and ends the server: a reload must not send one then.
  if (one('ExecReload')?.includes('-HUP')) {
    const log = serveArgs[serveArgs.indexOf('--audit-log') + 1];
    assert.ok(serveArgs.includes('--audit-log'), 'ExecReload sends SIGHUP only to a server that reopens --audit-log on it');
    assert.equal(log, '/var/log/access-ca/audit.log');
    assert.equal(one('LogsDirectory'), 'access-ca');
  }
});

test('the packed tarball holds only the build, installs into a prefix, and its access-ca serves and stops', { timeout: 600_000 }, async (t) => {
  if (spawnSync('npm', ['--version'], { env: npmEnv() }).status !== 0) return t.skip('npm is not installed');

  // `npm ci` built dist/ through prepare; build it once only when it is not there (a clone set up with --ignore-scripts).
  if (!existsSync(join(ROOT, 'dist/main.js')) || !existsSync(join(ROOT, 'dist/console-ui/index.html'))) {
    const build = run('npm', ['run', 'build'], ROOT);
    assert.equal(build.status, 0, build.stderr);
  }

  const dir = testTempDir('access-ca-pack-');
  const prefix = join(dir, 'prefix');
  let server: ReturnType<typeof spawn> | undefined;
  t.after(() => {
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  // --ignore-scripts: the dist/ that is there is what gets packed (prepack and prepare would rebuild it,
  // under the feet of other tests that read it).
  const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  assert.equal(pack.status, 0, pack.stderr);
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  assert.equal(packed!.filename, `access-ca-${VERSION}.tgz`);
  const files = packed!.files.map((f) => f.path);
  assert.deepEqual(files.filter((f) => !f.startsWith('dist/') && f !== 'package.json' && f !== 'README.md'), []);
  assert.deepEqual(files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.tsx?$|\.map$/.test(f)), [], 'no tests, sources or source maps');
  assert.deepEqual(files.filter((f) => /(^|\/)\.env|\.pem$|\.key$|(^|\/)id_(rsa|ecdsa|ed25519)|\.db(-wal|-shm)?$|\.npmrc$/.test(f)), [], 'no secrets, keys or stores');
  for (const needed of ['dist/main.js', 'dist/cli/program.js', 'dist/console-ui/index.html']) assert.ok(files.includes(needed), needed);

  // The dependencies' tarballs come from the npm cache that `npm ci` filled; npm still asks the registry for
  // their metadata (a range resolves afresh outside a lock), never for our own name: the package is a file.
  // Scripts are off: better-sqlite3's install script would compile SQLite (about two minutes) where its
  // prebuilt binary cannot be downloaded. The clone's own build of the same version is that binary.
  const install = run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, packed!.filename)], dir);
  assert.equal(install.status, 0, install.stderr);
  const installed = join(prefix, 'lib/node_modules/access-ca');
  const sqlite = join(installed, 'node_modules/better-sqlite3');
  const versionOf = (pkg: string) => (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const clones = join(ROOT, 'node_modules/better-sqlite3');
  if (versionOf(sqlite) === versionOf(clones)) {
    mkdirSync(join(sqlite, 'build/Release'), { recursive: true });
    copyFileSync(join(clones, 'build/Release/better_sqlite3.node'), join(sqlite, 'build/Release/better_sqlite3.node'));
  } else {
    // A newer release in range than the clone's lock: build it as its install script would.
    const rebuild = run('npm', ['rebuild', '--global', '--prefix', prefix, 'better-sqlite3', '--foreground-scripts'], dir);
    assert.equal(rebuild.status, 0, rebuild.stderr);
  }

  const bin = join(prefix, 'bin/access-ca');
  assert.match(readFileSync(join(installed, 'dist/main.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  // Run from a directory that is not the clone: every path the program uses is its own package's.
  const version = spawnSync(bin, ['--version'], { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, `${VERSION}\n`);

  await t.test('systemd-analyze verify accepts the unit, run from this install', (st) => {
    if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) return st.skip('systemd-analyze is not installed (Debian package systemd)');
    const unitDir = join(dir, 'unit');
    mkdirSync(unitDir);
    const unit = join(unitDir, 'access-ca.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/access-ca', bin));
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', env: cleanEnv() });
    // It warns on stderr about any unknown key or bad value, and fails on an ExecStart it cannot run.
    assert.equal(verify.stderr, '');
    assert.equal(verify.status, 0);
  });

  const data = join(dir, 'data');
  const child = spawn(bin, ['--data-dir', data, 'serve', '--listen', '127.0.0.1:0'], {
    cwd: dir,
    env: cleanEnv({ ACCESS_CA_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let err = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.stdout.resume();
  const origin = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /access-ca listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the installed server exited with ${code} before listening:\n${err}`)));
    setTimeout(() => reject(new Error(`the installed server did not listen within 30 s:\n${err}`)), 30_000).unref();
  });

  assert.equal((await fetch(`${origin}/healthz`)).status, 200);
  // The console's built files are found beside the installed code, not in the working directory.
  const page = await fetch(`${origin}/console/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(err, new RegExp(`store ${data.replaceAll('/', '\\/')}\\/access-ca\\.db\\)`));
  assert.ok(existsSync(join(data, 'master.key')));

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(err, /access-ca: stopped/);
});
