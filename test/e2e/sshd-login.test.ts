import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, runCliProcess, runCliInProcess, type ServerProcess } from '../helpers/server-process.ts';
import SQLite from 'better-sqlite3';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { addTestUser, sshdUnavailable, sshWith, startSshd, type TestSshd } from '../helpers/sshd.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const skip = sshdUnavailable();

describe('end to end: a stock sshd accepts access-ca certificates', { skip: skip ?? false }, () => {
  let server: ServerProcess;
  let idp: TestIdp;
  let sshd: TestSshd;
  let alice: ReturnType<typeof addTestUser>;
  let bob: ReturnType<typeof addTestUser>;
  let app: { id: string; aud: string };
  let signToken: string;
  const work = testTempDir('access-ca-e2e-');
  const caFile = join(work, 'trusted-user-ca.pub');
  let jwtFile: string;

  const api = async (method: string, path: string, body?: unknown, token = server.token) => {
    const res = await fetch(`${server.base}/accounts/${server.accountId}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as any;
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json.result;
  };
  const cli = (...args: string[]) => runCliInProcess(['--data-dir', server.dataDir, ...args]);
  const trustCurrentCa = async () => {
    const r = await cli('sshd-config', '--account', server.accountId, '--app', app.id, '--ca-file', caFile, '--krl-file', join(work, 'revoked.krl'), '--no-sshd-check', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  /** `access-ca ssh-gen` as a person runs it, into its own directory. */
  const sshGen = async (dir: string) => {
    const r = await runCliProcess(['ssh-gen', '--hostname', 'bastion.test', '--server', server.origin, '--jwt-file', jwtFile, '--dir', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { key_file: string; certificate_file: string; reused: boolean; id?: string };
  };
  const login = (files: { key_file: string; certificate_file: string }, user = alice.name, command = 'echo "hello $USER"') =>
    sshWith({ port: sshd.port, user, key: files.key_file, cert: files.certificate_file, command });

  before(async () => {
    alice = addTestUser('aca');
    bob = addTestUser('acb');
    server = await startServer();
    idp = await makeTestIdp('http://127.0.0.1/idp');
    const jwksUrl = await idp.serve();
    const added = await cli('idp', 'add', '--account', server.accountId, '--issuer', idp.issuer, '--jwks-url', jwksUrl, '--json');
    assert.equal(added.code, 0, added.stderr);
    signToken = JSON.parse((await cli('token', 'create', '--account', server.accountId, '--permission', 'Access: SSH Certificates Sign', '--json')).stdout).value;
    app = await api('POST', '/access/apps', { name: 'bastion', domain: 'bastion.test' });
    await api('POST', `/access/apps/${app.id}/ca`);
    // Who may log in: people of example.com, except the contractors group.
    const contractors = await api('POST', '/access/groups', { name: 'contractors', include: [{ email: { email: `${bob.name}@example.com` } }] });
    await api('POST', `/access/apps/${app.id}/policies`, { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }], exclude: [{ group: { id: contractors.id } }] });
    const trusted = await trustCurrentCa();
    assert.equal(trusted.public_key, (await api('GET', `/access/apps/${app.id}/ca`)).public_key, 'sshd trusts the key the API returns');
    jwtFile = join(work, 'jwt');
    writeFileSync(jwtFile, await idp.sign({ aud: [app.aud], email: `${alice.name}@example.com` }, { expiresIn: '15m' }));
    sshd = await startSshd(caFile);
  });

  after(async () => {
    await sshd?.stop();
    await server?.stop();
    await idp?.close();
    alice?.remove();
    bob?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('JWT → access-ca ssh-gen → ssh logs in as the email\'s local part; sshd logs who and which record', async () => {
    const files = await sshGen(join(work, 'person'));
    assert.equal(files.reused, false);
    const r = login(files);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `hello ${alice.name}`);
    const accepted = new RegExp(`Accepted certificate ID "${alice.name}@example\\.com cert=${files.id}"`);
    assert.match(await sshd.waitForLog(accepted), accepted);
    const again = await sshGen(join(work, 'person'));
    assert.equal(again.reused, true, 'a certificate with time left is reused, with no request');
  });

  it('refuses at cert_sign, signing and recording nothing: another domain, an excluded person, an unverified email, root@', async () => {
    const inventory = () => {
      const db = new SQLite(join(server.dataDir, 'access-ca.db'), { readonly: true });
      try {
        return (db.prepare('select count(*) as n from ssh_certificates').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    const before = inventory();
    const people: [string, Record<string, unknown>, RegExp][] = [
      ['another domain', { email: `${alice.name}@partner.example` }, /no Access policy of application "bastion" allows/],
      ['excluded by the contractors group', { email: `${bob.name}@example.com` }, /no Access policy of application "bastion" allows/],
      ['email not verified', { email: `${alice.name}@example.com`, email_verified: false }, /has not verified this email/],
      ['root of an allowed domain', { email: 'root@example.com' }, /principal "root" is denied/],
    ];
    for (const [name, claims, message] of people) {
      const file = join(work, `jwt-${name.replace(/\W+/g, '-')}`);
      writeFileSync(file, await idp.sign({ aud: [app.aud], ...claims }, { expiresIn: '15m' }));
      const r = await runCliProcess(['ssh-gen', '--hostname', 'bastion.test', '--server', server.origin, '--jwt-file', file, '--dir', join(work, 'refused'), '--json']);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, message, `${name}: ${r.stderr}`);
    }
    assert.equal(inventory(), before, 'nothing was signed or recorded for them');
  });

  it('refuses another principal', async () => {
    const files = await sshGen(join(work, 'person'));
    const r = login(files, bob.name);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  it('refuses an expired certificate', async () => {
    const dir = join(work, 'expiring');
    const files = await sshGen(dir);
    await api('PUT', `/access/apps/${app.id}/ca/policy`, { principals: { allow: [alice.name] } });
    const signed = await api('POST', `/access/apps/${app.id}/ca/sign`, { public_key: readFileSync(`${files.key_file}.pub`, 'utf8'), principals: [alice.name], ttl: 1 }, signToken);
    writeFileSync(files.certificate_file, `${signed.certificate}\n`);
    await new Promise((r) => setTimeout(r, 2500));
    const r = login(files);
    assert.equal(r.status, 255, r.stdout);
    assert.match(await sshd.waitForLog(/expired|Certificate invalid/i), /expired|Certificate invalid/i);
  });

  it('refuses a certificate from a deleted-and-recreated CA; the new CA\'s certificates work', async () => {
    const old = await sshGen(join(work, 'old-ca'));
    assert.equal(login(old).status, 0);
    await api('DELETE', `/access/apps/${app.id}/ca`);
    await api('POST', `/access/apps/${app.id}/ca`);
    await trustCurrentCa();
    const r = login(old);
    assert.equal(r.status, 255);
    const fresh = await sshGen(join(work, 'new-ca'));
    assert.equal(login(fresh).status, 0);
  });

  it('enforces critical options: a source-address without 127.0.0.1 is refused; force-command runs instead', async () => {
    await api('PUT', `/access/apps/${app.id}/ca/policy`, { critical_options: { source_address: { allowed: ['10.0.0.0/8'], default: ['10.0.0.0/8'] } } });
    const fenced = await sshGen(join(work, 'fenced'));
    const refused = login(fenced);
    assert.equal(refused.status, 255);
    await api('PUT', `/access/apps/${app.id}/ca/policy`, { critical_options: { force_command: { allowed: ['echo forced'], default: 'echo forced' } } });
    const forced = await sshGen(join(work, 'forced'));
    const r = login(forced, alice.name, 'echo "hello $USER"');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'forced');
    await api('PUT', `/access/apps/${app.id}/ca/policy`, {});
  });
});
