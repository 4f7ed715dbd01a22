/**
 * The trial identity provider: made by the CLI on the data directory, its tokens signed there by
 * `login --trial` and verified by the server like any provider's, confined to its account, refused by a
 * server that runs with --no-trial-idp, and named in every certificate's key id.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, scoped, WRITE, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const IDP_WRITE = 'Access: Organizations, Identity Providers, and Groups Write';
const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey), 'me@laptop');
const one = (s: string) => JSON.parse(s.trim());

describe('the trial identity provider', () => {
  let t: TestApp;
  let off: TestApp;
  let tenant: Tenant;
  let other: Tenant;
  let admin: string;
  let app: { id: string; aud: string };
  let otherApp: { id: string; aud: string };
  let host: string;
  let otherHost: string;
  const people = testTempDir('access-ca-trial-');
  const cli = (dir: string, ...a: string[]) => runCliInProcess(['--data-dir', dir, ...a]);

  before(async () => {
    t = await makeTestApp();
    off = await makeTestApp({ config: { trialIdentityProviders: false } });
    tenant = await t.tenant();
    other = await t.tenant();
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [IDP_WRITE, WRITE] })).value;
    const otherAdmin = (await t.identity.createToken({ accountId: other.accountId, permissions: [IDP_WRITE, WRITE] })).value;
    const make = async (tenantId: string, token: string, domain: string) => {
      const made = (await t.call('POST', scoped('account', tenantId, '/access/apps'), { token, body: { name: domain, domain } })).body.result;
      assert.equal((await t.call('POST', scoped('account', tenantId, `/access/apps/${made.id}/ca`), { token })).status, 200);
      await allowEveryone(t, tenantId, made.id, token);
      return made;
    };
    host = `bastion.${tenant.zoneName}`;
    otherHost = `other.${other.zoneName}`;
    app = await make(tenant.accountId, admin, host);
    otherApp = await make(other.accountId, otherAdmin, otherHost);
  });
  after(async () => {
    await t.close();
    await off.close();
  });

  /** `login --trial` as a person with their own --dir; the token it kept. */
  async function trialLogin(dir: string, email: string, host: string) {
    const r = await cli(t.dir, 'login', '--trial', '--email', email, '--hostname', host, '--dir', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = one(r.stdout);
    const kept = JSON.parse(readFileSync(out.file, 'utf8'));
    return { out, jwt: kept.idToken as string, file: out.file as string };
  }

  it('idp create --trial makes one provider per account, public key only, that the API shows and will not change', async () => {
    const r = await cli(t.dir, 'idp', 'create', '--account', tenant.accountId, '--trial', '--json');
    assert.equal(r.code, 0, r.stderr);
    const made = one(r.stdout);
    assert.equal(made.config.issuer, `https://trial.access-ca.invalid/${tenant.accountId}`);
    assert.equal(made.config.trial, true);
    assert.equal(made.config.jwks.keys.length, 1);
    assert.deepEqual(Object.keys(made.config.jwks.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const row = await t.db.selectFrom('identity_providers').selectAll().where('id', '=', made.id).executeTakeFirstOrThrow();
    assert.ok(row.trial_key_sealed && !Buffer.from(row.trial_key_sealed).toString('latin1').includes('PRIVATE'), 'the key is sealed');
    const audited = await t.db.selectFrom('audit_events').selectAll().where('subject', '=', made.id).executeTakeFirstOrThrow();
    assert.equal(audited.type, 'identity_provider.created');
    assert.equal(JSON.parse(audited.data).trial, true);

    const again = await cli(t.dir, 'idp', 'create', '--account', tenant.accountId, '--trial');
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`account ${tenant.accountId} has a trial identity provider already`));
    const mixed = await cli(t.dir, 'idp', 'create', '--account', tenant.accountId, '--trial', '--issuer', 'https://idp.example.com', '--jwks-url', 'https://idp.example.com/jwks');
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--trial makes a provider access-ca configures itself: leave out --issuer, --jwks-url/);
    const neither = await cli(t.dir, 'idp', 'create', '--account', tenant.accountId);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--issuer is required \(or --trial/);

    const listed = await t.call('GET', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin });
    assert.equal(listed.status, 200);
    assert.equal(listed.body.result.find((i: { id: string }) => i.id === made.id).config.trial, true);
    const put = await t.call('PUT', scoped('account', tenant.accountId, `/access/identity_providers/${made.id}`), {
      token: admin, body: { name: 'mine now', config: { issuer: 'https://idp.example.com', jwks: made.config.jwks } },
    });
    assert.equal(put.status, 400, put.raw);
    assert.match(put.raw, /the trial identity provider cannot be changed/);
    // No other provider may take a trial issuer, in this account or another.
    const squat = await t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), {
      token: admin, body: { name: 'squat', config: { issuer: `https://trial.access-ca.invalid/${other.accountId}`, jwks: made.config.jwks } },
    });
    assert.equal(squat.status, 400, squat.raw);
    assert.equal(squat.body.errors[0].source?.pointer, '/config/issuer');
  });

  it('login --trial signs a person in on the data directory; cert_sign takes it and the key id names the trial provider', async () => {
    const dir = join(people, 'alice');
    const { out, jwt, file } = await trialLogin(dir, 'Alice@Example.com', host);
    assert.equal(out.trial, true);
    assert.equal(out.refreshable, false);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const r = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt, hostname: host } });
    assert.equal(r.status, 200, r.raw);
    const cert = parseCertificate(Buffer.from(r.body.certificate.split(' ')[1], 'base64'));
    assert.equal(cert.keyId, `alice@example.com cert=${r.body.id} label=trial-idp`);
    assert.deepEqual(cert.principals, ['Alice']);
    // label=trial-idp withdraws every certificate a trial token got.
    const revoked = await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/certificates/revoke`), { token: admin, body: { key_id: 'label=trial-idp', reason: 'end of the trial' } });
    assert.equal(revoked.status, 200, revoked.raw);
    const row = await t.db.selectFrom('ssh_certificates').select('revoked_at').where('id', '=', r.body.id).executeTakeFirstOrThrow();
    assert.notEqual(row.revoked_at, null);
  });

  it('a trial token is its own account\'s: another account\'s application refuses it, and its host cannot be named there', async () => {
    const { jwt } = await trialLogin(join(people, 'bob'), 'bob@example.com', host);
    const r = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt, hostname: otherHost } });
    assert.equal(r.status, 404, r.raw);
    assert.match(r.raw, /no application matches this token's audience and hostname/);
    assert.equal(await t.db.selectFrom('ssh_certificates').select('id').where('app_id', '=', otherApp.id).executeTakeFirst(), undefined);
    const none = await cli(t.dir, 'login', '--trial', '--email', 'bob@example.com', '--hostname', otherHost, '--dir', join(people, 'bob'));
    assert.equal(none.code, 2);
    assert.match(none.stderr, new RegExp(`account ${other.accountId} of ${otherHost} has no trial identity provider: make one with access-ca idp create --account ${other.accountId} --trial`));
  });

  it('ssh-gen sends its --hostname: a typo or another application\'s host is refused and no certificate is saved under it', async () => {
    const origin = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const dir = join(people, 'frank');
    const { jwt } = await trialLogin(dir, 'frank@example.com', host);
    const gen = (hostname: string) => runCliInProcess(['ssh-gen', '--hostname', hostname, '--server', origin, '--dir', dir], { ACCESS_CA_JWT: jwt });
    for (const wrong of [`nope.${tenant.zoneName}`, otherHost]) {
      const r = await gen(wrong);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /no application matches this token's audience and hostname/);
      assert.equal(existsSync(join(dir, `${wrong}-cf_key-cert.pub`)), false, `no certificate saved for ${wrong}`);
    }
    const right = await gen(host);
    assert.equal(right.code, 0, right.stderr);
    assert.equal(existsSync(join(dir, `${host}-cf_key-cert.pub`)), true);
  });

  it('login --trial refuses what it cannot do, saying what to run', async () => {
    const dir = join(people, 'carol');
    const cases: [string[], RegExp][] = [
      [['login', '--trial', '--hostname', host, '--dir', dir], /--trial needs --email <address>/],
      [['login', '--trial', '--email', 'not an email', '--hostname', host, '--dir', dir], /--trial needs --email <address>/],
      [['login', '--trial', '--email', 'c@example.com', '--hostname', 'nowhere.example.com', '--dir', dir], /no application in this store has the domain nowhere\.example\.com, and no infrastructure application covers a target of that name/],
      [['login', '--trial', '--device', '--email', 'c@example.com', '--hostname', host, '--dir', dir], /--device is for a real identity provider/],
      [['login', '--hostname', host, '--dir', dir], /--server is required/],
      [['login', '--server', 'http://127.0.0.1:9', '--email', 'c@example.com', '--hostname', host, '--dir', dir], /--email is for --trial only/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(t.dir, ...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
    }
  });

  it('ssh-gen with an expired trial sign-in says to run login --trial again, without asking a server', async () => {
    const dir = join(people, 'dave');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `${host}-token.json`), JSON.stringify({
      idToken: 'x.y.z', refreshToken: null, expiresAt: Math.floor(Date.now() / 1000) - 5, email: 'dave@example.com', issuer: 'https://trial.access-ca.invalid/x', clientId: 'access-ca-trial',
    }), { mode: 0o600 });
    const r = await runCliInProcess(['ssh-gen', '--hostname', host, '--server', 'http://127.0.0.1:9', '--dir', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.includes(`the trial sign-in of dave@example.com for ${host} has expired: run access-ca login --trial --email dave@example.com --hostname ${host} again`), r.stderr);
  });

  it('a server with --no-trial-idp refuses trial tokens with a 403 that says so, and issues nothing', async () => {
    const offTenant = await off.tenant();
    const offHost = `off.${offTenant.zoneName}`;
    const token = (await off.identity.createToken({ accountId: offTenant.accountId, permissions: [IDP_WRITE, WRITE] })).value;
    const made = (await off.call('POST', scoped('account', offTenant.accountId, '/access/apps'), { token, body: { name: 'x', domain: offHost } })).body.result;
    assert.equal((await off.call('POST', scoped('account', offTenant.accountId, `/access/apps/${made.id}/ca`), { token })).status, 200);
    await allowEveryone(off, offTenant.accountId, made.id, token);
    assert.equal((await cli(off.dir, 'idp', 'create', '--account', offTenant.accountId, '--trial')).code, 0);
    const dir = join(people, 'erin');
    const signed = await cli(off.dir, 'login', '--trial', '--email', 'erin@example.com', '--hostname', offHost, '--dir', dir, '--json');
    assert.equal(signed.code, 0, signed.stderr);
    const jwt = JSON.parse(readFileSync(one(signed.stdout).file, 'utf8')).idToken;
    const r = await off.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt, hostname: offHost } });
    assert.equal(r.status, 403, r.raw);
    assert.match(r.raw, /does not take the trial identity provider's tokens \(it runs with --no-trial-idp\)/);
    assert.equal(await off.db.selectFrom('ssh_certificates').select('id').where('app_id', '=', made.id).executeTakeFirst(), undefined);
  });
});
