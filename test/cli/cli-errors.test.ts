import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
/** runCli in this process from a given working directory (the implicit default store is relative to it). */
async function cliIn(cwd: string, args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {}, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } }, cwd);
  return { code, stdout, stderr };
}

describe('CLI errors say what to do', () => {
  it('a verb at the implicit default location never creates a store: it names the path and the flag', async () => {
    const cwd = testTempDir('access-ca-nostore-');
    const r = await cliIn(cwd, ['account', 'list', '--json']);
    assert.equal(r.code, 2);
    assert.match(JSON.parse(r.stdout).error, new RegExp(`no access-ca store at ${join(cwd, '.access-ca', 'access-ca.db')}.*--data-dir.*ACCESS_CA_DATA_DIR.*access-ca init`));
    assert.doesNotMatch(r.stderr, STACK);
    const init = await cliIn(cwd, ['init', '--quiet']);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(init.stdout, `${join(cwd, '.access-ca', 'access-ca.db')}\n`, '--quiet prints the bare value');
    assert.equal((await cliIn(cwd, ['account', 'list', '--json'])).code, 0);
  });

  it('a data directory that cannot be made or written is one sentence naming the flag, with no stack', async () => {
    // Under a regular file (ENOTDIR): unwritable even for root, who passes every permission check.
    const file = join(testTempDir('access-ca-unwritable-'), 'a-file');
    writeFileSync(file, 'x');
    for (const dir of [join(file, 'store'), file]) {
      const r = await cliIn(testTempDir('access-ca-cwd-'), ['--data-dir', dir, 'account', 'list', '--json']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(JSON.parse(r.stdout).error, new RegExp(`data directory ${dir} (cannot be created|is not a directory).*--data-dir`));
      assert.doesNotMatch(r.stderr, STACK);
    }
  });

  it('a server data dir holding ssh-gen files is refused, and ssh-gen refuses a store', async () => {
    const dir = testTempDir('access-ca-collide-');
    mkdirSync(join(dir, 'a'), { mode: 0o700 });
    writeFileSync(join(dir, 'a', 'host.example.com-cf_key'), 'x', { mode: 0o600 });
    const r = await runCliInProcess(['--data-dir', join(dir, 'a'), 'init']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /holds access-ca ssh-gen's files .*--data-dir/);
    const store = join(dir, 'b');
    assert.equal((await runCliInProcess(['--data-dir', store, 'init'])).code, 0);
    const gen = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'http://127.0.0.1:9', '--dir', store, '--jwt-file', '/dev/null']);
    assert.equal(gen.code, 2);
    assert.match(gen.stderr, /holds an access-ca server's store .*--dir/);
  });

  it('unknown verb and missing option are exit 2 with {"error"} under --json', async () => {
    const unknown = await runCliInProcess(['nope', '--json']);
    assert.equal(unknown.code, 2);
    assert.match(JSON.parse(unknown.stdout.split('\n')[0]!).error, /unknown command 'nope'/);
    const missing = await runCliInProcess(['zone', 'list', '--json']);
    assert.equal(missing.code, 2);
    assert.match(JSON.parse(missing.stdout.split('\n')[0]!).error, /required option '--account <id>'/);
  });

  it('a missing --jwt-file, not-found objects and a bad policy file name the fix, without a stack', async () => {
    const dir = testTempDir('access-ca-errs-');
    const cli = (...a: string[]) => runCliInProcess(['--data-dir', join(dir, 'data'), ...a]);
    const jwt = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'http://127.0.0.1:9', '--dir', join(dir, 'gen'), '--jwt-file', join(dir, 'missing.jwt')]);
    assert.equal(jwt.code, 2);
    assert.match(jwt.stderr, /--jwt-file .*missing\.jwt: no such file; .*ACCESS_CA_JWT/);
    assert.doesNotMatch(jwt.stderr, STACK);
    const account = JSON.parse((await cli('account', 'create', '--name', 'x', '--json')).stdout).id;
    const app = (await cli('--quiet', 'app', 'create', '--account', account, '--name', 'b', '--domain', 'b.example.com')).stdout.trim();
    const idp = await cli('idp', 'remove', '0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f', '--account', account);
    assert.equal(idp.code, 2);
    assert.match(idp.stderr, new RegExp(`no identity provider .* in account ${account}: list them with access-ca idp list --account ${account}`));
    const noApp = await cli('sshd-config', '--account', account, '--app', '0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f', '--ca-file', join(dir, 'ca.pub'), '--krl-file', join(dir, 'ca.krl'));
    assert.match(noApp.stderr, /no application .*: list them with access-ca app list --account/);
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ princiapls: { allow: ['x'] }, ttl: '5 minutes' }));
    const bad = await cli('app', 'policy', '--account', account, '--app', app, '--set', join(dir, 'p.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown field `princiapls` at \/princiapls/);
    assert.match(bad.stderr, /must be a duration like 3m or 1h30m at \/ttl/);
    writeFileSync(join(dir, 'raise.json'), JSON.stringify({ ttl: '2h' }));
    const raise = await cli('app', 'policy', '--account', account, '--app', app, '--set', join(dir, 'raise.json'));
    assert.equal(raise.code, 2);
    assert.match(raise.stderr, /ttl 2h is over max_ttl.*set "max_ttl" too/);
  });
});
