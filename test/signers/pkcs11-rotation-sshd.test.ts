import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { addTestUser, sshdUnavailable, sshWith, startSshd, type TestSshd } from '../helpers/sshd.ts';
import { runCliInProcess, startServer } from '../helpers/server-process.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { safeTempDir, testTempDir } from '../helpers/temp-dir.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

// The host agent refuses directories under the sticky, world-writable /tmp: its files live under /run.
const skip = softhsmUnavailable() ?? sshdUnavailable();
const work = skip ? null : safeTempDir('access-ca-p11-sync-');

test('a sealed CA moves into a SoftHSM2 token by a rotation on a real serve, sshd-sync keeping a real sshd\'s trust: no valid certificate is refused at any step', {
  skip: skip ?? (work === null ? 'no directory with a safe chain of ancestors to run the host agent in' : false),
}, async (t) => {
  const hsm = createSoftHsmToken();
  const idp = await makeTestIdp();
  const user = addTestUser('p11s');
  const server = await startServer({ args: ['--pkcs11-module', hsm.module, '--pkcs11-token-label', hsm.label, '--pkcs11-pin-file', hsm.pinFile], env: hsm.env });
  let sshd: TestSshd | undefined;
  t.after(async () => {
    await sshd?.stop();
    await server.stop();
    user.remove();
    await idp.close();
    hsm.remove();
    rmSync(work!, { recursive: true, force: true });
  });

  // One token for the set-up and for the host agent, in a file it accepts (mode 0600, a safe directory).
  const made = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, '--json',
    ...['Access: Organizations, Identity Providers, and Groups Write', 'Access: Apps and Policies Write', 'Access: Apps and Policies Read'].flatMap((p) => ['--permission', p])]);
  assert.equal(made.code, 0, made.stderr);
  const token = JSON.parse(made.stdout).value as string;
  const tokenFile = join(work!, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const call = async (method: string, path: string, body?: unknown) => {
    const cdn = path.startsWith('/cdn-cgi');
    const res = await fetch(cdn ? `${server.origin}${path}` : `${server.base}/accounts/${server.accountId}${path}`, {
      method, headers: { ...(cdn ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ok = async (method: string, path: string, body?: unknown, status = 200) => {
    const r = await call(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    return r.body.result;
  };

  // An application with a sealed CA (the server's default), a provider, and a policy that lets everyone in.
  await ok('POST', '/access/identity_providers', { name: 'idp', config: { issuer: idp.issuer, jwks: idp.jwks } }, 201);
  const app = await ok('POST', '/access/apps', { name: 'moving', domain: 'moving.example.com' }, 201);
  const ca = await ok('POST', `/access/apps/${app.id}/ca`);
  await ok('POST', `/access/apps/${app.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] }, 201);
  const sealedKey = ca.public_key.split(' ')[1] as string;

  const dir = join(work!, 'etc-ssh-access-ca');
  /** `access-ca sshd-sync --once`, as a host runs it, in this process for time. */
  const sync = async () => {
    const r = await runCliInProcess(['sshd-sync', '--server', server.origin, '--account', server.accountId, '--app', app.id, '--token-file', tokenFile, '--dir', dir, '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { keys: number; changed: { trusted_user_ca_keys: boolean }; sshd_config: string[] };
  };
  /** The keys sshd trusts now, by their base64 blob. */
  const trusted = () => readFileSync(join(dir, 'trusted_user_ca_keys'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(' ')[1]);

  const keys = testTempDir('access-ca-p11-sync-keys-');
  const personKey = join(keys, 'id_ed25519');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'person', '-f', personKey]).status, 0);
  const certs: Record<string, string> = {};
  /** A certificate through cloudflared's cert_sign, for the test user; returns the key that signed it. */
  const signNow = async (label: string) => {
    const r = await call('POST', '/cdn-cgi/access/cert_sign', { public_key: readFileSync(`${personKey}.pub`, 'utf8').trim(), jwt: await idp.sign({ aud: [app.aud], email: `${user.name}@example.com` }) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    certs[label] = join(keys, `${label}-cert.pub`);
    writeFileSync(certs[label], `${r.body.certificate}\n`);
    return parseCertificate(Buffer.from(r.body.certificate.split(' ')[1], 'base64')).signatureKey.toString('base64');
  };
  const login = (label: string) => sshWith({ port: sshd!.port, user: user.name, key: personKey, cert: certs[label]!, command: 'echo "in as $USER"' });
  const allIn = (step: string, labels = Object.keys(certs)) => {
    for (const label of labels) {
      const r = login(label);
      assert.equal(r.status, 0, `${step}: the ${label} certificate should log in: ${r.stderr}`);
      assert.equal(r.stdout.trim(), `in as ${user.name}`);
    }
  };

  // Before: one sealed key, synced before sshd starts (it refuses every login while RevokedKeys is missing).
  const first = await sync();
  assert.equal(first.keys, 1);
  sshd = await startSshd(first.sshd_config);
  assert.equal(await signNow('sealed'), sealedKey);
  allIn('sealed key only');

  // Rotated: the next key is made in the token; the host trusts both; the sealed key still signs.
  const next = await ok('POST', `/access/apps/${app.id}/ca/rotate`, { key_storage: 'pkcs11' });
  assert.deepEqual([next.state, next.key_storage], ['next', 'pkcs11']);
  const tokenKey = next.public_key.split(' ')[1] as string;
  const rotated = await sync();
  assert.deepEqual([rotated.keys, rotated.changed.trusted_user_ca_keys], [2, true]);
  assert.deepEqual(trusted(), [sealedKey, tokenKey]);
  allIn('rotated and synced');

  // Activated: the token key signs; the sealed key stays trusted as the previous one.
  assert.equal((await ok('POST', `/access/apps/${app.id}/ca/rotate/activate`)).id, next.id);
  assert.equal((await sync()).keys, 2);
  assert.equal(await signNow('token'), tokenKey, 'signed in the token');
  allIn('activated and synced');

  // Retired: the sealed key's certificates end as any retired key's do; the token's log in.
  await ok('POST', `/access/apps/${app.id}/ca/rotate/retire`);
  const retired = await sync();
  assert.deepEqual([retired.keys, retired.changed.trusted_user_ca_keys], [1, true]);
  assert.deepEqual(trusted(), [tokenKey]);
  const refused = login('sealed');
  assert.equal(refused.status, 255, 'the retired sealed key\'s certificate is refused');
  assert.match(refused.stderr, /Permission denied/);
  allIn('retired and synced', ['token']);
  const listed = await ok('GET', `/access/apps/${app.id}/ca/trusted_keys`);
  assert.deepEqual(listed.keys.map((k: { id: string; state: string; key_storage: string }) => [k.id, k.state, k.key_storage]), [[next.id, 'active', 'pkcs11']]);
});
