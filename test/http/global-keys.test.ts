import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { runCliInProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable } from '../helpers/databases.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/deployment.ts';
import { createAuthenticator } from '../../src/identity/authenticate.ts';
import { createAuthFailureLimiter } from '../../src/identity/auth-failure-limiter.ts';
import { secretHash } from '../../src/identity/identity-service.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { ApiError } from '../../src/platform/http/errors.ts';
import { parseGlobalKeys } from '../../src/cli/serve-command.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const DISABLED = 'Global API keys (X-Auth-Email/X-Auth-Key) are disabled on this server; use an API token (Authorization: Bearer)';

const json = (s: string) => {
  const lines = s.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line of JSON on stdout, got: ${s}`);
  return JSON.parse(lines[0]!);
};
const keyHeaders = (email: string, key: string) => ({ 'x-auth-email': email, 'x-auth-key': key });

describe('global API keys can be withdrawn: user rotate-key, user remove, user list', () => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  const cli = (...args: string[]) => runCliInProcess(['--data-dir', t.dir, ...args]);
  before(async () => {
    t = await makeTestApp();
    a = await t.tenant();
    b = await t.tenant();
  });
  after(() => t.close());

  const withKey = (tenant: Tenant, email: string, key: string) =>
    t.call('GET', scoped('account', tenant.accountId, '/access/apps'), { headers: keyHeaders(email, key) });

  it('rotate-key (CLI): the old key is 403 9103 at once, the new one (printed once, 37 hex) works', async () => {
    assert.equal((await withKey(a, a.email, a.apiKey)).status, 200);
    const r = await cli('user', 'rotate-key', '--email', a.email.toUpperCase(), '--json');
    assert.equal(r.code, 0, r.stderr);
    const rotated = json(r.stdout);
    assert.deepEqual(Object.keys(rotated).sort(), ['api_key', 'email', 'id']);
    assert.equal(rotated.email, a.email);
    assert.match(rotated.api_key, /^[0-9a-f]{37}$/);
    assert.notEqual(rotated.api_key, a.apiKey);

    const old = await withKey(a, a.email, a.apiKey);
    assert.equal(old.status, 403, old.raw);
    assert.deepEqual(old.body.errors, [{ code: 9103, message: 'Unknown X-Auth-Key or X-Auth-Email' }]);
    assert.equal((await withKey(a, a.email, rotated.api_key)).status, 200);
    // The store holds the new key's hash only.
    const row = await t.db.selectFrom('users').select('api_key_sha256').where('email', '=', a.email).executeTakeFirstOrThrow();
    assert.equal(row.api_key_sha256, secretHash(rotated.api_key));
    a.apiKey = rotated.api_key;

    const human = await cli('user', 'rotate-key', '--email', a.email);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /old key no longer works/);
    const printed = /^([0-9a-f]{37})$/m.exec(human.stdout)?.[1];
    assert.ok(printed, human.stdout);
    assert.equal((await withKey(a, a.email, a.apiKey)).status, 403, 'the key of the first rotation is gone too');
    assert.equal((await withKey(a, a.email, printed)).status, 200);
    a.apiKey = printed;
  });

  it('user list shows users and their accounts, never a key or its hash; --account lists its members only', async () => {
    const all = await cli('user', 'list', '--json');
    assert.equal(all.code, 0, all.stderr);
    const users = json(all.stdout).users as { id: string; email: string; account_ids: string[] }[];
    assert.deepEqual(users.map((u) => u.email).sort(), [a.email, b.email].sort());
    for (const u of users) assert.deepEqual(Object.keys(u).sort(), ['account_ids', 'created_at', 'email', 'id']);
    assert.deepEqual(users.find((u) => u.email === a.email)!.account_ids, [a.accountId]);
    const hashes = (await t.db.selectFrom('users').select('api_key_sha256').execute()).map((r) => r.api_key_sha256);
    for (const secret of [a.apiKey, b.apiKey, ...hashes]) assert.ok(!all.stdout.includes(secret) && !all.stderr.includes(secret), 'a key or hash was printed');

    const onlyB = json((await cli('user', 'list', '--account', b.accountId, '--json')).stdout).users;
    assert.deepEqual(onlyB.map((u: { email: string }) => u.email), [b.email]);
    const human = await cli('user', 'list', '--account', b.accountId);
    assert.ok(human.stdout.includes(b.email) && human.stdout.includes(b.accountId), human.stdout);
  });

  it('remove (CLI): the key is 403 9103 at once; the user is gone; another user is untouched', async () => {
    assert.equal((await withKey(b, b.email, b.apiKey)).status, 200);
    const r = await cli('user', 'remove', '--email', b.email, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r.stdout).removed, true);
    const refused = await withKey(b, b.email, b.apiKey);
    assert.equal(refused.status, 403, refused.raw);
    assert.equal(refused.body.errors[0].code, 9103);
    assert.deepEqual(json((await cli('user', 'list', '--json')).stdout).users.map((u: { email: string }) => u.email), [a.email]);
    assert.equal((await t.db.selectFrom('account_members').selectAll().where('account_id', '=', b.accountId).execute()).length, 0);
    assert.equal((await withKey(a, a.email, a.apiKey)).status, 200);
  });

  it('refuses an unknown or malformed email with exit 2 and a message', async () => {
    for (const [args, message] of [
      [['user', 'rotate-key', '--email', 'nobody@example.com', '--json'], /no user nobody@example\.com/],
      [['user', 'remove', '--email', b.email, '--json'], /no user/],
      [['user', 'rotate-key', '--email', 'not-an-email', '--json'], /--email/],
      [['user', 'list', '--account', 'f'.repeat(32), '--json'], /no account/],
    ] as const) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(json(r.stdout).error, message);
    }
  });
});

describe('globalKeys: false (serve --no-global-keys, ACCESS_CA_GLOBAL_KEYS=off)', () => {
  let t: TestApp;
  let a: Tenant;
  before(async () => {
    t = await makeTestApp({ config: { globalKeys: false } });
    a = await t.tenant();
  });
  after(() => t.close());

  it('a valid key is refused with 403 9103 and the message; a token still works', async () => {
    const path = scoped('account', a.accountId, '/access/apps');
    const r = await t.call('GET', path, { headers: keyHeaders(a.email, a.apiKey) });
    assert.equal(r.status, 403, r.raw);
    assert.deepEqual(r.body, { success: false, errors: [{ code: 9103, message: DISABLED }], messages: [], result: null });
    assert.ok(!r.raw.includes(a.apiKey));
    // Well-formed or not, a key header is refused as such: the caller learns what to do instead.
    const malformed: Record<string, string>[] = [{ 'x-auth-email': a.email }, { 'x-auth-key': 'k' }, keyHeaders('broken', a.apiKey)];
    for (const headers of malformed) {
      const bad = await t.call('GET', path, { headers });
      assert.equal(bad.status, 403, JSON.stringify(headers));
      assert.equal(bad.body.errors[0].message, DISABLED);
    }
    assert.equal((await t.call('GET', path, { token: a.read })).status, 200);
    // Any one credential that authorizes is enough, as always: a token next to a refused key works.
    assert.equal((await t.call('GET', path, { token: a.read, headers: keyHeaders(a.email, a.apiKey) })).status, 200);
    const both = await t.call('GET', path, { headers: { ...keyHeaders(a.email, a.apiKey), authorization: 'Bearer unknown-token' } });
    assert.equal(both.status, 403);
    assert.equal(both.body.errors[0].message, DISABLED, 'the key failure is reported first');
  });

  it('the key is never looked up: the authenticator refuses before the store', async () => {
    let lookups = 0;
    const store = {
      findUserByKey: async () => { lookups++; throw new Error('the store was asked for a user'); },
      findTokenBySecret: async () => undefined,
      getZone: async () => undefined,
    };
    const auth = createAuthenticator({ store, clock: systemClock, limiter: createAuthFailureLimiter(0, systemClock), globalKeys: false });
    await assert.rejects(
      auth.authorize(keyHeaders(a.email, a.apiKey), { kind: 'account', accountId: a.accountId }, ['Access: Apps and Policies Read'], '127.0.0.1'),
      (e: unknown) => e instanceof ApiError && e.status === 403 && e.code === 9103 && e.message === DISABLED,
    );
    assert.equal(lookups, 0);
    const on = createAuthenticator({ store, clock: systemClock, limiter: createAuthFailureLimiter(0, systemClock), globalKeys: true });
    await assert.rejects(on.authorize(keyHeaders(a.email, a.apiKey), { kind: 'account', accountId: a.accountId }, ['Access: Apps and Policies Read'], '127.0.0.1'), /asked for a user/);
    assert.equal(lookups, 1, 'with keys on, the same request does reach the store');
  });

  it('ACCESS_CA_GLOBAL_KEYS takes on/off (default on) and refuses anything else', async () => {
    assert.equal(parseGlobalKeys(undefined), true);
    assert.equal(parseGlobalKeys('on'), true);
    assert.equal(parseGlobalKeys('OFF'), false);
    assert.equal(parseGlobalKeys('0'), false);
    assert.throws(() => parseGlobalKeys('no thanks'), /ACCESS_CA_GLOBAL_KEYS must be on or off/);
    const r = await runCliInProcess(['--data-dir', join(testTempDir('access-ca-gk-'), 'data'), 'serve'], { ACCESS_CA_GLOBAL_KEYS: 'maybe' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ACCESS_CA_GLOBAL_KEYS must be on or off/);
  });

  it('a real server: --no-global-keys and ACCESS_CA_GLOBAL_KEYS=off both refuse a valid key; without them it works', async () => {
    const servers: ServerProcess[] = [];
    try {
      const ways: { args?: string[]; env?: Record<string, string> }[] = [{ args: ['--no-global-keys'] }, { env: { ACCESS_CA_GLOBAL_KEYS: 'off' } }, {}];
      for (const how of ways) {
        const node = await startServer(how);
        servers.push(node);
        const made = await runCliInProcess(['--data-dir', node.dataDir, 'user', 'create', '--email', 'ops@example.com', '--account', node.accountId, '--json']);
        assert.equal(made.code, 0, made.stderr);
        const res = await fetch(`${node.base}/accounts/${node.accountId}/access/apps`, { headers: keyHeaders('ops@example.com', json(made.stdout).api_key) });
        const body = (await res.json()) as any;
        if (how.args || how.env) {
          assert.equal(res.status, 403, JSON.stringify(how));
          assert.equal(body.errors[0].message, DISABLED);
          assert.match(node.stderr(), /global API keys are off/);
        } else {
          assert.equal(res.status, 200, JSON.stringify(body));
        }
        const viaToken = await fetch(`${node.base}/accounts/${node.accountId}/access/apps`, { headers: { authorization: `Bearer ${node.token}` } });
        assert.equal(viaToken.status, 200);
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});

const skip = await postgresUnavailable();

describe('two nodes on one PostgreSQL database: a withdrawn key fails on both at once', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let a: ServerProcess;
  let b: ServerProcess;
  let env: Record<string, string>;
  let accountId: string;
  let dataDir: string;

  before(async () => {
    nodes = await startTwoNodes();
    ({ a, b, env } = nodes);
    const { first } = nodes;
    accountId = first.accountId;
    dataDir = first.dataDir;
  });
  after(async () => {
    await nodes?.stop();
  });

  const cli = (...args: string[]) => runCliInProcess(['--data-dir', dataDir, ...args], env);
  const status = async (node: ServerProcess, email: string, key: string) =>
    (await fetch(`${node.base}/accounts/${accountId}/access/apps`, { headers: keyHeaders(email, key) })).status;

  it('rotate-key via the CLI on the shared database: the old key is 403 on A and B at once, the new one 200 on both; remove: 403 on both', async () => {
    const made = await cli('user', 'create', '--email', 'breakglass@example.com', '--account', accountId, '--json');
    assert.equal(made.code, 0, made.stderr);
    const oldKey = json(made.stdout).api_key as string;
    // Both nodes have served the key (anything they could cache, they would have cached now).
    for (let i = 0; i < 3; i++) assert.deepEqual([await status(a, 'breakglass@example.com', oldKey), await status(b, 'breakglass@example.com', oldKey)], [200, 200]);

    const rotated = await cli('user', 'rotate-key', '--email', 'breakglass@example.com', '--json');
    assert.equal(rotated.code, 0, rotated.stderr);
    const newKey = json(rotated.stdout).api_key as string;
    assert.deepEqual([await status(a, 'breakglass@example.com', oldKey), await status(b, 'breakglass@example.com', oldKey)], [403, 403]);
    assert.deepEqual([await status(a, 'breakglass@example.com', newKey), await status(b, 'breakglass@example.com', newKey)], [200, 200]);

    const removed = await cli('user', 'remove', '--email', 'breakglass@example.com', '--json');
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual([await status(a, 'breakglass@example.com', newKey), await status(b, 'breakglass@example.com', newKey)], [403, 403]);
  });
});
