import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, CLI_ARGS, ROOT, runCliInProcess, runCliProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { addTestUser, startSshd, sshdUnavailable, sshWith, type TestSshd } from '../helpers/sshd.ts';
import { safeTempDir } from '../helpers/temp-dir.ts';

// The host agent refuses directories under the sticky, world-writable /tmp: the work dir lives under /run.
const safeWork = safeTempDir('access-ca-sync-e2e-');
const skip = sshdUnavailable() ?? (safeWork === null ? 'no directory with a safe chain of ancestors to run the host agent in' : null);

/** A stock sshd whose trust and revocation come only from the files sshd-sync writes into `dir`. */
type HostSshd = TestSshd;

async function startHostSshd(syncDir: string, sshdConfigLines: string[]): Promise<HostSshd> {
  assert.deepEqual(sshdConfigLines, [`TrustedUserCAKeys ${syncDir}/trusted_user_ca_keys`, `RevokedKeys ${syncDir}/revoked_keys.krl`]);
  return startSshd(sshdConfigLines);
}

interface Cert {
  key: string;
  cert: string;
  id: string;
}

describe('end to end: sshd-sync keeps a stock sshd\'s TrustedUserCAKeys and RevokedKeys current', { skip: skip ?? false }, () => {
  let server: ServerProcess;
  let alice: ReturnType<typeof addTestUser>;
  let readTokenFile: string;
  let signToken: string;
  let writeOnlyTokenFile: string;
  const work = safeWork!;
  const running: { stop(): Promise<void> }[] = [];

  const api = async (method: string, path: string, body?: unknown, token = server.token) => {
    const res = await fetch(`${server.base}/accounts/${server.accountId}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as any;
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.result;
  };
  const tokenFile = async (name: string, permission: string) => {
    const made = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, '--permission', permission, '--json']);
    assert.equal(made.code, 0, made.stderr);
    const file = join(work, name);
    writeFileSync(file, `${JSON.parse(made.stdout).value}\n`, { mode: 0o600 });
    return file;
  };
  /** An app of its own with a CA whose certificates name alice, for up to an hour. */
  const newApp = async (name: string) => {
    const app = await api('POST', '/access/apps', { name, domain: `${name}-${randomBytes(4).toString('hex')}.test` });
    await api('POST', `/access/apps/${app.id}/ca`);
    await api('PUT', `/access/apps/${app.id}/ca/policy`, { principals: { allow: [alice.name] }, ttl: '30m', max_ttl: '1h' });
    return app.id as string;
  };
  const userKey = (dir: string, name: string) => {
    mkdirSync(dir, { recursive: true });
    const key = join(dir, name);
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]).status, 0);
    return key;
  };
  /** A certificate from the CA's signing key (POST …/ca/sign), saved beside its key. */
  const certify = async (appId: string, key: string, label: string): Promise<Cert> => {
    const signed = await api('POST', `/access/apps/${appId}/ca/sign`, { public_key: readFileSync(`${key}.pub`, 'utf8'), principals: [alice.name] }, signToken);
    const cert = `${key}-${label}-cert.pub`;
    writeFileSync(cert, `${signed.certificate}\n`);
    return { key, cert, id: signed.id };
  };
  const fingerprint = (file: string) => /SHA256:[A-Za-z0-9+/]+/.exec(spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' }).stdout)![0];
  const signingCa = (cert: Cert) => /Signing CA: \S+ (SHA256:[A-Za-z0-9+/]+)/.exec(spawnSync('ssh-keygen', ['-L', '-f', cert.cert], { encoding: 'utf8' }).stdout)![1];
  const syncArgs = (appId: string, dir: string, token = readTokenFile) =>
    ['--server', server.origin, '--account', server.accountId, '--app', appId, '--token-file', token, '--dir', dir];
  /** `access-ca sshd-sync --once` with no data dir (in this process, for time; the refusals below run as processes of their own). */
  const sync = async (appId: string, dir: string) => {
    const r = await runCliInProcess(['sshd-sync', ...syncArgs(appId, dir), '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { keys: number; krl_version: number; changed: { trusted_user_ca_keys: boolean; revoked_keys: boolean }; sshd_config: string[] };
  };
  const trustedKeyLines = (dir: string) => readFileSync(join(dir, 'trusted_user_ca_keys'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const host = async (appId: string, name: string) => {
    const dir = join(work, name, 'etc-ssh-access-ca');
    const first = await sync(appId, dir); // before sshd starts: it refuses every login while RevokedKeys is missing
    const sshd = await startHostSshd(dir, first.sshd_config);
    running.push(sshd);
    return { dir, sshd, first };
  };
  const login = (sshd: HostSshd, c: Cert) => sshWith({ port: sshd.port, user: alice.name, key: c.key, cert: c.cert, command: 'echo "in as $USER"' });
  const assertIn = (sshd: HostSshd, certs: Record<string, Cert>, step: string) => {
    for (const [name, c] of Object.entries(certs)) {
      const r = login(sshd, c);
      assert.equal(r.status, 0, `${step}: ${name} should log in: ${r.stderr}`);
      assert.equal(r.stdout.trim(), `in as ${alice.name}`);
    }
  };
  const assertOut = (sshd: HostSshd, certs: Record<string, Cert>, step: string) => {
    for (const [name, c] of Object.entries(certs)) {
      const r = login(sshd, c);
      assert.equal(r.status, 255, `${step}: ${name} should be refused`);
      assert.match(r.stderr, /Permission denied/, `${step}: ${name}`);
    }
  };

  before(async () => {
    alice = addTestUser('acs');
    server = await startServer();
    readTokenFile = await tokenFile('read-token', 'Access: Apps and Policies Read');
    writeOnlyTokenFile = await tokenFile('sign-token', 'Access: SSH Certificates Sign');
    signToken = readFileSync(writeOnlyTokenFile, 'utf8').trim();
  });

  after(async () => {
    for (const s of running) await s.stop();
    await server?.stop();
    alice?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('(a) two certificates of one CA: revoke one by id, sync, sshd refuses it (revoked by file) and lets the other in', async () => {
    const appId = await newApp('revoke-one');
    const keys = join(work, 'a', 'keys');
    const one = await certify(appId, userKey(keys, 'one'), 'c');
    const two = await certify(appId, userKey(keys, 'two'), 'c');
    const { dir, sshd, first } = await host(appId, 'a');
    assert.deepEqual([first.keys, first.changed], [1, { trusted_user_ca_keys: true, revoked_keys: true }]);
    assert.equal(statSync(join(dir, 'trusted_user_ca_keys')).mode & 0o777, 0o644);
    assert.equal(statSync(join(dir, 'revoked_keys.krl')).mode & 0o777, 0o644);
    assert.equal(statSync(dir).mode & 0o777, 0o755);
    assertIn(sshd, { one, two }, 'before revocation');

    await api('POST', `/access/apps/${appId}/ca/certificates/${one.id}/revoke`, { reason: 'laptop lost' });
    assertIn(sshd, { one }, 'revoked but not yet synced: the host has not heard'); // shows the sync is what enforces it
    const synced = await sync(appId, dir);
    assert.deepEqual(synced.changed, { trusted_user_ca_keys: false, revoked_keys: true });
    assert.ok(synced.krl_version > first.krl_version, `${synced.krl_version} > ${first.krl_version}`);
    assertOut(sshd, { one }, 'after sync');
    assert.match(await sshd.waitForLog(/revoked by file/), /revoked by file .*revoked_keys\.krl/);
    assertIn(sshd, { two }, 'after sync');
    const again = await sync(appId, dir);
    assert.deepEqual(again.changed, { trusted_user_ca_keys: false, revoked_keys: false }, 'nothing new: both answers were 304');
  });

  it('(b) a user key revoked by fingerprint: every certificate of that key is refused, other keys log in', async () => {
    const appId = await newApp('revoke-key');
    const keys = join(work, 'b', 'keys');
    const stolen = userKey(keys, 'stolen');
    const first = await certify(appId, stolen, 'first');
    const second = await certify(appId, stolen, 'second');
    const other = await certify(appId, userKey(keys, 'other'), 'c');
    const { dir, sshd } = await host(appId, 'b');
    assertIn(sshd, { first, second, other }, 'before revocation');

    const revoked = await api('POST', `/access/apps/${appId}/ca/certificates/revoke`, { public_key_fingerprint: fingerprint(`${stolen}.pub`), reason: 'key leaked' });
    assert.equal(revoked.certificates, 2);
    assert.equal((await sync(appId, dir)).changed.revoked_keys, true);
    assertOut(sshd, { first, second }, 'after sync');
    assertIn(sshd, { other }, 'after sync');
  });

  it('(d) rotation: rotate, activate, retire, syncing after each; no valid certificate is ever refused', async () => {
    const appId = await newApp('rotation');
    const keys = join(work, 'd', 'keys');
    const old1 = await certify(appId, userKey(keys, 'old1'), 'c');
    const { dir, sshd, first } = await host(appId, 'd');
    assert.equal(first.keys, 1);
    assertIn(sshd, { old1 }, 'one key');

    const next = await api('POST', `/access/apps/${appId}/ca/rotate`);
    assert.equal(next.state, 'next');
    assertIn(sshd, { old1 }, 'rotated, not synced');
    const rotated = await sync(appId, dir);
    assert.deepEqual([rotated.keys, rotated.changed.trusted_user_ca_keys], [2, true]);
    assert.equal(trustedKeyLines(dir).length, 2);
    const old2 = await certify(appId, userKey(keys, 'old2'), 'c');
    assert.notEqual(signingCa(old2), fingerprint(writeKey(join(work, 'd', 'next.pub'), next.public_key)), 'the active key still signs');
    assertIn(sshd, { old1, old2 }, 'next key trusted');

    const active = await api('POST', `/access/apps/${appId}/ca/rotate/activate`);
    assert.equal(active.id, next.id);
    const fresh1 = await certify(appId, userKey(keys, 'fresh1'), 'c');
    assert.equal(signingCa(fresh1), fingerprint(join(work, 'd', 'next.pub')), 'the new key signs now');
    assertIn(sshd, { old1, old2, fresh1 }, 'activated, not synced: the new key was already trusted');
    const activated = await sync(appId, dir);
    assert.equal(activated.keys, 2, 'active and previous');
    assertIn(sshd, { old1, old2, fresh1 }, 'activated and synced');

    await api('POST', `/access/apps/${appId}/ca/rotate/retire`);
    const retired = await sync(appId, dir);
    assert.deepEqual([retired.keys, retired.changed.trusted_user_ca_keys], [1, true]);
    assert.deepEqual(trustedKeyLines(dir).map((l) => l.split(' ')[1]), [next.public_key.split(' ')[1]]);
    const fresh2 = await certify(appId, userKey(keys, 'fresh2'), 'c');
    assertOut(sshd, { old1, old2 }, 'retired and synced');
    assertIn(sshd, { fresh1, fresh2 }, 'retired and synced');
  });

  it('sshd-config --server fetches once like sshd-sync --once, opens no data dir, and needs a Read token', async () => {
    const appId = await newApp('config-once');
    const dir = join(work, 'f', 'ssh');
    const noDataDir = join(work, 'f', 'no-data-dir');
    const r = await runCliProcess(['--data-dir', noDataDir, 'sshd-config', ...syncArgs(appId, dir), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.sshd_config, [`TrustedUserCAKeys ${dir}/trusted_user_ca_keys`, `RevokedKeys ${dir}/revoked_keys.krl`]);
    assert.equal(out.keys, 1);
    assert.equal(trustedKeyLines(dir)[0], (await api('GET', `/access/apps/${appId}/ca`)).public_key);
    assert.equal(existsSync(noDataDir), false, 'no store was opened or made');
    const human = await runCliProcess(['sshd-sync', ...syncArgs(appId, dir), '--once']);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout, `TrustedUserCAKeys ${dir}/trusted_user_ca_keys\nRevokedKeys ${dir}/revoked_keys.krl\n`, 'the sshd lines on stdout');
    assert.match(human.stderr, /1 key \(unchanged\)/);

    const before = readFileSync(join(dir, 'trusted_user_ca_keys'));
    const wrong = await runCliProcess(['sshd-sync', ...syncArgs(appId, dir, writeOnlyTokenFile), '--once']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /HTTP 403: .*the token needs "Access: Apps and Policies Read"/);
    assert.ok(readFileSync(join(dir, 'trusted_user_ca_keys')).equals(before));
    chmodSync(readTokenFile, 0o640);
    try {
      const loose = await runCliProcess(['sshd-sync', ...syncArgs(appId, dir), '--once']);
      assert.equal(loose.code, 2);
      assert.match(loose.stderr, /open to other users \(mode 0640\)/);
    } finally {
      chmodSync(readTokenFile, 0o600);
    }
  });

  it('loop mode: picks up a revocation within its interval and stops cleanly on SIGTERM', async () => {
    const appId = await newApp('loop');
    const keys = join(work, 'e', 'keys');
    const lost = await certify(appId, userKey(keys, 'lost'), 'c');
    const kept = await certify(appId, userKey(keys, 'kept'), 'c');
    const { dir, sshd } = await host(appId, 'e');
    const loop = spawnLoop(syncArgs(appId, dir));
    try {
      await loop.waitFor(/1 key \(unchanged\)/);
      await api('POST', `/access/apps/${appId}/ca/certificates/${lost.id}/revoke`, { reason: 'gone' });
      await loop.waitFor(/revoked_keys\.krl: version \d+ \(written\)/);
      assertOut(sshd, { lost }, 'the loop synced');
      assertIn(sshd, { kept }, 'the loop synced');
    } finally {
      assert.equal(await loop.stop('SIGTERM'), 0, loop.stderr());
    }
    assert.match(loop.stderr(), /SIGTERM: stopping/);
    assert.equal(loop.stdout(), `TrustedUserCAKeys ${dir}/trusted_user_ca_keys\nRevokedKeys ${dir}/revoked_keys.krl\n`);
  });

  // Last: it stops the server.
  it('(c) server gone: sync exits non-zero, both files stay exactly as they were, valid certificates still log in; the loop keeps going', async () => {
    const appId = await newApp('server-gone');
    const valid = await certify(appId, userKey(join(work, 'c', 'keys'), 'valid'), 'c');
    const { dir, sshd } = await host(appId, 'c');
    assertIn(sshd, { valid }, 'server up');
    const snapshot = () => ['trusted_user_ca_keys', 'revoked_keys.krl'].map((f) => {
      const st = statSync(join(dir, f));
      return { bytes: readFileSync(join(dir, f)).toString('base64'), ino: st.ino, mtime: st.mtimeMs, mode: st.mode };
    });
    const before = snapshot();

    await server.stop();
    const r = await runCliProcess(['sshd-sync', ...syncArgs(appId, dir), '--once', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED; kept the last good files/);
    assert.match(JSON.parse(r.stdout).error, /cannot reach/);
    assert.deepEqual(snapshot(), before, 'not rewritten, not truncated');
    assertIn(sshd, { valid }, 'server gone');

    const loop = spawnLoop(syncArgs(appId, dir));
    try {
      await loop.waitFor(/cannot reach[^\n]*\n(.|\n)*cannot reach/); // two failed rounds, still running
      assert.equal(loop.exitCode(), null);
    } finally {
      assert.equal(await loop.stop('SIGINT'), 0, loop.stderr());
    }
    assert.deepEqual(snapshot(), before);
    assertIn(sshd, { valid }, 'after the loop');
  });

  function writeKey(file: string, line: string) {
    writeFileSync(file, `${line}\n`);
    return file;
  }

  function spawnLoop(args: string[]) {
    const child = spawn(process.execPath, [...CLI_ARGS, 'sshd-sync', ...args, '--interval', '1s'], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    running.push({ stop: async () => void (child.exitCode === null && child.kill('SIGKILL')) });
    return {
      stdout: () => stdout,
      stderr: () => stderr,
      exitCode: () => child.exitCode,
      async waitFor(pattern: RegExp) {
        for (let i = 0; i < 200 && !pattern.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
        assert.match(stderr, pattern);
      },
      async stop(signal: NodeJS.Signals) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
  }
});
