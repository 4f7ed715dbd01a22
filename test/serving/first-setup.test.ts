import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { cliForStore, tokenCreateCommand } from '../../src/cli/first-start.ts';
import { cleanEnv, CLI_COMMAND, runCliProcess, startServer } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

// Issue 25's first-setup traps on a real `serve`: the first token holds every Access permission group and
// the banner says what it may do; every start names the console; a restart names the account and the
// exact `token create` that makes an admin token, never a token.

const STACK = /\n\s+at /;

/** The tokens of an account, read from the store with the CLI (`token list --json`). */
async function tokensOf(dataDir: string, accountId: string): Promise<{ name: string; status: string; permissions: string[] }[]> {
  const r = await runCliProcess(['--data-dir', dataDir, 'token', 'list', '--account', accountId, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { tokens: { name: string; status: string; permissions: string[] }[] }).tokens;
}

test('first start: the admin token holds every Access permission group, the banner says so and names the console; a restart names the account and the exact token create', async (t) => {
  const dataDir = testTempDir('access-ca-first-');
  const first = await startServer({ dataDir });
  t.after(() => first.stop());
  const banner = first.stderr();
  assert.match(first.accountId, /^[0-9a-f]{32}$/);
  assert.match(banner, /holds every Access permission group/);
  for (const group of PERMISSION_GROUPS) assert.ok(banner.includes(group), `the banner names ${group}`);
  assert.ok(banner.includes(`The web console: ${first.origin}/console/`), banner);
  assert.match(banner, new RegExp(`listening on ${first.origin} \\(API base ${first.base}; console ${first.origin}/console/;`));

  // A group beyond Apps and Policies: identity providers (the console's page that said "Unauthorized").
  const auth = { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' };
  const idps = await fetch(`${first.base}/accounts/${first.accountId}/access/identity_providers`, { headers: auth });
  assert.equal(idps.status, 200, await idps.clone().text());
  const audit = await fetch(`${first.base}/accounts/${first.accountId}/access/audit`, { headers: auth });
  assert.equal(audit.status, 200);
  assert.equal(await first.stop(), 0);

  const [bootstrap, ...others] = await tokensOf(dataDir, first.accountId);
  assert.equal(others.length, 0);
  assert.equal(bootstrap!.status, 'active');
  assert.deepEqual([...bootstrap!.permissions].sort(), [...PERMISSION_GROUPS].sort());

  const second = await startServer({ dataDir });
  t.after(() => second.stop());
  const again = second.stderr();
  assert.equal(second.token, '', 'a restart shows no token');
  assert.doesNotMatch(again, /api_token:/);
  assert.ok(!again.includes(first.token), 'the first token is never printed again');
  assert.ok(again.includes(`account "default": ${first.accountId}`), again);
  const command = tokenCreateCommand(cliForStore({ dataDir, databaseUrl: undefined, masterKeyFile: undefined }), first.accountId);
  assert.ok(again.includes(command), `the exact token create line, got:\n${again}`);
  assert.match(again, new RegExp(`console ${second.origin}/console/`));
  assert.doesNotMatch(again, STACK);

  // The printed line works as printed, from another directory, and makes a token like the first one.
  const accessCa = CLI_COMMAND;
  const made = spawnSync('bash', ['-c', `access-ca() { ${accessCa} "$@"; }; ${command} --json`], { cwd: testTempDir('access-ca-elsewhere-'), env: cleanEnv(), encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const token = JSON.parse(made.stdout) as { id: string; value: string };
  const listed = (await tokensOf(dataDir, first.accountId)).find((k) => k.name === 'admin');
  assert.deepEqual([...listed!.permissions].sort(), [...PERMISSION_GROUPS].sort());
  const verify = await fetch(`${second.base}/accounts/${first.accountId}/tokens/verify`, { headers: { authorization: `Bearer ${token.value}` } });
  assert.equal(verify.status, 200);
});

test('a start names the accounts that trust the trial identity provider; --no-trial-idp says it refuses them, and ACCESS_CA_TRIAL_IDP takes on or off only', async (t) => {
  const dataDir = testTempDir('access-ca-trial-start-');
  const first = await startServer({ dataDir });
  t.after(() => first.stop());
  assert.doesNotMatch(first.stderr(), /trial identity provider/, 'no notice while no account has one');
  const made = await runCliProcess(['--data-dir', dataDir, 'idp', 'create', '--account', first.accountId, '--trial']);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /for evaluation only/);
  assert.equal(await first.stop(), 0);
  const on = await startServer({ dataDir });
  t.after(() => on.stop());
  assert.match(on.stderr(), /1 account trusts the trial identity provider, whose tokens anyone who can read this data directory can make for any email: for evaluation only; serve --no-trial-idp refuses them/);
  assert.equal(await on.stop(), 0);
  const flag = await startServer({ dataDir, args: ['--no-trial-idp'] });
  t.after(() => flag.stop());
  assert.match(flag.stderr(), /the trial identity provider's tokens are refused \(--no-trial-idp\), in the 1 account that has one/);
  assert.equal(await flag.stop(), 0);
  const bad = await runCliProcess(['--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0'], { ACCESS_CA_TRIAL_IDP: 'maybe' });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /ACCESS_CA_TRIAL_IDP/);
});

/** A port some other program holds, for as long as the test runs. */
async function busyPort(t: { after(fn: () => unknown): void }): Promise<number> {
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => holder.close(() => r())));
  return (holder.address() as { port: number }).port;
}

test('serve on a busy port: exit 2, one sentence naming the port, and the new data directory it made is gone', async (t) => {
  const port = await busyPort(t);
  const dataDir = join(testTempDir('access-ca-busy-'), 'fresh');
  const r = await runCliProcess(['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^access-ca: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use[^\\n]*\\n$`));
  assert.doesNotMatch(r.stderr, STACK);
  assert.equal(existsSync(dataDir), false, `left behind: ${existsSync(dataDir) ? readdirSync(dataDir).join(', ') : ''}`);
});

test('serve on a busy port in an empty directory that existed: the directory stays, empty', async (t) => {
  const port = await busyPort(t);
  const dataDir = testTempDir('access-ca-busy-empty-');
  const r = await runCliProcess(['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(readdirSync(dataDir), []);
});

test('serve on a busy port with an existing store: nothing of it is removed or changed', async (t) => {
  const port = await busyPort(t);
  const dataDir = testTempDir('access-ca-busy-kept-');
  const init = await runCliProcess(['--data-dir', dataDir, 'init']);
  assert.equal(init.code, 0, init.stderr);
  const before = readdirSync(dataDir).sort();
  const key = readFileSync(join(dataDir, 'master.key'));
  assert.ok(before.includes('access-ca.db') && before.includes('master.key'), before.join(', '));
  const r = await runCliProcess(['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`]);
  assert.equal(r.code, 2, r.stderr);
  for (const file of before) assert.ok(existsSync(join(dataDir, file)), `${file} is kept`);
  assert.deepEqual(readFileSync(join(dataDir, 'master.key')), key);
});
