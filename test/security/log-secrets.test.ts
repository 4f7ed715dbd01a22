import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { startServer, runCliInProcess, type ServerProcess } from '../helpers/server-process.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('security: no token, key, JWT or client secret ever reaches the server\'s log', () => {
  let server: ServerProcess;
  let idp: TestIdp;
  const secrets: string[] = [];

  before(async () => {
    // The most talkative level: whatever a log line could carry, this run would show it.
    server = await startServer({ env: { ACCESS_CA_LOG_LEVEL: 'trace' } });
    idp = await makeTestIdp('https://login.logs.example');
  });
  after(async () => {
    await server.stop();
    await idp.close();
  });

  const call = async (method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown; token?: string } = {}) => {
    const res = await fetch(path.startsWith('/cdn-cgi') ? `${server.origin}${path}` : `${server.base}${path}`, {
      method,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('a whole working day through the API, cert_sign and refusals, then the log is searched for every secret', async () => {
    const acct = `/accounts/${server.accountId}`;
    secrets.push(server.token);
    const user = await runCliInProcess(['--data-dir', server.dataDir, 'user', 'create', '--email', 'ops@example.com', '--account', server.accountId, '--json']);
    assert.equal(user.code, 0, user.stderr);
    const apiKey = JSON.parse(user.stdout).api_key as string;
    secrets.push(apiKey);
    const signer = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, '--permission', 'Access: SSH Certificates Sign', '--permission', 'Access: Organizations, Identity Providers, and Groups Write', '--json']);
    const signToken = JSON.parse(signer.stdout).value as string;
    secrets.push(signToken);

    const clientSecret = `cs-${randomUUID()}`;
    secrets.push(clientSecret);
    const provider = await call('POST', `${acct}/access/identity_providers`, { token: signToken, body: { name: 'login', config: { issuer: idp.issuer, jwks: idp.jwks, client_id: 'cli', client_secret: clientSecret } } });
    assert.equal(provider.status, 201, JSON.stringify(provider.body));
    const app = (await call('POST', `${acct}/access/apps`, { token: server.token, body: { name: 'logs', domain: `logs-${randomUUID()}.example.com` } })).body.result;
    assert.equal((await call('POST', `${acct}/access/apps/${app.id}/ca`, { token: server.token })).status, 200);
    await call('POST', `${acct}/access/apps/${app.id}/policies`, { token: server.token, body: { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] } });

    const good = await idp.sign({ aud: [app.aud], email: 'alice@example.com' });
    const refused = await idp.sign({ aud: [app.aud], email: 'eve@partner.example' });
    const expired = await idp.sign({ aud: [app.aud], email: 'alice@example.com' }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
    const forged = `${good.slice(0, good.lastIndexOf('.'))}.${Buffer.from('not the signature').toString('base64url')}`;
    for (const jwt of [good, refused, expired, forged]) secrets.push(jwt, jwt.split('.')[2]!);
    assert.equal((await call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: good } })).status, 200);
    assert.equal((await call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: refused } })).status, 403);
    assert.equal((await call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: expired } })).status, 401);
    assert.equal((await call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: forged } })).status, 401);
    assert.equal((await call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: 'ssh-ed25519 AAAA', jwt: good } })).status, 400);

    const wrongToken = `wrong-${randomUUID()}`;
    const wrongKey = `k${randomUUID().replace(/-/g, '')}`;
    secrets.push(wrongToken, wrongKey);
    assert.equal((await call('GET', `${acct}/access/apps`, { token: wrongToken })).status, 403);
    assert.equal((await call('GET', `${acct}/access/apps`, { headers: { 'x-auth-email': 'ops@example.com', 'x-auth-key': apiKey } })).status, 200);
    assert.equal((await call('GET', `${acct}/access/apps`, { headers: { 'x-auth-email': 'ops@example.com', 'x-auth-key': wrongKey } })).status, 403);
    assert.equal((await call('GET', '/user/tokens/verify', { token: signToken })).status, 200);
    assert.equal((await call('POST', `${acct}/access/apps/${app.id}/ca/sign`, { token: signToken, body: { public_key: keyLine(), principals: ['root'] } })).status, 403);
    assert.equal((await call('PUT', `${acct}/access/identity_providers/${provider.body.result.id}`, { token: signToken, body: { name: 'login', config: { issuer: idp.issuer, jwks: idp.jwks, client_id: 'cli', client_secret: `${clientSecret}-2` } } })).status, 200);
    secrets.push(`${clientSecret}-2`);

    await server.stop();
    const log = server.stdout();
    assert.ok(log.split('\n').filter(Boolean).length >= 20, 'the server logged the day (so the search below means something)');
    const lines = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusal = lines.find((l) => l['event'] === 'cert_sign.decision' && l['decision'] === 'refused');
    assert.equal(refusal?.['identity'], 'eve@partner.example', 'a refusal names who, for operators');
    assert.equal(refusal?.['app_id'], app.id);
    assert.match(String(refusal?.['reason']), /none of the 1 policies matched/);
    assert.ok(lines.some((l) => l['event'] === 'cert_sign.decision' && l['decision'] === 'issued' && l['identity'] === 'alice@example.com'), 'an issue is logged');
    assert.ok(lines.some((l) => l['event'] === 'cdn_cgi.refused' && l['status'] === 401 && /expired/.test(String(l['reason']))), 'a refused token is logged with its reason');
    for (const secret of secrets) assert.ok(!log.includes(secret), `the log holds a secret (${secret.slice(0, 6)}…)`);
    assert.doesNotMatch(log, /PRIVATE KEY|"d":"/, 'no private key material');
    assert.ok(!server.stderr().includes(signToken) && !server.stderr().includes(clientSecret), 'stderr holds only the first-start banner\'s token');
  });
});
