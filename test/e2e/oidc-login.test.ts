import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, CLI_ARGS, ROOT, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { startTestOp, type TestOp } from '../helpers/test-op.ts';
import { actAsPerson } from '../helpers/oidc-person.ts';
import { addTestUser, sshdUnavailable, sshWith, startSshd, type TestSshd } from '../helpers/sshd.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const skip = sshdUnavailable();
const HOST = 'bastion.test';

/** `access-ca <args>` as a child process whose stderr the test reads while it runs (the person's terminal). */
function runLive(args: string[]) {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.once('exit', (code) => r({ code, stdout, stderr })));
  const waitFor = async (re: RegExp): Promise<RegExpMatchArray> => {
    for (let i = 0; i < 400; i++) {
      const m = re.exec(stderr);
      if (m) return m;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${re} in the CLI's output:\n${stderr}`);
  };
  return { done, waitFor, kill: () => child.kill() };
}

describe('end to end: people sign in with a real OpenID Provider and ssh with the certificate', { skip: skip ?? false }, () => {
  let op: TestOp;
  let server: ServerProcess;
  let sshd: TestSshd;
  let alice: ReturnType<typeof addTestUser>;
  const work = testTempDir('access-ca-oidc-');
  const caFile = join(work, 'ca.pub');

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.base}/accounts/${server.accountId}${path}`, {
      method, headers: { authorization: `Bearer ${server.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as any;
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.result;
  };
  const sshGenArgs = (dir: string, ...extra: string[]) => ['ssh-gen', '--hostname', HOST, '--server', server.origin, '--dir', dir, '--json', ...extra];
  const login = (dir: string) => sshWith({ port: sshd.port, user: alice.name, key: join(dir, `${HOST}-cf_key`), cert: join(dir, `${HOST}-cf_key-cert.pub`), command: 'echo "hello $USER"' });
  const isCallback = (u: URL) => u.hostname === '127.0.0.1' && u.pathname === '/callback';

  /** ssh-gen with a browser sign-in that the test completes as the person. */
  async function browserSignIn(dir: string) {
    const cli = runLive(sshGenArgs(dir, '--no-browser'));
    const [, url] = await cli.waitFor(/Open this URL to sign in:\n(\S+)/);
    await actAsPerson(url!, { login: alice.name, stopAt: isCallback });
    return cli.done;
  }

  before(async () => {
    alice = addTestUser('aco');
    op = await startTestOp();
    server = await startServer();
    const idpToken = await (async () => {
      const { runCliInProcess } = await import('../helpers/server-process.ts');
      const r = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, '--permission', 'Access: Organizations, Identity Providers, and Groups Write', '--json']);
      return JSON.parse(r.stdout).value as string;
    })();
    const idp = await fetch(`${server.base}/accounts/${server.accountId}/access/identity_providers`, {
      method: 'POST', headers: { authorization: `Bearer ${idpToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'op', config: { issuer: op.issuer, jwks_url: op.jwksUrl, client_id: op.clientId, scopes: ['openid', 'email', 'profile', 'offline_access'] } }),
    });
    assert.equal(idp.status, 201, await idp.text());
    const app = await api('POST', '/access/apps', { name: 'bastion', domain: HOST });
    const ca = await api('POST', `/access/apps/${app.id}/ca`);
    await api('POST', `/access/apps/${app.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] });
    writeFileSync(caFile, `${ca.public_key}\n`);
    sshd = await startSshd(caFile);
  });

  after(async () => {
    await sshd?.stop();
    await server?.stop();
    await op?.close();
    alice?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('the server publishes what a client needs to sign in for a host, and nothing secret', async () => {
    const res = await fetch(`${server.origin}/cdn-cgi/access/app?hostname=${HOST}`);
    assert.equal(res.status, 200);
    const info = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(info).sort(), ['aud', 'client_id', 'issuer', 'scopes']);
    assert.equal(info['issuer'], op.issuer);
    assert.equal(info['client_id'], op.clientId);
    const none = await fetch(`${server.origin}/cdn-cgi/access/app?hostname=nothing.test`);
    assert.equal(none.status, 404);
  });

  it('authorization code + PKCE with a loopback redirect: sign in, certificate, ssh as the email\'s local part', async () => {
    const dir = join(work, 'browser');
    const r = await browserSignIn(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).reused, false);
    const cached = JSON.parse(readFileSync(join(dir, `${HOST}-token.json`), 'utf8'));
    assert.ok(cached.refreshToken, 'a refresh token is kept');
    const ssh = login(dir);
    assert.equal(ssh.status, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), `hello ${alice.name}`);
  });

  it('the device authorization grant: a code to enter elsewhere, then the same certificate', async () => {
    const dir = join(work, 'device');
    const cli = runLive(sshGenArgs(dir, '--device'));
    const [, url] = await cli.waitFor(/To sign in, open (\S+)/);
    const finished = await actAsPerson(url!, { login: alice.name });
    assert.match(finished.html, /Sign-in Success|success/i);
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(login(dir).status, 0);
  });

  it('an expired ID token with a valid refresh token gives a new certificate with no sign-in', async () => {
    const dir = join(work, 'browser');
    const file = join(dir, `${HOST}-token.json`);
    const before = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...before, expiresAt: Math.floor(Date.now() / 1000) - 120 }));
    rmSync(join(dir, `${HOST}-cf_key-cert.pub`));
    const { runCliProcess } = await import('../helpers/server-process.ts');
    const r = await runCliProcess(sshGenArgs(dir, '--no-sign-in'));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /sign in/i);
    const after = JSON.parse(readFileSync(file, 'utf8'));
    assert.notEqual(after.idToken, before.idToken);
    assert.ok(after.expiresAt > Math.floor(Date.now() / 1000));
    assert.equal(login(dir).status, 0);
  });

  it('a revoked refresh token asks for a sign-in', async () => {
    const dir = join(work, 'browser');
    const file = join(dir, `${HOST}-token.json`);
    const cached = JSON.parse(readFileSync(file, 'utf8'));
    await op.revoke(cached.refreshToken);
    writeFileSync(file, JSON.stringify({ ...cached, expiresAt: Math.floor(Date.now() / 1000) - 120 }));
    rmSync(join(dir, `${HOST}-cf_key-cert.pub`));
    const { runCliProcess } = await import('../helpers/server-process.ts');
    const r = await runCliProcess(sshGenArgs(dir, '--no-sign-in'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`sign-in needed for ${HOST.replace('.', '\\.')}: run access-ca login`));
    assert.equal(existsSync(file), false, 'the dead sign-in is forgotten');
  });

  it('a response for another sign-in (state mismatch) and a cancelled sign-in are refused clearly', async () => {
    const cli = runLive(sshGenArgs(join(work, 'state'), '--no-browser'));
    const [, url] = await cli.waitFor(/Open this URL to sign in:\n(\S+)/);
    const redirect = new URL(new URL(url!).searchParams.get('redirect_uri')!);
    await fetch(`${redirect.origin}/callback?${new URLSearchParams({ code: 'forged', state: 'not-the-one', iss: op.issuer })}`);
    const forged = await cli.done;
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, /state mismatch/);

    const cancelled = runLive(sshGenArgs(join(work, 'cancel'), '--no-browser'));
    const [, url2] = await cancelled.waitFor(/Open this URL to sign in:\n(\S+)/);
    await actAsPerson(url2!, { login: alice.name, cancel: true, stopAt: isCallback });
    const r = await cancelled.done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cancelled or consent was denied/);
  });
});
