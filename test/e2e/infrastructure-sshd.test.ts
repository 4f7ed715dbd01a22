/**
 * Cloudflare's current SSH model end to end, with the official SDK v7 and a stock sshd: a target enrolls,
 * an infrastructure application's target_criteria cover it, so its bundle trusts the account's gateway
 * CA; the Access policy's connection_rules.ssh decide the logins a certificate carries; taking the
 * target out of the criteria takes the gateway CA off the host at its next sync.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import { runCliInProcess, runCliProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { addTestUser, startSshd, sshdUnavailable, sshWith } from '../helpers/sshd.ts';
import { safeTempDir } from '../helpers/temp-dir.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const base = safeTempDir('access-ca-infra-e2e-');
const skip = sshdUnavailable() ?? (base === null ? 'no directory with a safe chain of ancestors to run the host agent in' : null);
const HOST = 'web1.infra.example';

describe('end to end: an infrastructure application, its gateway CA and connection_rules, a stock sshd', { skip: skip ?? false }, () => {
  let server: ServerProcess;
  let idp: TestIdp;
  let cf: Cloudflare;
  let deploy: ReturnType<typeof addTestUser>;
  let alias: ReturnType<typeof addTestUser>;
  let sshd: Awaited<ReturnType<typeof startSshd>>;
  let app: { id: string; aud: string };
  let policyId: string;
  let gatewayKey: string;
  const root = base!;
  const hostDir = join(root, 'etc-ssh-access-ca');
  const hostKey = join(root, 'ssh_host_ed25519_key');
  const criteria = (hostname: string) => [{ port: 22, protocol: 'SSH', target_attributes: { hostname: [hostname] } }];

  const sync = async () => {
    const r = await runCliInProcess(['sshd-sync', '--server', server.origin, '--dir', hostDir, '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
  };
  let keys = 0;
  /** A person's certificate through cloudflared's cert_sign, naming the target: the answer, and the files when issued. */
  const certify = async (email: string) => {
    const key = join(root, 'users', `u${++keys}`);
    mkdirSync(join(root, 'users'), { recursive: true, mode: 0o700 });
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
    const jwt = await idp.sign({ aud: [app.aud], email });
    const r = await fetch(`${server.origin}/cdn-cgi/access/cert_sign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: readFileSync(`${key}.pub`, 'utf8'), jwt, hostname: HOST }),
    });
    const body = (await r.json()) as { certificate?: string; message?: string };
    if (body.certificate) writeFileSync(`${key}-cert.pub`, `${body.certificate}\n`);
    return { status: r.status, body, key, cert: `${key}-cert.pub` };
  };
  const login = (c: { key: string; cert: string }, user: string) => sshWith({ port: sshd.port, user, key: c.key, cert: c.cert, command: 'echo "in as $USER"' });

  before(async () => {
    deploy = addTestUser('ifd');
    alias = addTestUser('ifa');
    server = await startServer();
    idp = await makeTestIdp('https://idp.infra.test');
    cf = new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 0 } as never);
    const account_id = server.accountId;
    const provider = await fetch(`${server.base}/accounts/${account_id}/access/identity_providers`, {
      method: 'POST', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'test', config: { issuer: idp.issuer, jwks: idp.jwks } }),
    });
    assert.equal(provider.status, 201, await provider.text());
    gatewayKey = (await cf.zeroTrust.access.gatewayCA.create({ account_id })).public_key!;

    // The host: a target made by its join token, enrolled with its own host key.
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', HOST, '-f', hostKey]).status, 0);
    const joined = await runCliInProcess(['--data-dir', server.dataDir, 'host', 'join-token', '--account', account_id, '--hostname', HOST, '--json']);
    assert.equal(joined.code, 0, joined.stderr);
    const tokenFile = join(root, 'join-token');
    writeFileSync(tokenFile, `${JSON.parse(joined.stdout).token}\n`, { mode: 0o600 });
    const enrolled = await runCliProcess(['host', 'enroll', '--server', server.origin, '--join-token-file', tokenFile, '--dir', hostDir, '--host-key', hostKey, '--json']);
    assert.equal(enrolled.code, 0, enrolled.stderr);
    sshd = await startSshd(JSON.parse(enrolled.stdout).sshd_config, { hostKey });

    const made = await cf.zeroTrust.access.applications.create({ account_id, type: 'infrastructure', name: 'infra', target_criteria: criteria(HOST) } as never) as unknown as { id: string; aud: string };
    app = made;
    const policy = await cf.zeroTrust.access.applications.policies.create(app.id, {
      account_id, name: 'deployers', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }],
      connection_rules: { ssh: { usernames: [deploy.name], allow_email_alias: false } },
    } as never) as unknown as { id: string };
    policyId = policy.id;
    await sync();
  });
  after(async () => {
    await sshd?.stop();
    await server?.stop();
    await idp?.close();
    deploy?.remove();
    alias?.remove();
  });

  it('the covered target trusts the gateway CA; usernames are the only principals: deploy logs in, root and any other name are refused', async () => {
    const trusted = readFileSync(join(hostDir, 'trusted_user_ca_keys'), 'utf8');
    assert.ok(trusted.includes(gatewayKey.split(' ')[1]!), `the bundle holds the gateway CA:\n${trusted}`);
    const c = await certify(`someone@example.com`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const cert = parseCertificate(Buffer.from(c.body.certificate!.split(' ')[1]!, 'base64'));
    assert.deepEqual(cert.principals, [deploy.name]);
    assert.equal(cert.signatureKey.toString('base64'), gatewayKey.split(' ')[1], 'signed by the gateway CA');
    const inAsDeploy = login(c, deploy.name);
    assert.equal(inAsDeploy.status, 0, `${inAsDeploy.stderr}\n${sshd.log()}`);
    assert.equal(inAsDeploy.stdout.trim(), `in as ${deploy.name}`);
    for (const user of ['root', alias.name]) {
      const r = login(c, user);
      assert.equal(r.status, 255, `${user} must be refused`);
      assert.match(r.stderr, /Permission denied/);
    }
  });

  it('with allow_email_alias, the email\'s local part is a login too', async () => {
    await cf.zeroTrust.access.applications.policies.update(policyId, {
      app_id: app.id, account_id: server.accountId, name: 'deployers', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }],
      connection_rules: { ssh: { usernames: [deploy.name], allow_email_alias: true } },
    } as never);
    const c = await certify(`${alias.name}@example.com`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.deepEqual(parseCertificate(Buffer.from(c.body.certificate!.split(' ')[1]!, 'base64')).principals, [deploy.name, alias.name]);
    assert.equal(login(c, alias.name).status, 0);
    assert.equal(login(c, deploy.name).status, 0);
  });

  it('a person no policy allows gets no certificate', async () => {
    const c = await certify('mallory@elsewhere.test');
    assert.equal(c.status, 403, JSON.stringify(c.body));
    assert.equal(c.body.certificate, undefined);
  });

  it('taking the target out of the criteria takes the gateway CA off the host at its next sync, and the certificate is refused there', async () => {
    const c = await certify('someone@example.com');
    assert.equal(c.status, 200);
    assert.equal(login(c, deploy.name).status, 0);
    await cf.zeroTrust.access.applications.update(app.id, { account_id: server.accountId, type: 'infrastructure', name: 'infra', target_criteria: criteria('web2.infra.example') } as never);
    await sync();
    const trusted = readFileSync(join(hostDir, 'trusted_user_ca_keys'), 'utf8');
    assert.ok(!trusted.includes(gatewayKey.split(' ')[1]!), 'the gateway CA is gone from the host');
    const r = login(c, deploy.name);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /Permission denied/);
    // And cert_sign no longer finds an application for the host.
    assert.equal((await certify('someone@example.com')).status, 404);
  });
});
