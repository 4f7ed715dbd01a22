import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const key = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('a provider\'s own ID tokens at cert_sign, and what the server publishes for sign-in', () => {
  let t: TestApp;
  let tenant: Tenant;
  let idp: TestIdp;
  let admin: string;
  let idpPath: string;
  let idpId: string;

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    idp = await makeTestIdp('https://login.example.org');
    admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] })).value;
    idpPath = scoped('account', tenant.accountId, '/access/identity_providers');
    const created = await t.call('POST', idpPath, { token: admin, body: { name: 'login', config: { issuer: idp.issuer, jwks: idp.jwks, client_id: 'cli-1', client_secret: 'shh-very-secret', scopes: ['openid', 'email', 'offline_access'] } } });
    assert.equal(created.status, 201, created.raw);
    idpId = created.body.result.id;
    assert.equal(created.body.result.config.client_secret_set, true);
    assert.ok(!created.raw.includes('shh-very-secret'));
    const app = await t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'b', domain: 'bastion.example.org/ssh' } });
    await t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.body.result.id}/ca`), { token: admin });
    await allowEveryone(t, tenant.accountId, app.body.result.id, admin);
  });
  after(async () => {
    await t.close();
    await idp.close();
  });

  const certSign = (body: unknown) => t.call('POST', '/cdn-cgi/access/cert_sign', { body });

  it('the client secret is sealed at rest and never returned', async () => {
    const got = await t.call('GET', `${idpPath}/${idpId}`, { token: admin });
    assert.equal(got.body.result.config.client_secret_set, true);
    assert.ok(!got.raw.includes('shh-very-secret'));
    for (const f of readdirSync(t.dir).filter((n) => n.startsWith('access-ca.db'))) {
      assert.equal(readFileSync(join(t.dir, f)).indexOf('shh-very-secret'), -1, `${f} holds the secret in clear`);
    }
    const kept = await t.call('PUT', `${idpPath}/${idpId}`, { token: admin, body: { name: 'renamed', config: { issuer: idp.issuer, jwks: idp.jwks, client_id: 'cli-1', scopes: ['openid', 'email', 'offline_access'] } } });
    assert.equal(kept.body.result.config.client_secret_set, true, 'a PUT without the secret keeps it');
  });

  it('publishes {aud, issuer, client_id, scopes} for a host, without authentication', async () => {
    const r = await t.call('GET', '/cdn-cgi/access/app?hostname=bastion.example.org');
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual(Object.keys(r.body).sort(), ['aud', 'client_id', 'issuer', 'scopes']);
    assert.equal(r.body.client_id, 'cli-1');
    assert.deepEqual(r.body.scopes, ['openid', 'email', 'offline_access']);
    assert.equal((await t.call('GET', '/cdn-cgi/access/app?hostname=unknown.example.org')).status, 404);
    const bad = await t.call('GET', '/cdn-cgi/access/app?hostname=../etc');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.status, 400);
  });

  it('takes an ID token whose aud is the client id when the request names the host', async () => {
    const jwt = await idp.sign({ aud: 'cli-1', email: 'dana@example.org' });
    const r = await certSign({ public_key: key(), jwt, hostname: 'bastion.example.org' });
    assert.equal(r.status, 200, r.raw);
    const noHost = await certSign({ public_key: key(), jwt });
    assert.equal(noHost.status, 404);
    assert.match(noHost.body.message, /no application matches/);
    const otherHost = await certSign({ public_key: key(), jwt, hostname: 'other.example.org' });
    assert.equal(otherHost.status, 404);
  });

  it('refuses a token for another client and a token from another issuer', async () => {
    const other = await certSign({ public_key: key(), jwt: await idp.sign({ aud: 'cli-2', email: 'dana@example.org' }), hostname: 'bastion.example.org' });
    assert.equal(other.status, 401);
    assert.match(other.body.message, /for another client/);
    const stranger = await makeTestIdp('https://elsewhere.example.org');
    const foreign = await certSign({ public_key: key(), jwt: await stranger.sign({ aud: 'cli-1', email: 'dana@example.org' }), hostname: 'bastion.example.org' });
    assert.equal(foreign.status, 401);
    assert.match(foreign.body.message, /not an identity provider of this application's account/);
    await stranger.close();
  });

  it('without a client id, sign-in is not offered and ID tokens are not taken', async () => {
    const put = await t.call('PUT', `${idpPath}/${idpId}`, { token: admin, body: { name: 'x', config: { issuer: idp.issuer, jwks: idp.jwks } } });
    assert.equal(put.body.result.config.client_secret_set, false, 'dropping the client drops its secret');
    const info = await t.call('GET', '/cdn-cgi/access/app?hostname=bastion.example.org');
    assert.equal(info.status, 404);
    assert.match(info.body.message, /sign-in is not set up/);
    const r = await certSign({ public_key: key(), jwt: await idp.sign({ aud: 'cli-1', email: 'dana@example.org' }), hostname: 'bastion.example.org' });
    assert.equal(r.status, 401);
  });
});
