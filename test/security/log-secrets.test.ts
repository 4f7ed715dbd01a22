import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, runCliInProcess, type ServerProcess } from '../helpers/server-process.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { enrollTestHost, testHostKey } from '../helpers/fleet-host.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { secretHash } from '../../src/identity/identity-service.ts';
import { createSoftHsmToken, softhsmUnavailable, type SoftHsmToken } from '../helpers/softhsm.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

describe('security: no token, key, JWT or client secret ever reaches the server\'s log or its audit stream', () => {
  let server: ServerProcess;
  let idp: TestIdp;
  const secrets: string[] = [];
  // The audit stream (serve --audit-log) is searched as the log is.
  const auditLog = join(testTempDir('access-ca-log-secrets-'), 'audit.log');
  // Where SoftHSM2 is (npm test), the CA's keys live in a PKCS#11 token and its PIN is a secret too.
  const hsm: SoftHsmToken | undefined = softhsmUnavailable() === null ? createSoftHsmToken() : undefined;

  before(async () => {
    // The most talkative level: whatever a log line could carry, this run would show it.
    const pkcs11 = hsm ? ['--pkcs11-module', hsm.module, '--pkcs11-token-label', hsm.label, '--pkcs11-pin-file', hsm.pinFile, '--ca-key-storage', 'pkcs11'] : [];
    server = await startServer({ env: { ACCESS_CA_LOG_LEVEL: 'trace', ...hsm?.env }, args: ['--audit-log', auditLog, ...pkcs11] });
    idp = await makeTestIdp('https://login.logs.example');
    if (hsm) secrets.push(hsm.pin);
  });
  after(async () => {
    await server.stop();
    await idp.close();
    hsm?.remove();
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
    if (hsm) assert.match(server.stderr(), /new CAs' keys are made there/, 'the day\'s CA keys live in the token');
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

    // The rest of the day, with a token that may do everything: every kind of change that makes an audit event.
    const made = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, ...PERMISSION_GROUPS.flatMap((g) => ['--permission', g]), '--json']);
    const admin = JSON.parse(made.stdout).value as string;
    secrets.push(admin);
    const expect = async (status: number, method: string, path: string, body?: unknown, token = admin) => {
      const r = await call(method, path, { token, ...(body === undefined ? {} : { body }) });
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      return r.body.result;
    };
    const appAt = `${acct}/access/apps/${app.id}`;
    for (const step of ['rotate', 'rotate/activate', 'rotate/retire']) await expect(200, 'POST', `${appAt}/ca/${step}`);
    await expect(200, 'PUT', `${appAt}/ca/policy`, { principals: { allow: ['deploy-*'] } });
    const signed = await expect(200, 'POST', `${appAt}/ca/sign`, { public_key: keyLine(), principals: ['deploy-web'] }, signToken);
    await expect(403, 'POST', `${appAt}/ca/sign`, { public_key: keyLine(), principals: ['root'] }, signToken);
    await expect(200, 'POST', `${appAt}/ca/certificates/${signed.id}/revoke`, { reason: 'laptop stolen' });
    await expect(200, 'POST', `${appAt}/ca/certificates/revoke`, { identity: 'alice@example.com', reason: 'left' });
    const group = await expect(201, 'POST', `${acct}/access/groups`, { name: 'ops', include: [{ email: { email: 'ops@example.com' } }] });
    await expect(200, 'PUT', `${acct}/access/groups/${group.id}`, { name: 'ops team', include: [{ email: { email: 'ops@example.com' } }] });
    const reusable = await expect(201, 'POST', `${acct}/access/policies`, { name: 'ops', decision: 'allow', include: [{ group: { id: group.id } }] });
    await expect(200, 'PUT', `${acct}/access/policies/${reusable.id}`, { name: 'ops', decision: 'deny', include: [{ group: { id: group.id } }] });
    await expect(202, 'DELETE', `${acct}/access/policies/${reusable.id}`);
    await expect(202, 'DELETE', `${acct}/access/groups/${group.id}`);
    const target = await expect(201, 'POST', `${acct}/infrastructure/targets`, { hostname: `web-${randomUUID().slice(0, 8)}.logs.example` });
    const spare = await expect(200, 'POST', `${acct}/infrastructure/targets/${target.id}/join_token`, {});
    const join = await expect(200, 'POST', `${acct}/infrastructure/targets/${target.id}/join_token`, {});
    secrets.push(spare.token, join.token);
    await expect(200, 'DELETE', `${acct}/infrastructure/targets/${target.id}/join_tokens/${spare.id}`);
    const hostKey = testHostKey();
    const enrolled = await enrollTestHost(async (path, body) => {
      const r = await fetch(`${server.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: await r.json() };
    }, join.token, [hostKey]);
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    secrets.push(enrolled.body.result.credential);
    for (const step of ['rotate', 'rotate/activate', 'rotate/retire']) await expect(200, 'POST', `${acct}/access/host_ca/${step}`);
    await expect(200, 'POST', `${acct}/access/host_ca/revoked_keys`, { public_key: testHostKey().line, reason: 'key leaked' });
    await expect(200, 'DELETE', `${acct}/infrastructure/hosts/${enrolled.body.result.id}`);
    await expect(202, 'DELETE', `${acct}/access/identity_providers/${provider.body.result.id}`);
    await expect(202, 'DELETE', `${appAt}/ca`);

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

    // The audit stream: every event of the day, each line only the event's fields, and not one secret or its hash.
    const stream = readFileSync(auditLog, 'utf8');
    const events = stream.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) assert.deepEqual(Object.keys(e).sort(), ['account_id', 'actor', 'created_at', 'data', 'id', 'stream', 'subject', 'type']);
    const types = new Set(events.map((e) => e['type']));
    for (const type of [
      'api_token.created', 'identity_provider.created', 'identity_provider.updated', 'identity_provider.deleted', 'ssh_ca.created', 'ssh_ca.rotated',
      'ssh_ca.activated', 'ssh_ca.retired', 'ssh_ca.deleted', 'access_policy.created', 'access_policy.updated', 'access_policy.deleted', 'access_group.created',
      'access_group.updated', 'access_group.deleted', 'ssh_certificate.issued', 'ssh_certificate.refused', 'ssh_certificate.revoked', 'host_join_token.created',
      'host_join_token.deleted', 'host.enrolled', 'host_ca.rotated', 'host_ca.activated', 'host_ca.retired', 'host_key.revoked', 'host.removed',
    ]) assert.ok(types.has(type), `the stream has a ${type} event`);
    for (const secret of secrets) {
      assert.ok(!stream.includes(secret), `the audit stream holds a secret (${secret.slice(0, 6)}…)`);
      assert.ok(!stream.includes(secretHash(secret)), `the audit stream holds a secret's hash (${secret.slice(0, 6)}…)`);
    }
    assert.doesNotMatch(stream, /PRIVATE KEY|"d":"|eyJ[\w-]+\.eyJ/, 'no private key material, no JWT');
  });
});
