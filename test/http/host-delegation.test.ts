import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { zoneNamesHolding } from '../../src/identity/host-delegation.ts';
import { isForeignKeyViolation } from '../../src/platform/db/db-errors.ts';

describe('zone names that can hold a host', () => {
  it('are the host and its parents down to two labels, longest first; a wildcard is held as the name after its star', () => {
    assert.deepEqual(zoneNamesHolding('a.B.example.com'), ['a.b.example.com', 'b.example.com', 'example.com']);
    assert.deepEqual(zoneNamesHolding('*.example.com'), ['example.com']);
    assert.deepEqual(zoneNamesHolding('localhost'), []);
    assert.equal(zoneNamesHolding(`${'a.'.repeat(300)}com`).length, 126, 'at most a DNS name\'s 127 labels');
  });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  const unavailable = kind === 'postgres' ? await postgresUnavailable() : null;
  describe(`hosts are delegated by zone (${kind})`, { skip: unavailable ?? false }, () => {
    let t: TestApp;
    let pg: TestDatabase | undefined;
    let a: Tenant;
    let b: Tenant;
    const apps = (who: Tenant) => scoped('account', who.accountId, '/access/apps');
    const create = (who: Tenant, domain: string) => t.call('POST', apps(who), { token: who.write, body: { name: 'ssh', domain } });
    const appCount = async (who: Tenant) => (await t.call('GET', apps(who), { token: who.read })).body.result.length;

    before(async () => {
      pg = kind === 'postgres' ? await postgresTestDatabase() : undefined;
      t = await makeTestApp(pg ? { databaseUrl: pg.url } : {});
      a = await t.tenant();
    });
    after(async () => {
      await t.close();
      await pg?.drop();
    });

    it('with one account, a host in no zone is first come, first served', async () => {
      const r = await create(a, 'solo.example.net');
      assert.equal(r.status, 201, r.raw);
    });

    it('with two accounts, a host in no zone is refused (403 12137), says how to delegate it, and writes nothing', async () => {
      b = await t.tenant();
      const before = await appCount(a);
      const r = await create(a, 'unzoned.example.net');
      assert.equal(r.status, 403, r.raw);
      assert.equal(r.body.errors[0].code, 12137);
      assert.match(r.body.errors[0].message, /no zone of this account.*access-ca zone create --account/);
      assert.equal(await appCount(a), before);
    });

    it('a host in another account\'s zone is that account\'s: 409 12134, whatever its case, port, path or wildcard', async () => {
      for (const domain of [`ssh.${b.zoneName}`, b.zoneName, `X.Deep.${b.zoneName.toUpperCase()}:2222/p`, `*.${b.zoneName}`]) {
        const r = await create(a, domain);
        assert.equal(r.status, 409, `${domain}: ${r.raw}`);
        assert.equal(r.body.errors[0].code, 12134);
        assert.match(r.body.errors[0].message, /zone of another account/);
        assert.equal(r.headers['x-should-retry'], 'false');
      }
      assert.equal((await create(b, `ssh.${b.zoneName}`)).status, 201);
      assert.equal((await create(b, `*.${b.zoneName}`)).status, 201);
    });

    it('an app keeps the host it holds when it changes otherwise, and cannot move to a host it may not hold', async () => {
      const app = (await t.call('GET', apps(a), { token: a.read })).body.result.find((x: { domain: string }) => x.domain === 'solo.example.net');
      const url = `${apps(a)}/${app.id}`;
      const renamed = await t.call('PUT', url, { token: a.write, body: { name: 'renamed', domain: 'solo.example.net' } });
      assert.equal(renamed.status, 200, renamed.raw);
      const moved = await t.call('PUT', url, { token: a.write, body: { name: 'renamed', domain: 'elsewhere.example.net' } });
      assert.equal(moved.status, 403, moved.raw);
      assert.equal(moved.body.errors[0].code, 12137);
      const intoB = await t.call('PUT', url, { token: a.write, body: { name: 'renamed', domain: `h.${b.zoneName}` } });
      assert.equal(intoB.status, 409, intoB.raw);
      const own = await t.call('PUT', url, { token: a.write, body: { name: 'renamed', domain: `h.${a.zoneName}` } });
      assert.equal(own.status, 200, own.raw);
      assert.equal((await t.call('GET', url, { token: a.read })).body.result.domain, `h.${a.zoneName}`);
    });

    it('a zone-level application holds hosts of its own zone only: not the account\'s other zones, nor no zone', async () => {
      const zoneApps = scoped('zone', a.zoneId, '/access/apps');
      const inZone = (domain: string) => t.call('POST', zoneApps, { token: a.zoneWrite, body: { name: 'z', domain } });
      assert.equal((await inZone(`z.${a.zoneName}`)).status, 201);
      const sibling = await t.identity.createZone(a.accountId, `sib${Date.now().toString(36)}.example.org`);
      for (const domain of [`z.${sibling.name}`, 'z.unzoned.example.net']) {
        const r = await inZone(domain);
        assert.equal(r.status, 403, `${domain}: ${r.raw}`);
        assert.equal(r.body.errors[0].code, 12137);
        assert.match(r.body.errors[0].message, /not in this zone/);
      }
      assert.equal((await inZone(`z.${b.zoneName}`)).status, 409);
      // The account itself may use its other zone.
      assert.equal((await create(a, `z.${sibling.name}`)).status, 201);
    });

    it('an operator withdraws a zone only once nothing lives in it; the account\'s apps keep their hosts, new claims need a zone', async () => {
      // a's own zone holds a zone-level application and a zone token.
      await assert.rejects(t.identity.deleteZone(a.accountId, a.zoneId), /still holds \d+ applications?.*API tokens/);
      await assert.rejects(t.identity.deleteZone(b.accountId, a.zoneId), /no zone/);
      const spare = await t.identity.createZone(a.accountId, `spare${Date.now().toString(36)}.example.org`);
      assert.equal((await create(a, `kept.${spare.name}`)).status, 201);
      assert.deepEqual(await t.identity.deleteZone(a.accountId, spare.id), { id: spare.id, name: spare.name, account_id: a.accountId });
      const r = await create(a, `new.${spare.name}`);
      assert.equal(r.status, 403, r.raw);
      assert.equal(r.body.errors[0].code, 12137);
      const kept = (await t.call('GET', `${apps(a)}?per_page=1000`, { token: a.read })).body.result.filter((x: { domain: string }) => x.domain === `kept.${spare.name}`);
      assert.equal(kept.length, 1, 'the app keeps its host');
    });

    it('zone delete waits for what is being made in the zone: a group committed meanwhile keeps the zone; one made after it is refused', async () => {
      const spare = await t.identity.createZone(a.accountId, `race${Date.now().toString(36)}.example.org`);
      const at = new Date().toISOString();
      const group = { id: `g${Date.now().toString(36)}`, account_id: a.accountId, zone_id: spare.id, name: 'in flight', include: '[]', exclude: '[]', require: '[]', created_at: at, updated_at: at };
      let deleting: Promise<unknown> | undefined;
      // The group's insert is made but not committed when the delete starts, as a request on another node would be.
      await t.db.transaction().execute(async (trx) => {
        await trx.insertInto('access_groups').values(group).execute();
        deleting = t.identity.deleteZone(a.accountId, spare.id).then(() => 'deleted', (e: Error) => e.message);
        await new Promise((r) => setTimeout(r, 300));
      });
      assert.match(String(await deleting), /still holds 1 groups?/);
      assert.equal((await t.db.selectFrom('access_groups').select('id').where('id', '=', group.id).execute()).length, 1, 'the group is kept');
      // Once the zone is empty it goes, and the store refuses anything made in it after (the route answers 404).
      await t.db.deleteFrom('access_groups').where('id', '=', group.id).execute();
      await t.identity.deleteZone(a.accountId, spare.id);
      await assert.rejects(t.db.insertInto('access_groups').values({ ...group, id: `${group.id}x` }).execute(), isForeignKeyViolation);
    });

    it('the longest zone wins: a zone inside another account\'s zone carves its hosts out', async () => {
      const inner = await t.identity.createZone(a.accountId, `inner.${b.zoneName}`);
      assert.equal(inner.name, `inner.${b.zoneName}`);
      assert.equal((await create(a, `x.inner.${b.zoneName}`)).status, 201);
      assert.equal((await create(b, `y.inner.${b.zoneName}`)).status, 409);
      assert.equal((await create(b, `y.outer.${b.zoneName}`)).status, 201);
    });

    it('an operator cannot grant a zone that takes hosts another account already holds, nor another account\'s zone', async () => {
      const c = await t.tenant();
      await assert.rejects(t.identity.createZone(c.accountId, b.zoneName), /already delegated to account/);
      // b holds ssh.<zone> and y.outer.<zone> through its own zone, which a longer zone would take from it.
      await assert.rejects(t.identity.createZone(c.accountId, `ssh.${b.zoneName}`), /holds the host ssh\./);
      await assert.rejects(t.identity.createZone(c.accountId, `outer.${b.zoneName}`), /holds the host y\.outer\./);
      assert.equal((await create(c, `z.outer.${b.zoneName}`)).status, 409, 'nothing was granted');
    });

    it('a zone around another account\'s longer zone leaves that zone\'s hosts where they are', async () => {
      const c = await t.tenant();
      const parent = `p${Date.now().toString(36)}.example.org`;
      await t.identity.createZone(a.accountId, `in.${parent}`);
      assert.equal((await create(a, `x.in.${parent}`)).status, 201);
      await t.identity.createZone(c.accountId, parent);
      assert.equal((await create(c, `s.${parent}`)).status, 201);
      assert.equal((await create(a, `s2.${parent}`)).status, 409);
      assert.equal((await create(a, `x2.in.${parent}`)).status, 201);
    });
  });
}
