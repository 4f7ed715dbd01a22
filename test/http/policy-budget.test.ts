import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { MAX_APP_RULES } from '../../src/access-policies/policy-evaluator.ts';

const ALL = ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'];
const emails = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ email: { email: `${tag}${i}@example.com` } }));
/** 300 rules, the most one policy or group holds. */
const full = (tag: string) => ({ include: emails(100, `${tag}-i`), require: emails(100, `${tag}-r`), exclude: emails(100, `${tag}-e`) });
const naming = (ids: string[]) => ids.map((id) => ({ group: { id } }));

for (const kind of ['sqlite', 'postgres'] as const) {
  const unavailable = kind === 'postgres' ? await postgresUnavailable() : null;
  describe(`the policy budget, through the API (${kind})`, { skip: unavailable ?? false }, () => {
    let pg: TestDatabase | undefined;
    let t: TestApp;
    let tenant: Tenant;
    let admin: string;
    const at = (path: string) => scoped('account', tenant.accountId, path);
    const ok = async (method: string, path: string, body: unknown, status = 201) => {
      const r = await t.call(method, at(path), { token: admin, body });
      assert.equal(r.status, status, r.raw);
      return r.body.result;
    };
    const refused = async (method: string, path: string, body: unknown, message: RegExp) => {
      const r = await t.call(method, at(path), { token: admin, body });
      assert.equal(r.status, 400, r.raw);
      assert.equal(r.body.errors[0].code, 12130);
      assert.match(r.body.errors[0].message, /over the policy budget/);
      assert.match(r.body.errors[0].message, message);
    };

    before(async () => {
      pg = kind === 'postgres' ? await postgresTestDatabase() : undefined;
      t = await makeTestApp(pg ? { databaseUrl: pg.url } : {});
      tenant = await t.tenant();
      admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ALL })).value;
    });
    after(async () => {
      await t.close();
      await pg?.drop();
    });

    it('refuses every write that would pass it — in the application, through a group or a reusable policy, alone — naming the application; accepts one at the limit', async () => {
      const big: string[] = [];
      for (let i = 0; i < 17; i++) big.push((await ok('POST', '/access/groups', { name: `big ${i}`, ...full(`g${i}`) })).id);
      const small = (await ok('POST', '/access/groups', { name: 'small', include: emails(1, 'small') })).id;
      const app = await ok('POST', '/access/apps', { name: 'budget', domain: `${randomUUID()}.example.com` });
      const policies = `/access/apps/${app.id}/policies`;
      // 16 groups of 300, the small one, and 17 group rules: 4,818; then 182 rules more is the limit.
      const first = await ok('POST', policies, { name: 'groups', decision: 'allow', include: naming([...big.slice(0, 16), small]) });
      await ok('POST', policies, { name: 'rest', decision: 'deny', include: emails(100, 'rest-i'), require: emails(82, 'rest-r') });
      assert.equal(4_800 + 17 + 1 + 182, MAX_APP_RULES);

      await refused('POST', policies, { name: 'one more', decision: 'deny', include: emails(1, 'more') }, /at most 5000 rules, and application "budget" would hold 5001\. Merge adjacent ip ranges into fewer CIDRs/);
      await refused('PUT', `${policies}/${first.id}`, { name: 'groups', decision: 'allow', include: [...naming([...big.slice(0, 16), small]), ...emails(1, 'more')] }, /application "budget" would hold 5001/);
      await refused('PUT', `/access/groups/${small}`, { name: 'small', include: emails(2, 'small') }, /application "budget" would hold 5001/);
      const everyone = (await ok('POST', '/access/policies', { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] })).id;
      await refused('PUT', `/access/apps/${app.id}`, { name: 'budget', domain: app.domain, policies: [everyone] }, /application "budget" would hold 5001/);
      await refused('POST', '/access/groups', { name: 'all of them', include: naming(big) }, /this group would hold 5117/);

      // A reusable policy is checked in the applications that use it; one that none uses, on its own.
      const other = await ok('POST', '/access/apps', { name: 'other', domain: `${randomUUID()}.example.com`, policies: [everyone] });
      await refused('PUT', `/access/policies/${everyone}`, { name: 'everyone', decision: 'allow', include: naming(big) }, /application "other" would hold 5117/);
      const lone = (await ok('POST', '/access/policies', { name: 'lone', decision: 'allow', include: naming([...big.slice(0, 16), small]) })).id;
      await refused('PUT', `/access/policies/${lone}`, { name: 'lone', decision: 'allow', include: naming(big) }, /this policy would hold 5117/);
      const rest = (await ok('POST', '/access/policies', { name: 'rest', decision: 'deny', include: emails(100, 'r-i'), require: emails(83, 'r-r') })).id;
      await refused('POST', '/access/apps', { name: 'new', domain: `${randomUUID()}.example.com`, policies: [lone, rest] }, /the application would hold 5001/);

      // Nothing refused was written.
      assert.equal((await t.call('GET', at(policies), { token: tenant.read })).body.result_info.total_count, 2);
      assert.equal((await t.call('GET', at(`/access/groups/${small}`), { token: tenant.read })).body.result.include.length, 1);
      assert.equal((await t.call('GET', at(`/access/policies/${everyone}`), { token: tenant.read })).body.result.include.length, 1);
      assert.deepEqual((await t.call('GET', at(`/access/apps/${other.id}`), { token: tenant.read })).body.result.policies.map((p: any) => p.id), [everyone]);
    });

    it('a set stored before the budget refuses from the policy that passes it, naming that policy; the policies before it still decide', async () => {
      const app = await ok('POST', '/access/apps', { name: 'legacy', domain: `${randomUUID()}.example.com` });
      await ok('POST', `/access/apps/${app.id}/policies`, { name: 'early', decision: 'allow', include: emails(1, 'early') });
      // Rows as an older release could write them: 17 policies of 300 rules, straight into the store.
      const now = new Date().toISOString();
      for (let i = 0; i < 17; i++) {
        const id = randomUUID();
        const rules = full(`legacy${i}`);
        await t.db.insertInto('access_policies').values({
          id, account_id: tenant.accountId, zone_id: null, app_id: app.id, name: `legacy ${i}`, decision: 'allow',
          include: JSON.stringify(rules.include), require: JSON.stringify(rules.require), exclude: JSON.stringify(rules.exclude), session_duration: null, created_at: now, updated_at: now,
        }).execute();
        await t.db.insertInto('access_app_policies').values({ app_id: app.id, policy_id: id, precedence: 10 + i }).execute();
      }
      const check = async (email: string) => (await t.call('POST', at(`/access/apps/${app.id}/access_check`), { token: tenant.read, body: { email } })).body.result;
      const late = await check('nobody@example.com');
      assert.deepEqual([late.allowed, late.policy?.name], [false, 'legacy 16'], late.reason);
      assert.match(late.reason, /passes the budget of 5000 rules/);
      assert.deepEqual([(await check('early0@example.com')).allowed, (await check('early0@example.com')).policy?.name], [true, 'early']);
      await refused('POST', `/access/apps/${app.id}/policies`, { name: 'x', decision: 'deny', include: emails(1, 'x') }, /application "legacy" would hold 5102/);
    });
  });
}
