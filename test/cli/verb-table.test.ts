import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createProgram, runCli } from '../../src/cli/program.ts';
import { safeTempDir, testTempDir } from '../helpers/temp-dir.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

// Issue 12's acceptance table: every verb's result is on stdout and parses under --json, stderr holds only
// diagnostics (never JSON, never a stack), exit codes are those `--help` documents (0 done, 1 refused by a
// server or the network, 2 bad input), and --quiet prints the bare value and a newline.

const STACK = /\n\s+at /;
const tmp = testTempDir('access-ca-verbs-');
const dir = join(tmp, 'data');
const ids: Record<string, string> = {};

async function cli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => ({ write: (s: string) => { add(s); return true; } });
  const code = await runCli(['--data-dir', dir, ...argv], env, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) }, tmp);
  return { code, stdout, stderr };
}

/** stdout is exactly one JSON value on one line; stderr holds neither JSON nor a stack trace. */
function oneJson(argv: string[], r: { stdout: string; stderr: string }): Record<string, unknown> {
  const label = argv.join(' ');
  assert.equal(r.stdout.endsWith('\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, true, `${label}: one line on stdout, got ${JSON.stringify(r.stdout)}`);
  assert.doesNotMatch(r.stderr, STACK, `${label}: a stack trace on stderr`);
  assert.doesNotMatch(r.stderr, /^\s*[{[]/m, `${label}: JSON on stderr`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** One row: a verb's path, its argv (ids from earlier rows), the exit code and what to keep from the result. */
interface Row { verb: string; argv: () => string[]; code?: 0 | 1 | 2; error?: RegExp; env?: () => Record<string, string>; keep?: (v: Record<string, unknown>) => void }
const acc = () => ['--account', ids['account']!];
const forApp = () => [...acc(), '--app', ids['app']!];
/** A new app for the tests after the table (whose last rows delete the app). */
async function freshApp(name: string): Promise<void> {
  const argv = ['app', 'create', ...acc(), '--name', name, '--domain', `${name}.example.com`, '--json'];
  ids['app'] = oneJson(argv, await cli(argv))['id'] as string;
}

const rows: Row[] = [
  { verb: 'init', argv: () => ['init'] },
  { verb: 'migrate', argv: () => ['migrate'] },
  { verb: 'account create', argv: () => ['account', 'create', '--name', 'Platform'], keep: (v) => (ids['account'] = v['id'] as string) },
  { verb: 'account list', argv: () => ['account', 'list'] },
  { verb: 'zone create', argv: () => ['zone', 'create', ...acc(), '--name', 'example.com'], keep: (v) => (ids['zone'] = v['id'] as string) },
  { verb: 'zone list', argv: () => ['zone', 'list', ...acc()] },
  { verb: 'zone create', argv: () => ['zone', 'create', ...acc(), '--name', 'spare.example.org'], keep: (v) => (ids['spareZone'] = v['id'] as string) },
  { verb: 'zone delete', argv: () => ['zone', 'delete', ...acc(), '--zone', ids['spareZone']!] },
  { verb: 'token create', argv: () => ['token', 'create', ...acc(), '--permission', 'Access: Apps and Policies Read', '--name', 'ci'], keep: (v) => (ids['token'] = v['id'] as string) },
  { verb: 'token list', argv: () => ['token', 'list'] },
  { verb: 'token revoke', argv: () => ['token', 'revoke', ids['token']!] },
  { verb: 'user create', argv: () => ['user', 'create', ...acc(), '--email', 'jdoe@example.com'] },
  { verb: 'user list', argv: () => ['user', 'list'] },
  { verb: 'user rotate-key', argv: () => ['user', 'rotate-key', '--email', 'jdoe@example.com'] },
  { verb: 'user delete', argv: () => ['user', 'delete', '--email', 'jdoe@example.com'] },
  { verb: 'app create', argv: () => ['app', 'create', ...acc(), '--name', 'bastion', '--domain', 'ssh.example.com'], keep: (v) => (ids['app'] = v['id'] as string) },
  { verb: 'app list', argv: () => ['app', 'list', ...acc()] },
  { verb: 'app get', argv: () => ['app', 'get', ...forApp()] },
  { verb: 'app update', argv: () => ['app', 'update', ...forApp(), '--name', 'bastion-2'] },
  { verb: 'app policy', argv: () => ['app', 'policy', ...forApp()] },
  { verb: 'app check', argv: () => ['app', 'check', ...forApp(), '--email', 'jdoe@example.com'] },
  { verb: 'idp create', argv: () => ['idp', 'create', ...acc(), '--issuer', 'https://idp.example.com', '--jwks-file', join(tmp, 'jwks.json')], keep: (v) => (ids['idp'] = v['id'] as string) },
  { verb: 'idp list', argv: () => ['idp', 'list', ...acc()] },
  { verb: 'idp get', argv: () => ['idp', 'get', ids['idp']!, ...acc()] },
  { verb: 'idp delete', argv: () => ['idp', 'delete', ids['idp']!, ...acc()] },
  { verb: 'ca create', argv: () => ['ca', 'create', ...forApp()] },
  { verb: 'ca list', argv: () => ['ca', 'list', ...acc()] },
  { verb: 'ca get', argv: () => ['ca', 'get', ...forApp()] },
  { verb: 'ca rotate', argv: () => ['ca', 'rotate', ...forApp()] },
  { verb: 'ca trusted-keys', argv: () => ['ca', 'trusted-keys', ...forApp()] },
  { verb: 'ca activate', argv: () => ['ca', 'activate', ...forApp()] },
  { verb: 'ca retire', argv: () => ['ca', 'retire', ...forApp()] },
  // No PKCS#11 token here (test/signers/pkcs11-cli.test.ts moves a key into SoftHSM2): the verb's documented refusal, exit 2.
  { verb: 'ca migrate-key', argv: () => ['ca', 'migrate-key', ...forApp(), '--to', 'pkcs11'], code: 2, error: /no PKCS#11 token is configured here \(--pkcs11-module/ },
  { verb: 'sshd-config', argv: () => ['sshd-config', ...forApp(), '--ca-file', join(tmp, 'ca.pub'), '--krl-file', join(tmp, 'ca.krl'), '--no-sshd-check'] },
  { verb: 'audit list', argv: () => ['audit', 'list', ...acc(), '--limit', '5'] },
  { verb: 'cert list', argv: () => ['cert', 'list', ...forApp()] },
  { verb: 'cert revoke', argv: () => ['cert', 'revoke', ...forApp(), '--principal', 'root', '--reason', 'left the team'] },
  { verb: 'cert revoke-tokens', argv: () => ['cert', 'revoke-tokens', ...forApp()] },
  { verb: 'cert revocations', argv: () => ['cert', 'revocations', ...forApp()] },
  // An unknown revocation id is the verb's documented refusal, exit 2.
  { verb: 'cert lift', argv: () => ['cert', 'lift', '00000000-0000-4000-8000-000000000000', ...forApp()], code: 2, error: /no revocation .*`access-ca cert revocations/ },
  { verb: 'revoke-user', argv: () => ['revoke-user', 'gone@example.com', ...acc(), '--reason', 'left the company'] },
  // No certificate can be issued offline (that needs serve): an unknown id is the verb's documented refusal, exit 2.
  { verb: 'cert show', argv: () => ['cert', 'show', 'f'.repeat(32), ...forApp()], code: 2, error: /no certificate f{32} of application .*access-ca cert list/ },
  { verb: 'host join-token', argv: () => ['host', 'join-token', ...acc(), '--hostname', 'web1.example.com'], keep: (v) => (ids['target'] = v['target_id'] as string) },
  { verb: 'host join-tokens', argv: () => ['host', 'join-tokens', ...acc(), '--target', ids['target']!], keep: (v) => (ids['joinToken'] = (v['join_tokens'] as { id: string }[])[0]!.id) },
  { verb: 'host join-token-delete', argv: () => ['host', 'join-token-delete', ...acc(), '--target', ids['target']!, '--id', ids['joinToken']!] },
  { verb: 'host list', argv: () => ['host', 'list', ...acc()] },
  // No host can enroll offline (that needs serve): an unknown host is the verb's documented refusal, exit 2.
  { verb: 'host remove', argv: () => ['host', 'remove', ...acc(), '--host', 'f'.repeat(32)], code: 2, error: /no enrolled host f{32} in account .*access-ca host list/ },
  { verb: 'host ca show', argv: () => ['host', 'ca', 'show', ...acc()] },
  { verb: 'host ca rotate', argv: () => ['host', 'ca', 'rotate', ...acc()] },
  { verb: 'host ca activate', argv: () => ['host', 'ca', 'activate', ...acc()] },
  { verb: 'host ca retire', argv: () => ['host', 'ca', 'retire', ...acc()] },
  { verb: 'host revoke-key', argv: () => ['host', 'revoke-key', ...acc(), '--public-key-file', join(tmp, 'host_key.pub'), '--reason', 'reinstalled'] },
  { verb: 'ssh-config', argv: () => ['ssh-config', '--hostname', 'h.example.com', '--server', 'https://ca.example.com', '--command', 'access-ca', '--dir', join(tmp, 'keys')] },
  { verb: 'export', argv: () => ['export', '--out', join(tmp, 'export.json')] },
  // Into a second, empty store sealed under the same master key.
  { verb: 'import', argv: () => ['--data-dir', join(tmp, 'copy'), 'import', '--in', join(tmp, 'export.json')], env: () => ({ ACCESS_CA_MASTER_KEY_FILE: join(dir, 'master.key') }) },
  { verb: 'ca delete', argv: () => ['ca', 'delete', ...forApp()] },
  { verb: 'app delete', argv: () => ['app', 'delete', ...forApp()] },
];

// Verbs with no row, and why. Aliases run the same action as the verb they stand for.
const EXCLUDED: Record<string, string> = {
  serve: 'runs a server until stopped (test/helpers/server-process.ts covers it)',
  'ssh-gen': 'needs a running server and an identity token (test/cli/ssh-cli.test.ts)',
  login: 'needs an identity provider and a browser (test/cli/ssh-cli.test.ts)',
  'sshd-sync': 'a long-running host agent against a server (src/cli/sshd-sync.test.ts, src/host-agent/host-sync.test.ts)',
  'host enroll': 'a host enrolling with a running server, as root (test/e2e/fleet-sshd.test.ts)',
  'known-hosts': 'reads a running server\'s public host CA route (test/e2e/fleet-sshd.test.ts)',
  'user remove': 'alias of user delete',
  'idp add': 'alias of idp create',
  'idp remove': 'alias of idp delete',
};

/** Every leaf verb of the real command tree, as "group verb" (aliases registered as commands included). */
function leafVerbs(command: Command, path: string[] = []): string[] {
  return command.commands.flatMap((c) => (c.commands.length > 0 ? leafVerbs(c, [...path, c.name()]) : [[...path, c.name()].join(' ')]));
}

describe('CLI verb table (issue 12)', () => {
  it('has a row or a stated exclusion for every verb the program registers', async () => {
    const sink = { write: () => true };
    const verbs = leafVerbs((await createProgram([], {}, { stdout: sink, stderr: sink })).program);
    const covered = new Set([...rows.map((r) => r.verb), ...Object.keys(EXCLUDED)]);
    assert.deepEqual(verbs.filter((v) => !covered.has(v)), [], 'verbs with no row in the table and no exclusion');
    assert.deepEqual([...covered].filter((v) => !verbs.includes(v)), [], 'rows or exclusions for verbs that no longer exist');
  });

  it('every verb: --json result alone on stdout, exit code as documented, nothing but diagnostics on stderr', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(tmp, 'jwks.json'), JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    writeFileSync(join(tmp, 'host_key.pub'), `${authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey))}\n`);
    for (const row of rows) {
      const argv = [...row.argv(), '--json'];
      const r = await cli(argv, row.env?.());
      assert.equal(r.code, row.code ?? 0, `${argv.join(' ')}: exit ${r.code}; stderr ${r.stderr}`);
      const value = oneJson(argv, r);
      if ((row.code ?? 0) === 0) {
        assert.equal('error' in value, false, `${argv.join(' ')}: ${r.stdout}`);
        row.keep?.(value);
      } else assert.match(String(value['error']), row.error!);
    }
  });

  it('bad input in each verb family: exit 2, {"error"} naming the flag on stdout, no stack', async () => {
    await freshApp('bad');
    const cases: [string[], RegExp][] = [
      [['account', 'create'], /--name/],
      [['zone', 'create', ...acc(), '--name', 'not a domain'], /DNS name/],
      [['token', 'create', ...acc(), '--permission', 'Root'], /unknown permission group "Root"/],
      [['token', 'revoke', 'nope'], /no token nope/],
      [['user', 'create', ...acc(), '--email', 'nope'], /--email/],
      [['app', 'create', ...acc(), '--name', 'x', '--domain', 'bad domain'], /--domain/],
      [['app', 'get', ...acc()], /--app/],
      [['app', 'check', ...forApp()], /--email/],
      [['app', 'policy', ...forApp(), '--set', join(tmp, 'missing.json')], /--set .*no such file/],
      [['idp', 'create', ...acc()], /--issuer/],
      [['idp', 'get', 'f'.repeat(32), ...acc()], /no identity provider .*idp list --account/],
      [['ca', 'get', ...acc(), '--app', 'f'.repeat(32)], /application|app/i],
      [['ca', 'migrate-key', ...forApp(), '--to', 'vault'], /--to must be one of sealed, pkcs11 .*; got "vault"/],
      [['audit', 'list', ...acc(), '--limit', '0'], /--limit/],
      [['cert', 'list', ...forApp(), '--status', 'bogus'], /--status/],
      [['sshd-config', ...acc()], /--app/],
      [['ssh-config', '--hostname', 'bad host!', '--server', 'https://ca.example.com'], /--hostname/],
      [['export'], /--out/],
      [['import', '--in', join(tmp, 'missing.json')], /--in /],
      [['account', 'nope'], /unknown command 'nope'/],
    ];
    for (const [args, message] of cases) {
      const argv = [...args, '--json'];
      const r = await cli(argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: exit ${r.code}; ${r.stderr}`);
      assert.match(String(oneJson(argv, r)['error']), message, argv.join(' '));
      assert.doesNotMatch(r.stderr, STACK, argv.join(' '));
    }
  });

  // Found by this table (issue 12: "API codes are never the whole message"): these printed only the code.
  it('a not-found refusal names what was not found and what to run', async () => {
    const unknown = 'f'.repeat(32);
    for (const args of [['cert', 'show', unknown, ...forApp()], ['cert', 'revoke', unknown, ...forApp(), '--reason', 'x'],
      ['cert', 'list', ...acc(), '--app', unknown], ['app', 'check', ...acc(), '--app', unknown, '--email', 'a@example.com']]) {
      const r = await cli([...args, '--json']);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(String(oneJson(args, r)['error']), new RegExp(`no (certificate|application) ${unknown}.*access-ca`), args.join(' '));
    }
  });

  it('a refusal by the network is exit 1, with {"error"} on stdout and no stack', async () => {
    // The agent refuses secrets under the sticky, world-writable /tmp: the host's files live under /run.
    const hostDir = safeTempDir('access-ca-verbs-host-') ?? tmp;
    const tokenFile = join(hostDir, 'read.token');
    writeFileSync(tokenFile, 'x'.repeat(40), { mode: 0o600 });
    // Port 9 (discard) on loopback: nothing listens, so the fetch is refused.
    const argv = ['sshd-config', ...forApp(), '--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--dir', join(hostDir, 'host'), '--json'];
    const r = await cli(argv);
    assert.equal(r.code, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.ok(String(oneJson(argv, r)['error']).length > 0);
  });

  it('--quiet prints only the bare value and a newline', async () => {
    await freshApp('q');
    await cli(['ca', 'create', ...forApp()]);
    const quiet: [string[], (v: Record<string, unknown>) => string][] = [
      [['account', 'list'], (v) => (v['accounts'] as { id: string }[]).map((a) => a.id).join('\n')],
      [['app', 'get', ...forApp()], (v) => v['id'] as string],
      [['ca', 'get', ...forApp()], (v) => v['public_key'] as string],
      [['ca', 'trusted-keys', ...forApp()], (v) => (v['trusted_user_ca_keys'] as string).replace(/\n$/, '')],
      [['sshd-config', ...forApp(), '--ca-file', join(tmp, 'ca.pub'), '--krl-file', join(tmp, 'ca.krl'), '--no-sshd-check'], (v) => (v['sshd_config'] as string[]).join('\n')],
      [['ssh-config', '--hostname', 'h.example.com', '--server', 'https://ca.example.com', '--command', 'access-ca'], (v) => v['ssh_config'] as string],
    ];
    for (const [args, bare] of quiet) {
      const expected = `${bare(oneJson(args, await cli([...args, '--json'])))}\n`;
      const r = await cli(['--quiet', ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, expected, `${args.join(' ')} --quiet`);
    }
    // Values shown once: the created object's secret, alone on stdout.
    const token = await cli(['--quiet', 'token', 'create', ...acc(), '--permission', 'Access: Apps and Policies Read']);
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stdout, /^[A-Za-z0-9_-]{20,}\n$/);
    const user = await cli(['--quiet', 'user', 'create', ...acc(), '--email', 'q@example.com']);
    assert.match(user.stdout, /^[0-9a-f]{37}\n$/);
    const account = await cli(['--quiet', 'account', 'create', '--name', 'Quiet']);
    assert.match(account.stdout, /^[0-9a-f]{32}\n$/);
  });
});
