import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const IDP_WRITE = 'Access: Organizations, Identity Providers, and Groups Write';
const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

/** A provider's signing key, and its JWK under a given kid. */
async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const sign = (issuer: string, aud: string, times: { iat?: number; exp?: number } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: 'pat@example.com', email_verified: true }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(issuer).setAudience(aud)
      .setIssuedAt(times.iat ?? now).setExpirationTime(times.exp ?? now + 300).sign(privateKey);
  };
  return { jwk, sign };
}

/** A loopback server whose answer per path the test sets; it counts connections. */
async function providerServer() {
  const answers = new Map<string, (res: import('node:http').ServerResponse) => void>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const answer = answers.get(req.url!);
    if (answer) answer(res);
    else res.writeHead(404).end();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    json: (path: string, body: unknown) => answers.set(path, (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))),
    raw: (path: string, answer: (res: import('node:http').ServerResponse) => void) => answers.set(path, answer),
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('security: identity providers\' JWKS URLs reach only public addresses, and what they serve is bounded', () => {
  let dev: TestApp;
  let strict: TestApp;
  let devTenant: Tenant;
  let strictTenant: Tenant;
  let devAdmin: string;
  let strictAdmin: string;
  let idpServer: Awaited<ReturnType<typeof providerServer>>;

  before(async () => {
    dev = await makeTestApp();
    strict = await makeTestApp({ config: { allowPrivateIdpAddresses: false } });
    devTenant = await dev.tenant();
    strictTenant = await strict.tenant();
    devAdmin = (await dev.identity.createToken({ accountId: devTenant.accountId, permissions: [IDP_WRITE, 'Access: Apps and Policies Write'] })).value;
    strictAdmin = (await strict.identity.createToken({ accountId: strictTenant.accountId, permissions: [IDP_WRITE] })).value;
    idpServer = await providerServer();
  });
  after(async () => {
    await dev.close();
    await strict.close();
    await idpServer.close();
  });

  const add = (t: TestApp, tenant: Tenant, token: string, jwksUrl: string, issuer = `https://idp-${Math.random().toString(36).slice(2, 8)}.example`) =>
    t.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token, body: { name: 'idp', config: { issuer, jwks_url: jwksUrl } } });

  const assertRefused = (r: Awaited<ReturnType<TestApp['call']>>, message: RegExp, label: string) => {
    assert.equal(r.status, 400, `${label}: ${r.raw}`);
    assert.equal(r.body.errors[0].code, 12130, label);
    assert.equal(r.body.errors[0].source.pointer, '/config/jwks_url', label);
    assert.match(r.body.errors[0].message, message, label);
  };

  it('refuses private, loopback, link-local, shared and mapped destinations at add, after DNS, without connecting', async () => {
    const { jwk } = await signingKey('k');
    idpServer.json('/ok', { keys: [jwk] });
    const before = idpServer.connections();
    const urls = [
      `https://127.0.0.1:${idpServer.port}/ok`,
      `https://localhost:${idpServer.port}/ok`, // a name: refused by the address it resolves to
      `https://[::1]:${idpServer.port}/ok`,
      `https://[::ffff:127.0.0.1]:${idpServer.port}/ok`,
      'https://169.254.169.254/latest/meta-data/iam/',
      'https://10.0.0.1/jwks',
      'https://100.64.0.1/jwks',
      'https://[fd00::1]/jwks',
      'https://0.0.0.0/jwks',
    ];
    for (const url of urls) {
      const r = await add(strict, strictTenant, strictAdmin, url);
      assertRefused(r, /^access\.api\.error\.invalid_request: the JWKS URL's host is not a public address .*--allow-private-idp/, url);
    }
    // Plain http to a loopback name passes the URL text check, and is refused by the fetcher.
    assertRefused(await add(strict, strictTenant, strictAdmin, `http://localhost:${idpServer.port}/ok`), /the JWKS URL must be https \(for development only: .*ACCESS_CA_ALLOW_PRIVATE_IDP=1/, 'http localhost');
    assert.equal(idpServer.connections(), before, 'no refused URL was connected to');
    const stored = await strict.db.selectFrom('identity_providers').selectAll().where('account_id', '=', strictTenant.accountId).execute();
    assert.equal(stored.length, 0);
    // The same URL with the development allowance is fetched and accepted.
    const ok = await add(dev, devTenant, devAdmin, idpServer.url('/ok'));
    assert.equal(ok.status, 201, ok.raw);
  });

  it('says at add what is wrong with the JWKS URL, and stores nothing', async () => {
    const { jwk } = await signingKey('k');
    idpServer.raw('/html', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'));
    idpServer.raw('/redirect', (res) => res.writeHead(301, { location: '/ok' }).end());
    idpServer.raw('/huge', (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const chunk = Buffer.alloc(64 * 1024, ' ');
      const pump = () => {
        while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
      };
      pump();
    });
    idpServer.json('/many', { keys: Array(101).fill(jwk) });
    idpServer.json('/unusable', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }, { ...jwk, use: 'enc' }, { kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' }] });
    const cases: [string, RegExp][] = [
      ['http://127.0.0.1:9/jwks', /could not be reached/],
      [idpServer.url('/missing'), /answered HTTP 404, not 200/],
      [idpServer.url('/html'), /did not answer with a JWKS/],
      [idpServer.url('/redirect'), /redirect \(HTTP 301\); redirects are not followed/],
      [idpServer.url('/huge'), /larger than 256 KiB/],
      [idpServer.url('/many'), /holds 101 keys; at most 100/],
      [idpServer.url('/unusable'), /holds 3 key\(s\) but none access-ca can verify tokens with/],
    ];
    const count = async () => (await dev.db.selectFrom('identity_providers').selectAll().where('account_id', '=', devTenant.accountId).execute()).length;
    const stored = await count();
    for (const [url, message] of cases) assertRefused(await add(dev, devTenant, devAdmin, url), message, url);
    assert.equal(await count(), stored);
  });

  it('checks the URL on update too, and keeps the provider as it was when refused', async () => {
    const { jwk } = await signingKey('k');
    idpServer.json('/update-ok', { keys: [jwk] });
    const created = await add(dev, devTenant, devAdmin, idpServer.url('/update-ok'));
    assert.equal(created.status, 201, created.raw);
    const path = scoped('account', devTenant.accountId, `/access/identity_providers/${created.body.result.id}`);
    const refused = await dev.call('PUT', path, { token: devAdmin, body: { name: 'idp', config: { issuer: created.body.result.config.issuer, jwks_url: idpServer.url('/nothing-here') } } });
    assertRefused(refused, /answered HTTP 404/, 'update');
    assert.equal((await dev.call('GET', path, { token: devAdmin })).body.result.config.jwks_url, idpServer.url('/update-ok'));
  });

  it('cert_sign tells the person which kind of failure it is, not the details: a provider that went away is 503 with retry-after, one that serves no keys 502', async () => {
    const key = await signingKey('k');
    idpServer.json('/flaky', { keys: [key.jwk] });
    const app = (await dev.call('POST', scoped('account', devTenant.accountId, '/access/apps'), { token: devAdmin, body: { name: 'flaky', domain: 'flaky.example.com' } })).body.result;
    await allowEveryone(dev, devTenant.accountId, app.id, devAdmin);
    assert.equal((await dev.call('POST', scoped('account', devTenant.accountId, `/access/apps/${app.id}/ca`), { token: devAdmin })).status, 200);
    const closed = await providerServer();
    closed.json('/keys', { keys: [key.jwk] });
    const issuers = { answering: 'https://answering.example', closed: 'https://closed.example' };
    assert.equal((await add(dev, devTenant, devAdmin, idpServer.url('/flaky'), issuers.answering)).status, 201);
    assert.equal((await add(dev, devTenant, devAdmin, closed.url('/keys'), issuers.closed)).status, 201);
    // After the add, one provider starts answering with HTML and the other goes away.
    idpServer.raw('/flaky', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'));
    await closed.close();
    const answering = await dev.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await key.sign(issuers.answering, app.aud) } });
    assert.equal(answering.status, 502, answering.raw);
    assert.equal(answering.body.message, 'the identity provider\'s keys could not be fetched: its JWKS URL does not serve a usable key set; tell the server\'s administrator (the server\'s log says why)');
    const gone = await dev.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await key.sign(issuers.closed, app.aud) } });
    assert.equal(gone.status, 503, gone.raw);
    assert.equal(gone.headers['retry-after'], '10');
    assert.equal(gone.body.message, 'the identity provider\'s keys could not be fetched: the provider did not answer; try again shortly');
  });

  it('a provider the CLI added on a loopback address (ACCESS_CA_ALLOW_PRIVATE_IDP=1) is refused by a strict server, and the person is told why and which flag allows it', async () => {
    const key = await signingKey('k');
    idpServer.json('/loopback-keys', { keys: [key.jwk] });
    const issuer = 'https://loopback-idp.example';
    const added = await runCliInProcess(['--data-dir', strict.dir, 'idp', 'create', '--account', strictTenant.accountId, '--issuer', issuer, '--jwks-url', idpServer.url('/loopback-keys')], { ACCESS_CA_ALLOW_PRIVATE_IDP: '1' });
    assert.equal(added.code, 0, added.stderr);
    const admin = (await strict.identity.createToken({ accountId: strictTenant.accountId, permissions: [IDP_WRITE, 'Access: Apps and Policies Write'] })).value;
    const app = (await strict.call('POST', scoped('account', strictTenant.accountId, '/access/apps'), { token: admin, body: { name: 'lo', domain: `lo.${strictTenant.zoneName}` } })).body.result;
    await allowEveryone(strict, strictTenant.accountId, app.id, admin);
    assert.equal((await strict.call('POST', scoped('account', strictTenant.accountId, `/access/apps/${app.id}/ca`), { token: admin })).status, 200);
    const r = await strict.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await key.sign(issuer, app.aud) } });
    assert.equal(r.status, 502, r.raw);
    assert.match(r.body.message, /on a private, loopback or link-local address or is not https, which this server does not fetch \(for development only, serve --allow-private-idp \(or ACCESS_CA_ALLOW_PRIVATE_IDP=1\) allows it\)/);
    assert.doesNotMatch(r.body.message, /try again/);
    assert.doesNotMatch(r.body.message, /127\.0\.0\.1/, 'no address is named');
  });

  it('a provider key replaced by a PUT in the same second, same length, is refused at once; the new one is taken', async () => {
    const old = await signingKey('k');
    const replacement = await signingKey('k');
    const app = (await dev.call('POST', scoped('account', devTenant.accountId, '/access/apps'), { token: devAdmin, body: { name: 'rotate', domain: 'rotate.example.com' } })).body.result;
    await allowEveryone(dev, devTenant.accountId, app.id, devAdmin);
    await dev.call('POST', scoped('account', devTenant.accountId, `/access/apps/${app.id}/ca`), { token: devAdmin });
    const issuer = 'https://rotate.example';
    const idpPath = scoped('account', devTenant.accountId, '/access/identity_providers');
    const created = await dev.call('POST', idpPath, { token: devAdmin, body: { name: 'r', config: { issuer, jwks: { keys: [old.jwk] } } } });
    assert.equal(created.status, 201, created.raw);
    const certSign = async (jwt: string) => dev.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt } });
    assert.equal((await certSign(await old.sign(issuer, app.aud))).status, 200, 'the old key works before the update');
    // Same updated_at second (the whole test takes milliseconds) and same JWKS length.
    assert.equal(JSON.stringify(old.jwk).length, JSON.stringify(replacement.jwk).length);
    const updated = await dev.call('PUT', `${idpPath}/${created.body.result.id}`, { token: devAdmin, body: { name: 'r', config: { issuer, jwks: { keys: [replacement.jwk] } } } });
    assert.equal(updated.status, 200, updated.raw);
    const refused = await certSign(await old.sign(issuer, app.aud));
    assert.equal(refused.status, 401, refused.raw);
    assert.match(refused.body.message, /token signature does not verify/);
    const taken = await certSign(await replacement.sign(issuer, app.aud));
    assert.equal(taken.status, 200, taken.raw);
  });

  it('cert_sign refuses a token living longer than the provider\'s max_token_lifetime, or too old', async () => {
    const key = await signingKey('k');
    const app = (await dev.call('POST', scoped('account', devTenant.accountId, '/access/apps'), { token: devAdmin, body: { name: 'life', domain: 'life.example.com' } })).body.result;
    await allowEveryone(dev, devTenant.accountId, app.id, devAdmin);
    await dev.call('POST', scoped('account', devTenant.accountId, `/access/apps/${app.id}/ca`), { token: devAdmin });
    const issuer = 'https://lifetime.example';
    const created = await dev.call('POST', scoped('account', devTenant.accountId, '/access/identity_providers'), {
      token: devAdmin, body: { name: 'l', config: { issuer, jwks: { keys: [key.jwk] }, max_token_lifetime: '1h' } },
    });
    assert.equal(created.status, 201, created.raw);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, { iat: number; exp: number }, RegExp][] = [
      ['lives 2h', { iat: now, exp: now + 7200 }, /^token lifetime \(exp − iat\) is longer than the 1h this identity provider allows/],
      ['year 3000', { iat: 0, exp: 32503680000 }, /^token was issued more than 1h ago/],
      ['issued 2h ago', { iat: now - 7200, exp: now + 60 }, /^token was issued more than 1h ago/],
    ];
    for (const [name, times, message] of cases) {
      const r = await dev.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await key.sign(issuer, app.aud, times) } });
      assert.equal(r.status, 401, `${name}: ${r.raw}`);
      assert.match(r.body.message, message, name);
    }
  });

  it('idp add on the command line says how many keys it found, and refuses loopback without the allowance', async () => {
    const dir = testTempDir('access-ca-jwks-');
    const cli = (args: string[], env: Record<string, string> = {}) => runCliInProcess(['--data-dir', join(dir, 'data'), ...args], env);
    const account = JSON.parse((await cli(['account', 'create', '--name', 'x', '--json'])).stdout).id;
    const a = await signingKey('a');
    const b = await signingKey('b');
    idpServer.json('/cli', { keys: [a.jwk, b.jwk, { kty: 'oct', k: 'c2VjcmV0' }] });
    const refused = await cli(['idp', 'add', '--account', account, '--issuer', 'https://cli-strict.example', '--jwks-url', idpServer.url('/cli')], { ACCESS_CA_ALLOW_PRIVATE_IDP: '0' });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /the JWKS URL's host is not a public address .* \(\/config\/jwks_url\)/);
    const added = await cli(['idp', 'add', '--account', account, '--issuer', 'https://cli.example', '--jwks-url', idpServer.url('/cli')]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /identity provider [0-9a-f-]{36} created: .* \(2 usable keys found at its JWKS URL\)/, 'the result goes to stdout');
  });
});
