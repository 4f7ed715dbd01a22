import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { secretHash } from '../../src/identity/identity-service.ts';
import type { Clock } from '../../src/platform/clock.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const APPS_WRITE = 'Access: Apps and Policies Write';
const IDP_WRITE = 'Access: Organizations, Identity Providers, and Groups Write';
const SIGN = 'Access: SSH Certificates Sign';

const json = (s: string) => {
  const lines = s.trim().split('\n');
  assert.equal(lines.length, 1, `exactly one line of JSON on stdout, got: ${s}`);
  return JSON.parse(lines[0]!);
};

/** Real time, but never the same millisecond twice: events made through the app have a strict order. */
function monotonicClock(): Clock {
  let last = 0;
  return { now: () => new Date((last = Math.max(Date.now(), last + 1))) };
}

interface Event { id: string; type: string; actor: string; subject: string; data: Record<string, any>; created_at: string }

describe('the audit trail: admin changes through the API and the CLI, listed by GET …/access/audit and `audit list`', () => {
  let t: TestApp;
  let a: Tenant;
  let b: Tenant;
  /** Every secret made in this file: none may appear in a listing, nor its hash. */
  const secrets: string[] = [];
  /** [type, actor, subject] of every change made in account A by the first test. */
  const expected: [string, string, string][] = [];
  let admin: string;
  let groupId: string;
  const cli = (...args: string[]) => runCliInProcess(['--data-dir', t.dir, ...args]);
  const cliJson = async (...args: string[]) => {
    const r = await cli(...args, '--json');
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return json(r.stdout);
  };
  const audit = (tenant: Tenant, query = '', headers: Record<string, string> = { authorization: `Bearer ${tenant.read}` }) =>
    t.call('GET', scoped('account', tenant.accountId, `/access/audit${query}`), { headers });
  const assertNoSecret = (text: string, where: string) => {
    for (const s of secrets) {
      assert.ok(!text.includes(s), `${where} holds a secret`);
      assert.ok(!text.includes(secretHash(s)), `${where} holds a secret's hash`);
    }
  };

  before(async () => {
    t = await makeTestApp({ clock: monotonicClock() });
    a = await t.tenant();
    b = await t.tenant();
    secrets.push(a.write, a.read, a.zoneWrite, a.apiKey, b.write, b.read, b.zoneWrite, b.apiKey);
  });
  after(() => t.close());

  it('each change is listed with its type, actor and subject, and what changed; no secret or hash appears', async () => {
    const api = async (method: string, path: string, body: unknown, status: number, headers: Record<string, string> = { authorization: `Bearer ${admin}` }) => {
      const r = await t.call(method, scoped('account', a.accountId, path), { headers, ...(body === undefined ? {} : { body }) });
      assert.equal(r.status, status, `${method} ${path}: ${r.raw}`);
      return r.body.result;
    };

    // Tokens and users, by the operator on the data directory.
    const token = await cliJson('token', 'create', '--account', a.accountId, '--permission', APPS_WRITE, '--permission', IDP_WRITE, '--name', 'admin');
    admin = token.value;
    const doomed = await cliJson('token', 'create', '--account', a.accountId, '--permission', SIGN, '--name', 'ci signer');
    await cliJson('token', 'revoke', doomed.id);
    const ops = await cliJson('user', 'create', '--email', 'ops@example.com', '--account', a.accountId);
    const rotated = await cliJson('user', 'rotate-key', '--email', 'ops@example.com');
    const gone = await cliJson('user', 'create', '--email', 'gone@example.com', '--account', a.accountId);
    await cliJson('user', 'remove', '--email', 'gone@example.com');
    secrets.push(admin, doomed.value, ops.api_key, rotated.api_key, gone.api_key);
    expected.push(
      ['api_token.created', 'cli', token.id], ['api_token.created', 'cli', doomed.id], ['api_token.revoked', 'cli', doomed.id],
      ['user.created', 'cli', ops.id], ['user.key_rotated', 'cli', ops.id], ['user.created', 'cli', gone.id], ['user.removed', 'cli', gone.id],
    );
    const tokenActor = `token:${token.id}`;

    // Identity providers: through the API (a client secret set, then replaced) and the CLI.
    const idp = await makeTestIdp();
    const secret1 = `s1-${randomBytes(16).toString('hex')}`;
    const secret2 = `s2-${randomBytes(16).toString('hex')}`;
    secrets.push(secret1, secret2);
    const provider = await api('POST', '/access/identity_providers', { name: 'corp', config: { issuer: 'https://corp.example', jwks: idp.jwks, client_id: 'access-ca', client_secret: secret1 } }, 201);
    await api('PUT', `/access/identity_providers/${provider.id}`, { name: 'corp sso', config: { issuer: 'https://corp.example', jwks: idp.jwks, client_id: 'access-ca', client_secret: secret2 } }, 200);
    const jwksFile = join(testTempDir('access-ca-audit-'), 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(idp.jwks));
    const viaCli = await cliJson('idp', 'add', '--account', a.accountId, '--issuer', 'https://cli.example', '--jwks-file', jwksFile, '--name', 'cli idp');
    await cliJson('idp', 'remove', viaCli.id, '--account', a.accountId);
    await api('DELETE', `/access/identity_providers/${provider.id}`, undefined, 202);
    expected.push(
      ['identity_provider.created', tokenActor, provider.id], ['identity_provider.updated', tokenActor, provider.id],
      ['identity_provider.created', 'cli', viaCli.id], ['identity_provider.deleted', 'cli', viaCli.id], ['identity_provider.deleted', tokenActor, provider.id],
    );

    // Access policies (reusable and an application's own) and groups; one change made with a global key.
    const reusable = await api('POST', '/access/policies', { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] }, 201);
    await api('PUT', `/access/policies/${reusable.id}`, { name: 'staff', decision: 'deny', include: [{ email_domain: { domain: 'example.com' } }] }, 200);
    await api('DELETE', `/access/policies/${reusable.id}`, undefined, 202);
    const app = await api('POST', '/access/apps', { name: 'bastion', domain: `${randomUUID()}.${a.zoneName}` }, 201);
    const own = await api('POST', `/access/apps/${app.id}/policies`, { name: 'ops', decision: 'allow', include: [{ everyone: {} }] }, 201);
    await api('PUT', `/access/apps/${app.id}/policies/${own.id}`, { name: 'ops', decision: 'allow', include: [{ everyone: {} }], precedence: 5 }, 200);
    await api('DELETE', `/access/apps/${app.id}/policies/${own.id}`, undefined, 202);
    const group = await api('POST', '/access/groups', { name: 'contractors', include: [{ email: { email: 'carol@example.com' } }] }, 201, { 'x-auth-email': 'ops@example.com', 'x-auth-key': rotated.api_key });
    groupId = group.id;
    await api('PUT', `/access/groups/${group.id}`, { name: 'vendors', include: [{ email: { email: 'carol@example.com' } }] }, 200);
    await api('DELETE', `/access/groups/${group.id}`, undefined, 202);
    expected.push(
      ['access_policy.created', tokenActor, reusable.id], ['access_policy.updated', tokenActor, reusable.id], ['access_policy.deleted', tokenActor, reusable.id],
      ['access_policy.created', tokenActor, own.id], ['access_policy.updated', tokenActor, own.id], ['access_policy.deleted', tokenActor, own.id],
      ['access_group.created', `user:${ops.id}`, group.id], ['access_group.updated', tokenActor, group.id], ['access_group.deleted', tokenActor, group.id],
    );

    // The route: any Read group of Access may list.
    const r = await audit(a, '?per_page=1000');
    assert.equal(r.status, 200, r.raw);
    assertNoSecret(r.raw, 'GET …/access/audit');
    const events = r.body.result as Event[];
    for (const e of events) assert.deepEqual(Object.keys(e).sort(), ['actor', 'created_at', 'data', 'id', 'subject', 'type']);
    const seen = events.map((e) => `${e.type} ${e.actor} ${e.subject}`);
    for (const [type, actor, subject] of expected) assert.ok(seen.includes(`${type} ${actor} ${subject}`), `missing ${type} by ${actor} on ${subject}`);
    assert.equal(r.body.result_info.total_count, events.length);

    const one = (type: string, subject: string) => events.find((e) => e.type === type && e.subject === subject)!;
    assert.deepEqual(one('api_token.created', token.id).data, { name: 'admin', zone_id: null, permissions: [APPS_WRITE, IDP_WRITE], not_before: null, expires_on: null });
    assert.deepEqual(one('api_token.revoked', doomed.id).data, { name: 'ci signer' });
    assert.deepEqual(one('user.key_rotated', ops.id).data, { email: 'ops@example.com' });
    assert.deepEqual(one('identity_provider.created', provider.id).data, { name: 'corp', issuer: 'https://corp.example' });
    assert.deepEqual(one('identity_provider.updated', provider.id).data, { name: 'corp sso', issuer: 'https://corp.example', changed: ['name', 'client_secret'] });
    assert.deepEqual(one('access_policy.updated', reusable.id).data, { name: 'staff', decision: 'deny', reusable: true, changed: ['decision'] });
    assert.deepEqual(one('access_policy.updated', own.id).data, { name: 'ops', decision: 'allow', app_id: app.id, changed: ['precedence'] });
    assert.deepEqual(one('access_group.updated', group.id).data, { name: 'vendors', changed: ['name'] });
    assert.deepEqual(one('access_group.deleted', group.id).data, { name: 'vendors' });

    // The CLI lists the same events, in the same order, without secrets either.
    const listed = await cli('audit', 'list', '--account', a.accountId, '--limit', '1000', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    assertNoSecret(listed.stdout + listed.stderr, 'audit list --json');
    const fromCli = json(listed.stdout);
    assert.deepEqual(fromCli.events, events);
    assert.equal(fromCli.total, events.length);
    const human = await cli('audit', 'list', '--account', a.accountId, '--type', 'access_group.created');
    assert.equal(human.code, 0, human.stderr);
    assertNoSecret(human.stdout + human.stderr, 'audit list');
    assert.match(human.stdout, new RegExp(`access_group\\.created\\s+user:${ops.id}\\s+${group.id}`));
    assert.ok(!human.stdout.includes('access_group.updated'));
  });

  it('newest first and paged; filters by type and subject; bad filters are 400 12130', async () => {
    const all = (await audit(a, '?per_page=1000')).body.result as Event[];
    assert.ok(all.length > 20);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.created_at >= all[i]!.created_at, `event ${i} is newer than the one before it`);

    const paged: Event[] = [];
    for (let page = 1; ; page++) {
      const r = await audit(a, `?per_page=7&page=${page}`);
      assert.equal(r.status, 200);
      assert.deepEqual({ ...r.body.result_info, count: undefined }, { page, per_page: 7, count: undefined, total_count: all.length, total_pages: Math.ceil(all.length / 7) });
      assert.equal(r.body.result_info.count, r.body.result.length);
      paged.push(...r.body.result);
      if (r.body.result.length < 7) break;
    }
    assert.deepEqual(paged.map((e) => e.id), all.map((e) => e.id));
    const past = await audit(a, '?per_page=7&page=1000');
    assert.deepEqual([past.status, past.body.result.length, past.body.result_info.count], [200, 0, 0]);

    const byType = (await audit(a, '?type=access_policy.deleted')).body;
    assert.equal(byType.result_info.total_count, 2);
    assert.ok(byType.result.every((e: Event) => e.type === 'access_policy.deleted'));
    const bySubject = (await audit(a, `?subject=${groupId}`)).body.result as Event[];
    assert.deepEqual(bySubject.map((e) => e.type), ['access_group.deleted', 'access_group.updated', 'access_group.created']);
    const both = (await audit(a, `?subject=${groupId}&type=access_group.updated`)).body.result as Event[];
    assert.deepEqual(both.map((e) => e.type), ['access_group.updated']);
    assert.equal((await audit(a, '?type=nothing.happened')).body.result_info.total_count, 0);

    const fromCli = json((await cli('audit', 'list', '--account', a.accountId, '--subject', groupId, '--limit', '2', '--json')).stdout);
    assert.deepEqual(fromCli.events.map((e: Event) => e.type), ['access_group.deleted', 'access_group.updated']);
    assert.equal(fromCli.total, 3);

    for (const query of ['?type=Not%20a%20type', '?type=a.b.c', '?subject=has%20space', '?page=0', '?per_page=1001', '?type=a.b&type=c.d']) {
      const r = await audit(a, query);
      assert.equal(r.status, 400, `${query}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, 12130, query);
    }
    for (const args of [['--type', 'Bad Type'], ['--limit', '0'], ['--limit', 'lots']]) {
      const r = await cli('audit', 'list', '--account', a.accountId, ...args, '--json');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(json(r.stdout).error, /--type|--limit/);
    }
  });

  it('another account\'s events are never listed: other accounts\' credentials are 403, and each account sees only its own', async () => {
    const mine = (await audit(a, '?per_page=1000')).body.result as Event[];
    const made = await cliJson('token', 'create', '--account', b.accountId, '--permission', APPS_WRITE, '--name', 'b admin');
    secrets.push(made.value);
    const theirs = (await audit(b, '?per_page=1000')).body.result as Event[];
    assert.ok(theirs.some((e) => e.subject === made.id));
    const mineIds = new Set(mine.map((e) => e.id));
    assert.ok(theirs.every((e) => !mineIds.has(e.id)), 'B lists an event of A');
    assert.ok(!(await audit(a, '?per_page=1000')).raw.includes(made.id), 'A lists an event of B');
    assert.deepEqual((await audit(a, `?subject=${made.id}`)).body.result, []);

    const signOnly = await cliJson('token', 'create', '--account', a.accountId, '--permission', SIGN);
    secrets.push(signOnly.value);
    const refusals: [Record<string, string>, number, number][] = [
      [{ authorization: `Bearer ${made.value}` }, 403, 10000],
      [{ authorization: `Bearer ${b.write}` }, 403, 10000],
      [{ 'x-auth-email': b.email, 'x-auth-key': b.apiKey }, 403, 10000],
      [{ authorization: `Bearer ${a.zoneWrite}` }, 403, 10000],
      [{ authorization: `Bearer ${signOnly.value}` }, 403, 9109],
      [{ authorization: 'Bearer not-a-token' }, 403, 9109],
      [{}, 400, 9106],
    ];
    for (const [headers, status, code] of refusals) {
      const r = await audit(a, '', headers);
      assert.equal(r.status, status, `${JSON.stringify(headers)}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, code);
      assert.equal(r.body.result, null);
    }
    // There is no zone form: zone-level changes are listed with their account's.
    assert.equal((await t.call('GET', scoped('zone', a.zoneId, '/access/audit'), { token: a.read })).status, 404);
    // Both Read groups list; a global key of the account does too.
    const idpReader = await cliJson('token', 'create', '--account', a.accountId, '--permission', 'Access: Organizations, Identity Providers, and Groups Read');
    secrets.push(idpReader.value);
    assert.equal((await audit(a, '', { authorization: `Bearer ${idpReader.value}` })).status, 200);
    assert.equal((await audit(a, '', { 'x-auth-email': a.email, 'x-auth-key': a.apiKey })).status, 200);

    // A refused change records nothing: B's admin cannot write A's groups, and a missing group is not "deleted".
    const count = async () => (await audit(a)).body.result_info.total_count as number;
    const before = await count();
    const intrusion = await t.call('POST', scoped('account', a.accountId, '/access/groups'), { token: made.value, body: { name: 'x', include: [{ everyone: {} }] } });
    assert.equal(intrusion.status, 403);
    const missing = await t.call('DELETE', scoped('account', a.accountId, `/access/groups/${randomUUID()}`), { token: a.write });
    assert.equal(missing.status, 404);
    assert.equal(await count(), before);
    const cliRefused = await cli('audit', 'list', '--account', 'f'.repeat(32), '--json');
    assert.equal(cliRefused.code, 2);
    assert.match(json(cliRefused.stdout).error, /no account/);
  });
});
