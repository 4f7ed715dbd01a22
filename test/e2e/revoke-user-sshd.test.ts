import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import { runCliInProcess, type ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable } from '../helpers/databases.ts';
import { nodeApi, prepareSigning, startTwoNodes, type Signing, type TwoNodes } from '../helpers/deployment.ts';
import { addTestUser, sshdUnavailable, sshWith, startSshd, type TestSshd } from '../helpers/sshd.ts';
import { safeTempDir } from '../helpers/temp-dir.ts';

const nowS = () => Math.floor(Date.now() / 1000);
/** Revocations cut off by whole seconds: a token of a later second is a later sign-in (the verifier allows a little future iat). */
const afresh = () => nowS() + 2;
/** Issued before anything this test revokes. */
const earlier = () => nowS() - 5;
const REVOKED = /access for \S+ was revoked at .*: sign in again/;

const skipReason = sshdUnavailable() ?? (await postgresUnavailable());
// The host agent refuses directories under the sticky, world-writable /tmp: the work dir lives under /run.
const safeWork = skipReason === null ? safeTempDir('access-ca-revoke-e2e-') : null;
const skip = skipReason ?? (safeWork === null ? 'no directory with a safe chain of ancestors to run the host agent in' : null);

/**
 * Revocation that lasts, with real components: two `serve` nodes on one PostgreSQL database, the official
 * SDK v7 over loopback HTTP, `sshd-sync` writing a stock sshd's TrustedUserCAKeys and RevokedKeys. One
 * person is revoked on node A; node B's KRL carries their certificate to sshd, and both nodes refuse the
 * identity token they held, until they sign in again (or a policy keeps them out for good).
 */
describe('end to end: revoke_user on one node reaches sshd (through sshd-sync) and both nodes', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let a: ServerProcess;
  let b: ServerProcess;
  let signing: Signing;
  let sshd: TestSshd;
  let person: ReturnType<typeof addTestUser>;
  let email: string;
  let app: { id: string; aud: string; name: string; domain: string };
  let staffPolicy: string;
  let readTokenFile: string;
  /** The person's identity token from before the revocation, and the certificate it got. */
  let heldJwt: string;
  let heldCert: string;
  const work = safeWork!;
  const syncDir = join(work, 'etc-ssh-access-ca');
  const key = join(work, 'person', 'id_ed25519');

  const sdk = (node: ServerProcess, apiToken: string) =>
    new Cloudflare({ apiToken, apiEmail: null, apiKey: null, baseURL: node.base, maxRetries: 0 } as never);
  const jwtAt = (who: string, iat: number) => signing.idp.sign({ aud: [app.aud], email: who }, { issuedAt: iat, expiresIn: '1h' });
  /** cloudflared's cert_sign on one node, for the person's key. */
  const certSign = async (node: ServerProcess, jwt: string) => {
    const r = await fetch(`${node.origin}/cdn-cgi/access/cert_sign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: readFileSync(`${key}.pub`, 'utf8'), jwt }),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  /** A certificate from cert_sign, saved beside the key under its own name. */
  const certFile = (signed: { status: number; body: any }, label: string) => {
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    const file = `${key}-${label}-cert.pub`;
    writeFileSync(file, `${signed.body.certificate}\n`);
    return file;
  };
  /** `access-ca sshd-sync --once` against node B, in this process for time, with no data dir. */
  const sync = async () => {
    const r = await runCliInProcess(['sshd-sync', '--server', b.origin, '--account', nodes.first.accountId, '--app', app.id,
      '--token-file', readTokenFile, '--dir', syncDir, '--once', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { keys: number; krl_version: number; changed: { trusted_user_ca_keys: boolean; revoked_keys: boolean }; sshd_config: string[] };
  };
  const login = (cert: string) => sshWith({ port: sshd.port, user: person.name, key, cert, command: 'echo "in as $USER"' });
  const assertIn = (cert: string, step: string) => {
    const r = login(cert);
    assert.equal(r.status, 0, `${step}: should log in: ${r.stderr}`);
    assert.equal(r.stdout.trim(), `in as ${person.name}`);
  };
  const assertRefused = (signed: { status: number; body: any }, pattern: RegExp, step: string) => {
    assert.equal(signed.status, 403, `${step}: ${JSON.stringify(signed.body)}`);
    assert.match(signed.body.message, pattern, step);
  };

  before(async () => {
    person = addTestUser('rvu');
    email = `${person.name}@example.com`; // the certificate's principal is the email's local part: the Unix account
    nodes = await startTwoNodes();
    ({ a, b } = nodes);
    signing = await prepareSigning(nodes.first, nodes.env);
    const onA = nodeApi(a, nodes.first.accountId, nodes.first.token);
    app = (await onA('POST', '/access/apps', { name: 'bastion', domain: `bastion-${randomBytes(4).toString('hex')}.test` }, 201)).body.result;
    await onA('POST', `/access/apps/${app.id}/ca`, undefined, 200);
    staffPolicy = (await onA('POST', `/access/apps/${app.id}/policies`, { name: 'staff', decision: 'allow', include: [{ everyone: {} }] }, 201)).body.result.id;
    const made = await runCliInProcess(['--data-dir', nodes.first.dataDir, 'token', 'create', '--account', nodes.first.accountId,
      '--permission', 'Access: Apps and Policies Read', '--json'], nodes.env);
    assert.equal(made.code, 0, made.stderr);
    readTokenFile = join(work, 'read-token');
    writeFileSync(readTokenFile, `${JSON.parse(made.stdout).value}\n`, { mode: 0o600 });
    mkdirSync(join(work, 'person'));
    assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'person', '-f', key]).status, 0);
    const first = await sync(); // before sshd starts: it refuses every login while RevokedKeys is missing
    assert.deepEqual([first.keys, first.changed], [1, { trusted_user_ca_keys: true, revoked_keys: true }]);
    assert.deepEqual(first.sshd_config, [`TrustedUserCAKeys ${syncDir}/trusted_user_ca_keys`, `RevokedKeys ${syncDir}/revoked_keys.krl`]);
    sshd = await startSshd(first.sshd_config);
  });

  after(async () => {
    await sshd?.stop();
    await nodes?.stop();
    await signing?.idp.close();
    person?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('before: the person\'s token gets a certificate on both nodes, and sshd lets them in', async () => {
    heldJwt = await jwtAt(email, earlier());
    heldCert = certFile(await certSign(a, heldJwt), 'held');
    assert.equal((await certSign(b, heldJwt)).status, 200, 'node B signs for the same token');
    assertIn(heldCert, 'before the revocation');
  });

  it('revoke_user (SDK v7, on node A): after sshd-sync from node B, sshd refuses the certificate; the held token gets 403 on both nodes', async () => {
    const before = await sync();
    assert.equal(await sdk(a, signing.idpToken).zeroTrust.organizations.revokeUsers({ account_id: nodes.first.accountId, email }), true);
    assertIn(heldCert, 'revoked, not yet synced: the host has not heard'); // so it is the KRL that refuses below

    const synced = await sync();
    assert.deepEqual(synced.changed, { trusted_user_ca_keys: false, revoked_keys: true });
    assert.ok(synced.krl_version > before.krl_version, `${synced.krl_version} > ${before.krl_version}`);
    const r = login(heldCert);
    assert.equal(r.status, 255, `the revoked certificate must be refused: ${r.stdout}`);
    assert.match(r.stderr, /Permission denied/);
    assert.match(await sshd.waitForLog(/revoked by file/), /revoked by file .*revoked_keys\.krl/);

    assertRefused(await certSign(a, heldJwt), REVOKED, 'node A, the held token');
    assertRefused(await certSign(b, heldJwt), REVOKED, 'node B, the held token');
  });

  it('a token issued after the revocation gets a certificate on both nodes, which logs in', async () => {
    const fresh = await jwtAt(email, afresh());
    const onA = certFile(await certSign(a, fresh), 'fresh');
    assert.equal((await certSign(b, fresh)).status, 200, 'node B signs for it too');
    assertIn(onA, 'signed in again: only the old certificate is in the KRL');
  });

  it('an Access policy that excludes the person refuses a fresh token on both nodes', async () => {
    const onB = nodeApi(b, nodes.first.accountId, nodes.first.token);
    await onB('PUT', `/access/apps/${app.id}/policies/${staffPolicy}`,
      { name: 'staff', decision: 'allow', include: [{ everyone: {} }], exclude: [{ email: { email } }] }, 200);
    const fresh = await jwtAt(email, afresh());
    const denied = new RegExp(`no Access policy of application "bastion" allows ${email.replace(/\./g, '\\.')}`);
    assertRefused(await certSign(a, fresh), denied, 'node A, excluded');
    assertRefused(await certSign(b, fresh), denied, 'node B, excluded');
  });

  it('revoke_tokens (SDK v7, on node B): another person\'s earlier token gets 403 on node A; a fresh one a certificate', async () => {
    const other = `other-${randomBytes(3).toString('hex')}@example.com`;
    const older = await jwtAt(other, earlier());
    assert.equal((await certSign(a, older)).status, 200, 'the token works before');
    assert.equal(await sdk(b, nodes.first.token).zeroTrust.access.applications.revokeTokens(app.id, { account_id: nodes.first.accountId }), null);
    assertRefused(await certSign(a, older), REVOKED, 'node A, the other person\'s earlier token');
    assertRefused(await certSign(b, older), REVOKED, 'node B, the other person\'s earlier token');
    assert.equal((await certSign(a, await jwtAt(other, afresh()))).status, 200, 'signed in again');
  });
});
