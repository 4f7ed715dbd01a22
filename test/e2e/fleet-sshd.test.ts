import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliInProcess, runCliProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { addTestUser, startSshd, sshdUnavailable, sshWith } from '../helpers/sshd.ts';
import { safeTempDir } from '../helpers/temp-dir.ts';
import { nodeApi } from '../helpers/deployment.ts';
import { buildApp, defaultAppConfig } from '../../src/app.ts';
import { openStoreRuntime } from '../../src/platform/store-runtime.ts';
import { cryptoRandom } from '../../src/platform/random.ts';

const base = safeTempDir('access-ca-fleet-e2e-');
const skip = sshdUnavailable() ?? (base === null ? 'no directory with a safe chain of ancestors to run the host agent in' : null);
const NOBODY = 65534;

interface Cert { key: string; cert: string; id: string }
type Sshd = Awaited<ReturnType<typeof startSshd>>;

/**
 * The fleet end to end, with a stock sshd and ssh: a host enrolls once and is covered by two
 * applications; its one trust file and one KRL enforce both; withdrawal reaches it; it presents a host
 * certificate that ssh checks against the account's host CA with StrictHostKeyChecking yes.
 */
describe('end to end: an enrolled host, two applications, host certificates, a stock sshd', { skip: skip ?? false }, () => {
  let server: ServerProcess;
  let alice: ReturnType<typeof addTestUser>;
  let signToken: string;
  let sshd: Sshd;
  const root = base!;
  const keys = join(root, 'keys');
  const hostKey = join(keys, 'ssh_host_ed25519_key');
  const hostDir = join(root, 'etc-ssh-access-ca');
  const HOST = 'web1.corp.example';
  let appA: string;
  let appB: string;

  /** One API call (test/helpers/deployment.ts), which must succeed; its result. */
  const api = async (method: string, path: string, body?: unknown, token = server.token) => {
    const r = await nodeApi(server, server.accountId, token)(method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.result;
  };
  const cli = async (args: string[]) => {
    const r = await runCliInProcess(['--data-dir', server.dataDir, ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const newApp = async (domain: string) => {
    const app = await api('POST', '/access/apps', { name: domain, domain });
    await api('POST', `/access/apps/${app.id}/ca`);
    await api('PUT', `/access/apps/${app.id}/ca/policy`, { principals: { allow: [alice.name] }, ttl: '30m', max_ttl: '1h' });
    return app.id as string;
  };
  let userKeys = 0;
  const certify = async (appId: string): Promise<Cert> => {
    const key = join(root, 'users', `u${++userKeys}`);
    mkdirSync(join(root, 'users'), { recursive: true, mode: 0o700 });
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
    const signed = await api('POST', `/access/apps/${appId}/ca/sign`, { public_key: readFileSync(`${key}.pub`, 'utf8'), principals: [alice.name] }, signToken);
    writeFileSync(`${key}-cert.pub`, `${signed.certificate}\n`);
    return { key, cert: `${key}-cert.pub`, id: signed.id };
  };
  const reload = `kill -HUP $(cat ${join(root, 'sshd.pid.link')})`;
  /** `sshd-sync --once` with --server and --dir only (in this process, for time; `host enroll` and the failures run as processes of their own). */
  const sync = async (extra: string[] = []) => {
    const r = await runCliInProcess(['sshd-sync', '--server', server.origin, '--dir', hostDir, '--once', '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /deprecated/);
    return JSON.parse(r.stdout) as { keys: number; bundle_version: number; krl_version: number; changed: { trusted_user_ca_keys: boolean; revoked_keys: boolean; host_certificates: string[] } };
  };
  const login = (c: Cert) => sshWith({ port: sshd.port, user: alice.name, key: c.key, cert: c.cert, command: 'echo "in as $USER"' });
  const assertIn = (certs: Record<string, Cert>, step: string) => {
    for (const [name, c] of Object.entries(certs)) {
      const r = login(c);
      assert.equal(r.status, 0, `${step}: ${name} should log in: ${r.stderr}`);
      assert.equal(r.stdout.trim(), `in as ${alice.name}`);
    }
  };
  const assertOut = (certs: Record<string, Cert>, step: string) => {
    for (const [name, c] of Object.entries(certs)) {
      const r = login(c);
      assert.equal(r.status, 255, `${step}: ${name} should be refused`);
      assert.match(r.stderr, /Permission denied/, `${step}: ${name}`);
    }
  };
  /** What `access-ca known-hosts` prints, as a fresh client's only known_hosts file. */
  const knownHosts = async (name: string) => {
    const r = await runCliInProcess(['known-hosts', '--server', server.origin, '--hostname', HOST]);
    assert.equal(r.code, 0, r.stderr);
    const file = join(root, `known_hosts-${name.replace(/[^a-z0-9]+/gi, "-")}`);
    writeFileSync(file, r.stdout);
    return { file, text: r.stdout };
  };
  /** A real ssh that trusts nothing but the known_hosts file: StrictHostKeyChecking yes, no prompt possible. */
  const strict = (file: string, alias: string, c: Cert, port = sshd.port) => spawnSync('ssh', [
    '-F', '/dev/null', '-i', c.key, '-o', `CertificateFile=${c.cert}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${file}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', `HostKeyAlias=${alias}`,
    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', '-p', String(port), `${alice.name}@127.0.0.1`, 'echo strict-ok',
  ], { encoding: 'utf8', timeout: 20_000 });
  /** Waits for sshd to have restarted (after a --reload-command's SIGHUP) since `before` starts were logged. */
  const restarted = async (before: number) => {
    for (let i = 0; i < 100 && (sshd.log().match(/Server listening/g) ?? []).length <= before; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok((sshd.log().match(/Server listening/g) ?? []).length > before, 'sshd restarted after the reload command');
  };
  const starts = () => (sshd.log().match(/Server listening/g) ?? []).length;
  const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('base64')]));

  before(async () => {
    alice = addTestUser('acf');
    server = await startServer();
    const sign = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, '--permission', 'Access: SSH Certificates Sign', '--json']);
    assert.equal(sign.code, 0, sign.stderr);
    signToken = JSON.parse(sign.stdout).value;
    mkdirSync(keys, { mode: 0o700 });
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', HOST, '-f', hostKey]).status, 0);
    appA = await newApp('*.corp.example');
    appB = await newApp(HOST);

    // The operator makes a join token; the host enrolls with it and its own host key.
    const made = await cli(['host', 'join-token', '--account', server.accountId, '--hostname', HOST]);
    assert.match(made.token, /^acaj_/);
    const tokenFile = join(root, 'join-token');
    writeFileSync(tokenFile, `${made.token}\n`, { mode: 0o600 });
    const enrolled = await runCliProcess(['host', 'enroll', '--server', server.origin, '--join-token-file', tokenFile, '--dir', hostDir, '--host-key', hostKey, '--json']);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    const result = JSON.parse(enrolled.stdout);
    assert.equal(result.credential, undefined, 'the credential is never printed');
    assert.deepEqual(result.sshd_config, [
      `TrustedUserCAKeys ${hostDir}/trusted_user_ca_keys`, `RevokedKeys ${hostDir}/revoked_keys.krl`, `HostCertificate ${hostDir}/ssh_host_ed25519_key-cert.pub`,
    ]);
    assert.equal(statSync(join(hostDir, 'host-credential.json')).mode & 0o777, 0o600);
    sshd = await startSshd(result.sshd_config, { hostKey });
    symlinkSync(sshd.pidFile, join(root, 'sshd.pid.link'));

    // The same join token never works twice, and the refused enrollment writes nothing.
    const again = join(root, 'again');
    const reused = await runCliProcess(['host', 'enroll', '--server', server.origin, '--join-token-file', tokenFile, '--dir', again, '--host-key', hostKey]);
    assert.equal(reused.code, 1, reused.stderr);
    assert.match(reused.stderr, /join token is unknown, used or expired/);
    assert.deepEqual(readdirSync(again), []);
  });

  after(async () => {
    await sshd?.stop();
    await server?.stop();
    alice?.remove();
  });

  it('one host, two applications: both CAs log in; revocation in each is enforced; deleting a CA or an app withdraws it', async () => {
    const a1 = await certify(appA);
    const a2 = await certify(appA);
    const b1 = await certify(appB);
    const b2 = await certify(appB);
    assertIn({ a1, a2, b1, b2 }, 'enrolled');
    assert.equal(readFileSync(join(hostDir, 'trusted_user_ca_keys'), 'utf8').split('\n').filter((l) => l.startsWith('ecdsa-')).length, 2);

    await api('POST', `/access/apps/${appA}/ca/certificates/${a1.id}/revoke`, { reason: 'laptop lost' });
    await api('POST', `/access/apps/${appB}/ca/certificates/${b1.id}/revoke`, { reason: 'left the team' });
    const revoked = await sync();
    assert.deepEqual([revoked.changed.trusted_user_ca_keys, revoked.changed.revoked_keys], [false, true]);
    assertOut({ a1, b1 }, 'revoked in each app');
    assertIn({ a2, b2 }, 'revoked in each app');

    await api('DELETE', `/access/apps/${appB}/ca`);
    const withdrawn = await sync();
    assert.equal(withdrawn.keys, 1);
    assert.ok(withdrawn.bundle_version > revoked.bundle_version);
    assertOut({ b2 }, 'app B\'s CA deleted');
    assertIn({ a2 }, 'app B\'s CA deleted');

    await api('POST', `/access/apps/${appB}/ca`);
    const b3 = await certify(appB);
    assert.equal((await sync()).keys, 2);
    assertIn({ b3 }, 'app B has a CA again');
    await api('DELETE', `/access/apps/${appB}`);
    assert.equal((await sync()).keys, 1);
    assertOut({ b3 }, 'app B deleted');
    assertIn({ a2 }, 'app B deleted');
  });

  it('host certificates: a fresh client with only known-hosts connects with StrictHostKeyChecking yes, and refuses a wrong name and an expired certificate', async () => {
    const c = await certify(appA);
    const { file, text } = await knownHosts('fresh');
    assert.match(text, /^@cert-authority \*\.corp\.example ecdsa-sha2-nistp256 \S+ access-ca-host-ca\n$/);
    const ok = strict(file, HOST, c);
    assert.equal(ok.status, 0, `${ok.stderr}\n${sshd.log()}`);
    assert.equal(ok.stdout.trim(), 'strict-ok');
    // ssh-config --known-hosts keeps the same lines in its own file and tells ssh to check hosts strictly by them.
    const client = join(root, 'client');
    const configured = await runCliInProcess(['ssh-config', '--hostname', '*.corp.example', '--server', server.origin, '--dir', client, '--command', 'access-ca', '--known-hosts', HOST, '--json']);
    assert.equal(configured.code, 0, configured.stderr);
    const block = JSON.parse(configured.stdout).ssh_config as string;
    assert.match(block, new RegExp(`\n  UserKnownHostsFile ${client}/${HOST}\\.known_hosts ~/\\.ssh/known_hosts\n  StrictHostKeyChecking yes$`));
    assert.equal(readFileSync(join(client, `${HOST}.known_hosts`), 'utf8'), text);
    assert.equal(strict(join(client, `${HOST}.known_hosts`), HOST, c).status, 0);
    const other = strict(file, 'web2.corp.example', c);
    assert.equal(other.status, 255, 'a certificate for web1 is not one for web2');
    assert.match(other.stderr, /Host key verification failed|certificate|not permitted/i);

    // An expired host certificate: issued by the same host CA, on the same store, by a node whose clock is 40 days behind.
    const credential = JSON.parse(readFileSync(join(hostDir, 'host-credential.json'), 'utf8')).credential as string;
    const runtime = await openStoreRuntime({ dataDir: server.dataDir, databaseUrl: undefined, masterKeyFile: undefined });
    const app = await buildApp({ config: defaultAppConfig, db: runtime.database.db, clock: { now: () => new Date(Date.now() - 40 * 86_400_000) }, random: cryptoRandom, keyVault: runtime.vault, logger: false });
    let expiredCert: string;
    try {
      const res = await app.inject({ method: 'POST', url: '/client/v4/host/certificates', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, payload: '{}' });
      assert.equal(res.statusCode, 200, res.body);
      expiredCert = JSON.parse(res.body).result.certificates[0].certificate;
    } finally {
      await app.close();
      await runtime.database.close();
    }
    const expiredDir = join(root, 'expired');
    mkdirSync(expiredDir, { mode: 0o755 });
    writeFileSync(join(expiredDir, 'cert.pub'), `${expiredCert}\n`);
    const stale = await startSshd([`TrustedUserCAKeys ${hostDir}/trusted_user_ca_keys`, `HostCertificate ${join(expiredDir, 'cert.pub')}`], { hostKey });
    try {
      const refused = strict(file, HOST, c, stale.port);
      assert.equal(refused.status, 255, 'an expired host certificate is refused');
      assert.match(refused.stderr, /Host key verification failed|expired|certificate/i);
    } finally {
      await stale.stop();
    }
  });

  it('host CA rotation: rotate, activate, retire with a sync after each; the client connects at every step; the old key\'s certificate is refused after retire', async () => {
    const c = await certify(appA);
    const certFile = join(hostDir, 'ssh_host_ed25519_key-cert.pub');
    const before = readFileSync(certFile, 'utf8');
    const connects = async (step: string) => {
      const { file } = await knownHosts(step);
      const r = strict(file, HOST, c);
      assert.equal(r.status, 0, `${step}: ${r.stderr}`);
      return file;
    };
    await connects('before rotation');

    await cli(['host', 'ca', 'rotate', '--account', server.accountId]);
    const rotated = await sync(['--reload-command', reload]);
    assert.deepEqual(rotated.changed.host_certificates, [], 'the active key still signs: nothing to renew');
    assert.equal((await knownHosts('rotated')).text.split('\n').filter((l) => l.startsWith('@cert-authority')).length, 2, 'both keys are trusted during the rotation');
    await connects('rotated');

    await cli(['host', 'ca', 'activate', '--account', server.accountId]);
    const startsBefore = starts();
    const activated = await sync(['--reload-command', reload]);
    assert.deepEqual(activated.changed.host_certificates, [certFile], 'renewed: signed by a key that no longer signs');
    assert.notEqual(readFileSync(certFile, 'utf8'), before);
    await restarted(startsBefore);
    await connects('activated');

    await cli(['host', 'ca', 'retire', '--account', server.accountId]);
    await sync(['--reload-command', reload]);
    const known = await connects('retired');
    // A host still presenting the certificate of the retired key is refused.
    writeFileSync(certFile, before);
    await sshd.reload();
    const refused = strict(known, HOST, c);
    assert.equal(refused.status, 255, 'the retired key\'s certificate is refused');
    // The agent puts the right certificate back at its next round.
    const startsNow = starts();
    const repaired = await sync(['--reload-command', reload]);
    assert.deepEqual(repaired.changed.host_certificates, [certFile]);
    await restarted(startsNow);
    assert.equal(strict(known, HOST, c).status, 0);
  });

  it('the agent refuses directories and credential files others control, and writes nothing', async () => {
    const good = snapshot(hostDir);
    const make = (name: string, setup: (dir: string) => void) => {
      const dir = join(root, 'bad', name);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      for (const f of ['host-credential.json']) copyFileSync(join(hostDir, f), join(dir, f));
      chmodSync(join(dir, 'host-credential.json'), 0o600);
      setup(dir);
      return dir;
    };
    mkdirSync(join(root, 'sticky'), { mode: 0o755 });
    chmodSync(join(root, 'sticky'), 0o1777);
    const cases: [string, string, RegExp][] = [
      ['dir owned by another user', make('owner', (d) => chownSync(d, NOBODY, NOBODY)), /owned by uid 65534, not root/],
      ['group-writable dir', make('group', (d) => chmodSync(d, 0o775)), /writable by group/],
      ['world-writable dir', make('world', (d) => chmodSync(d, 0o757)), /writable by others/],
      ['sticky world-writable ancestor', (() => {
        const d = join(root, 'sticky', 'agent');
        mkdirSync(d, { mode: 0o755 });
        copyFileSync(join(hostDir, 'host-credential.json'), join(d, 'host-credential.json'));
        chmodSync(join(d, 'host-credential.json'), 0o600);
        return d;
      })(), /sticky.*writable by group and others \(mode 1777\)/],
      ['symlinked dir', (() => {
        const link = join(root, 'bad', 'link');
        symlinkSync(hostDir, link);
        return link;
      })(), /symbolic link/],
      ['credential readable by group', make('cred-group', (d) => chmodSync(join(d, 'host-credential.json'), 0o640)), /open to other users \(mode 0640\): chmod 600/],
      ['credential readable by others', make('cred-world', (d) => chmodSync(join(d, 'host-credential.json'), 0o604)), /open to other users \(mode 0604\)/],
      ['credential owned by another user', make('cred-owner', (d) => chownSync(join(d, 'host-credential.json'), NOBODY, NOBODY)), /owned by uid 65534/],
    ];
    for (const [name, dir, message] of cases) {
      const listing = (() => {
        try {
          return readdirSync(dir).sort();
        } catch {
          return null;
        }
      })();
      const r = await runCliInProcess(['sshd-sync', '--server', server.origin, '--dir', dir, '--once']);
      assert.notEqual(r.code, 0, `${name}: refused`);
      assert.match(r.stderr, message, name);
      assert.match(r.stderr, /refusing/, name);
      if (listing) assert.deepEqual(readdirSync(dir).sort(), listing, `${name}: nothing written`);
    }
    assert.deepEqual(snapshot(hostDir), good, 'the real directory is untouched');
  });

  it('a removed host\'s credential stops working; a revoked host key is refused by clients', async () => {
    const c = await certify(appA);
    const pub = `${hostKey}.pub`;
    await cli(['host', 'revoke-key', '--account', server.accountId, '--public-key-file', pub, '--reason', 'host reinstalled']);
    const { file, text } = await knownHosts('revoked');
    assert.match(text, /^@revoked \*\.corp\.example ssh-ed25519 /m);
    const refused = strict(file, HOST, c);
    assert.equal(refused.status, 255, 'a revoked host key is refused even with a valid certificate');
    assert.match(refused.stderr, /REVOKED|revoked|Host key verification failed/);

    const hosts = await cli(['host', 'list', '--account', server.accountId]);
    assert.equal(hosts.hosts.length, 1);
    assert.ok(hosts.hosts[0].last_seen_at, 'when it last synced');
    await cli(['host', 'remove', '--account', server.accountId, '--host', hosts.hosts[0].id]);
    const files = snapshot(hostDir);
    const r = await runCliProcess(['sshd-sync', '--server', server.origin, '--dir', hostDir, '--once']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid host credential/);
    assert.deepEqual(snapshot(hostDir), files, 'a refusal changes nothing the host enforces');
  });

  it('with the server stopped, a sync fails and leaves every file byte-identical; sshd still enforces the last state', async () => {
    const a = await certify(appA);
    const files = snapshot(hostDir);
    await server.stop();
    const r = await runCliProcess(['sshd-sync', '--server', server.origin, '--dir', hostDir, '--once']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach|kept the last good files/);
    assert.deepEqual(snapshot(hostDir), files);
    assertIn({ a }, 'server stopped');
  });
});
