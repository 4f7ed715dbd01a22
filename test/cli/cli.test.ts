import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCliInProcess, runCliProcess, startServer } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const fresh = () => join(testTempDir('access-ca-cli-'), 'data');
const json = (s: string) => {
  const lines = s.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line of JSON on stdout, got: ${s}`);
  return JSON.parse(lines[0]!);
};

describe('CLI', () => {
  it('admin verbs work offline on a fresh data dir and print one compact JSON line', async () => {
    const dir = fresh();
    const cli = (...args: string[]) => runCliInProcess(['--data-dir', dir, ...args]);
    const account = await cli('account', 'create', '--name', 'Platform', '--json');
    assert.equal(account.code, 0, account.stderr);
    const a = json(account.stdout);
    assert.match(a.id, /^[0-9a-f]{32}$/);
    assert.equal(a.name, 'Platform');
    assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'access-ca.db')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);

    const zone = json((await cli('zone', 'create', '--account', a.id, '--name', 'Example.COM', '--json')).stdout);
    assert.deepEqual(Object.keys(zone).sort(), ['account_id', 'id', 'name']);
    assert.equal(zone.name, 'example.com');
    assert.deepEqual(json((await cli('zone', 'list', '--account', a.id, '--json')).stdout).zones.map((z: { id: string }) => z.id), [zone.id]);

    const token = json((await cli('token', 'create', '--account', a.id, '--zone', zone.id, '--permission', 'Access: Apps and Policies Read', '--name', 'ci', '--expires-on', '2999-01-01T00:00:00Z', '--json')).stdout);
    assert.deepEqual(Object.keys(token).sort(), ['id', 'value']);
    const listed = await cli('token', 'list', '--json');
    assert.ok(!listed.stdout.includes(token.value), 'token list never shows a value');
    const row = json(listed.stdout).tokens.find((x: { id: string }) => x.id === token.id);
    assert.equal(row.zone_id, zone.id);
    assert.equal(row.status, 'active');
    assert.deepEqual(row.permissions, ['Access: Apps and Policies Read']);
    assert.deepEqual(json((await cli('token', 'revoke', token.id, '--json')).stdout), { id: token.id, status: 'disabled' });
    assert.equal(json((await cli('token', 'list', '--account', a.id, '--json')).stdout).tokens[0].status, 'disabled');

    const user = json((await cli('user', 'create', '--email', 'JDoe@Example.com', '--account', a.id, '--json')).stdout);
    assert.equal(user.email, 'jdoe@example.com');
    assert.match(user.api_key, /^[0-9a-f]{37}$/);

    const app = json((await cli('app', 'create', '--account', a.id, '--name', 'bastion', '--domain', 'ssh.example.com', '--json')).stdout);
    assert.match(app.aud, /^[0-9a-f]{64}$/);
    assert.equal(app.type, 'self_hosted');
    const zoneApp = json((await cli('app', 'create', '--account', a.id, '--zone', zone.id, '--name', 'z', '--domain', 'z.example.com', '--json')).stdout);
    assert.deepEqual(json((await cli('app', 'list', '--account', a.id, '--json')).stdout).apps.map((x: { id: string }) => x.id), [app.id]);
    assert.deepEqual(json((await cli('app', 'list', '--account', a.id, '--zone', zone.id, '--json')).stdout).apps.map((x: { id: string }) => x.id), [zoneApp.id]);
    assert.equal(json((await cli('account', 'list', '--json')).stdout).accounts.length, 1);

    // A second account: from now on, hosts are the operator's to delegate, by zone.
    const second = await cli('account', 'create', '--name', 'Team B', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /zone create --account/);
    const b = json(second.stdout);
    const unzoned = await cli('app', 'create', '--account', b.id, '--name', 'b', '--domain', 'b.example.net', '--json');
    assert.notEqual(unzoned.code, 0);
    assert.match(unzoned.stderr + unzoned.stdout, /no zone of this account/);
    const taken = await cli('zone', 'create', '--account', b.id, '--name', 'example.com', '--json');
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr + taken.stdout, /already delegated to account/);
    assert.equal((await cli('zone', 'create', '--account', b.id, '--name', 'b.example.net', '--json')).code, 0);
    assert.equal((await cli('app', 'create', '--account', b.id, '--name', 'b', '--domain', 'b.example.net', '--json')).code, 0);
  });

  it('refuses bad input with exit 2, a message on stderr and a JSON error on stdout', async () => {
    const dir = fresh();
    const cli = (...args: string[]) => runCliInProcess(['--data-dir', dir, ...args]);
    const a = json((await cli('account', 'create', '--name', 'x', '--json')).stdout);
    const cases: [string[], RegExp][] = [
      [['token', 'create', '--account', a.id, '--permission', 'Root', '--json'], /unknown permission group "Root"/],
      [['token', 'create', '--account', a.id, '--json'], /at least one --permission/],
      [['token', 'create', '--account', a.id, '--permission', 'Access: Apps and Policies Read', '--expires-on', 'tomorrow', '--json'], /RFC 3339/],
      [['token', 'create', '--account', 'f'.repeat(32), '--permission', 'Access: Apps and Policies Read', '--json'], /no account/],
      [['token', 'revoke', 'nope', '--json'], /no token nope/],
      [['zone', 'create', '--account', a.id, '--name', 'not a domain', '--json'], /DNS name/],
      [['app', 'create', '--account', a.id, '--name', 'x', '--json'], /domain is required/],
      [['app', 'create', '--account', a.id, '--name', 'x', '--domain', 'bad domain', '--json'], /--domain/],
      [['app', 'create', '--account', a.id, '--zone', 'f'.repeat(32), '--name', 'x', '--domain', 'a.example.com', '--json'], /no zone/],
      [['user', 'create', '--account', a.id, '--email', 'nope', '--json'], /--email/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(json(r.stdout).error, message);
    }
    const dup = await cli('user', 'create', '--account', a.id, '--email', 'a@example.com');
    assert.equal(dup.code, 0);
    assert.match((await cli('user', 'create', '--account', a.id, '--email', 'a@example.com')).stderr, /already exists/);
    const usage = await cli('token', 'create');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /required option '--account <id>'/);
  });

  it('--help answers: verbs, flags and environment', async () => {
    const r = await runCliProcess(['--help']);
    assert.equal(r.code, 0);
    for (const word of ['serve', 'migrate', 'account', 'zone', 'token', 'user', 'app', 'ACCESS_CA_DATA_DIR', 'ACCESS_CA_MASTER_KEY_FILE']) {
      assert.ok(r.stdout.includes(word), word);
    }
    const tokenHelp = await runCliProcess(['token', 'create', '--help']);
    assert.match(tokenHelp.stdout, /Access: Apps and Policies\s+Write/);
  });

  it('serve prints the account and token once, on the first start only', async () => {
    const dataDir = fresh();
    const first = await startServer({ dataDir });
    assert.match(first.stderr(), /^account_id: [0-9a-f]{32}$/m);
    assert.match(first.stderr(), /^api_token: \S+$/m);
    // The README's variable names: one export line, then curl and the SDK reading those variables.
    assert.ok(first.stderr().includes(`export ACCOUNT_ID=${first.accountId} CLOUDFLARE_API_TOKEN=${first.token}`));
    assert.ok(first.stderr().includes(`curl -sS -X POST ${first.base}/accounts/$ACCOUNT_ID/access/apps -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN"`));
    assert.ok(first.stderr().includes(`new Cloudflare({ baseURL: '${first.base}' })`));
    const verify = await fetch(`${first.base}/user/tokens/verify`, { headers: { authorization: `Bearer ${first.token}` } });
    assert.equal(verify.status, 200);
    assert.equal(await first.stop(), 0);
    assert.ok(!first.stdout().includes(first.token), 'the token is not in the log');
    const second = await startServer({ dataDir });
    assert.equal(second.token, '');
    assert.ok(!second.stderr().includes(first.token));
    await second.stop();
  });

  it('a master key that does not match a store holding sealed keys stops the start with a clear message', async () => {
    const dataDir = fresh();
    const account = json((await runCliInProcess(['--data-dir', dataDir, 'account', 'create', '--name', 'k', '--json'])).stdout).id;
    const app = json((await runCliInProcess(['--data-dir', dataDir, 'app', 'create', '--account', account, '--name', 'a', '--domain', 'a.example.com', '--json'])).stdout).id;
    const { withServices } = await import('../../src/cli/cli-services.ts');
    const { storeConfig } = await import('../../src/cli/cli-config.ts');
    await withServices(storeConfig({ dataDir }, {}, '/'), (s) => s.cas.create({ accountId: account, zoneId: null }, app));
    const other = join(testTempDir('access-ca-key-'), 'other.key');
    writeFileSync(other, randomBytes(32).toString('base64'), { mode: 0o600 });
    const r = await runCliInProcess(['--data-dir', dataDir, 'account', 'list'], { ACCESS_CA_MASTER_KEY_FILE: other });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not the one this store was created with/);
    const missing = await runCliInProcess(['--data-dir', dataDir, 'account', 'list'], { ACCESS_CA_MASTER_KEY_FILE: join(dataDir, 'nope.key') });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist/);
  });

  it('a store that cannot be opened is named, without its password', async () => {
    const r = await runCliInProcess(['--database-url', 'postgres://ops:hunter2@127.0.0.1:9/access', 'account', 'list']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot open the store at postgres:\/\/ops:\*\*\*@127\.0\.0\.1:9\/access/);
    assert.ok(!r.stderr.includes('hunter2'));
    const scheme = await runCliInProcess(['--database-url', 'mysql://x/y', 'account', 'list']);
    assert.notEqual(scheme.code, 0);
    assert.match(scheme.stderr, /unsupported database URL scheme/);
  });

  it('a store with nothing sealed in it takes the master key it is opened with', async () => {
    const dataDir = fresh();
    assert.equal((await runCliInProcess(['--data-dir', dataDir, 'migrate'])).code, 0);
    const other = join(testTempDir('access-ca-key-'), 'other.key');
    writeFileSync(other, randomBytes(32).toString('base64'), { mode: 0o600 });
    assert.equal((await runCliInProcess(['--data-dir', dataDir, 'account', 'list'], { ACCESS_CA_MASTER_KEY_FILE: other })).code, 0);
  });
});
