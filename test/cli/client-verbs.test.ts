import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { createProgram, verbOf } from '../../src/cli/program.ts';
import { CLI_ARGS, ROOT } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

/**
 * ssh-gen runs from ssh's `Match exec` before every connection and sshd-sync from a timer: their command
 * line is built without the store, the schemas or the server (program.ts, CLIENT_VERBS), which cost half
 * a second of CPU to load. These tests keep it so.
 */
const CLIENT_VERBS = ['ssh-gen', 'login', 'ssh-config', 'sshd-sync'];
/** Packages only the store, the API schemas, the server or a sign-in need. */
const HEAVY = ['typebox', 'kysely', 'better-sqlite3', 'pg', 'fastify', '@fastify/swagger', 'pino', 'prom-client', 'openid-client', 'jose', 'pkcs11js'];
const sink = { write: () => true };

const verbNames = (program: Command) => program.commands.map((c) => c.name());

describe('client verbs load only what they use', () => {
  it('finds the verb past global options and their values', () => {
    assert.equal(verbOf(['ssh-gen', '--hostname', 'app']), 'ssh-gen');
    assert.equal(verbOf(['--data-dir', 'ssh-gen', 'app', 'list']), 'app');
    assert.equal(verbOf(['--database-url', 'x.db', '-q', 'sshd-sync']), 'sshd-sync');
    assert.equal(verbOf(['--data-dir=ssh-gen', 'token', 'list']), 'token');
    assert.equal(verbOf(['-q', '--', 'login']), 'login');
    assert.equal(verbOf(['--help']), undefined);
    // A help flag before the verb asks for the whole program's help, which lists every verb.
    assert.equal(verbOf(['--help', 'ssh-gen']), undefined);
    assert.equal(verbOf(['-h', 'ssh-gen']), undefined);
    assert.equal(verbOf(['-qh', 'login']), undefined);
    assert.equal(verbOf(['ssh-gen', '--help']), 'ssh-gen');
    assert.equal(verbOf([]), undefined);
  });

  it('a client verb\'s command line holds the client verbs, each one as the whole program defines it', async () => {
    const whole = (await createProgram([], {}, { stdout: sink, stderr: sink })).program;
    assert.ok(verbNames(whole).length > 20, `the whole program has ${verbNames(whole).length} verbs`);
    for (const verb of CLIENT_VERBS) {
      const client = (await createProgram([verb, '--help'], {}, { stdout: sink, stderr: sink })).program;
      assert.deepEqual(verbNames(client), CLIENT_VERBS, `verbs registered for ${verb}`);
      const help = (program: Command) => program.commands.find((c) => c.name() === verb)!.helpInformation();
      assert.equal(help(client), help(whole), `${verb} --help is the same in both`);
    }
    // Any other verb, and none, gets every verb.
    for (const argv of [['app', 'list'], ['--version'], ['no-such-verb']]) {
      assert.deepEqual(verbNames((await createProgram(argv, {}, { stdout: sink, stderr: sink })).program), verbNames(whole), argv.join(' '));
    }
  });

  it('ssh-gen and sshd-sync, run, load none of the store\'s, the server\'s or the sign-in\'s packages', async () => {
    const dir = testTempDir('access-ca-client-verbs-');
    // A resolve hook that writes down every module the process loads (it chains with tsx's when run from source).
    const hooks = join(dir, 'trace-hooks.mjs');
    const log = join(dir, 'loaded.txt');
    writeFileSync(hooks, `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}\n`);
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const jwt = join(dir, 'id.jwt');
    writeFileSync(jwt, 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n', { mode: 0o600 });
    const runs: [string[], number][] = [
      [['ssh-gen', '--help'], 0],
      [['sshd-sync', '--help'], 0],
      // A key made, and a certificate asked of a server that is not there (port 9, refused): exit 1.
      [['ssh-gen', '--hostname', 'ssh.example.com', '--server', 'http://127.0.0.1:9', '--jwt-file', jwt, '--dir', join(dir, 'person')], 1],
    ];
    for (const [args, expected] of runs) {
      writeFileSync(log, '');
      const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, ...CLI_ARGS, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      assert.equal(code, expected, `${args.join(' ')}: ${stderr}`);
      const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      assert.ok(loaded.some((url) => url.includes('/src/cli/')), `the trace saw the CLI's own modules (${loaded.length} loaded)`);
      const packages = new Set(loaded.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
      assert.deepEqual(HEAVY.filter((p) => packages.has(p)), [], `${args[0]} loaded (all packages: ${[...packages].join(', ')})`);
      assert.ok(!loaded.some((url) => /\/src\/(app|platform\/db\/database|cli\/cli-services)\.(ts|js)$/.test(url)), `${args.join(' ')} loaded the store or the server`);
    }
  });
});
