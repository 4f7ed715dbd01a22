/**
 * Infrastructure targets in Cloudflare's full shape (issue 22, part 1): every list filter, sort and page;
 * the batch routes (PUT …/batch, POST …/batch_delete, the deprecated DELETE …/batch), all or nothing,
 * bounded, audited and moving the fleet revision; and another account's targets out of reach. On SQLite
 * and on PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { migrationProvider } from '../../src/platform/db/migrations.ts';
import { createTargetsStore } from '../../src/infrastructure/targets-store.ts';

const V1 = '238dccd1-149b-463d-8228-560ab83a54fd';
const V2 = '0b7f2c1e-5a4d-4c3b-9e8f-7a6b5c4d3e2f';

// Asked once, before any suite starts: a suite running meanwhile would hold the event loop past the probe's timeout.
const postgresMissing = await postgresUnavailable();

interface Target { id: string; hostname: string; created_at: string; modified_at: string; ip: Record<string, { ip_addr: string; virtual_network_id?: string }>; tags: Record<string, string> }

for (const kind of ['sqlite', 'postgres'] as const) {
  const unavailable = kind === 'postgres' ? postgresMissing : null;
  describe(`infrastructure targets, Cloudflare's full shape (${kind})`, { skip: unavailable ?? false }, () => {
    let t: TestApp;
    let pg: TestDatabase | undefined;
    let a: Tenant;
    let b: Tenant;
    let clock = Date.parse('2026-01-01T00:00:00.250Z');
    const at = (rest: string, tenant = a) => scoped('account', tenant.accountId, rest);
    const list = async (query: string, tenant = a) => t.call('GET', at(`/infrastructure/targets?${query}`, tenant), { token: tenant.read });
    const hostnames = async (query: string, tenant = a) => {
      const r = await list(query, tenant);
      assert.equal(r.status, 200, `${query}: ${r.raw}`);
      return (r.body.result as Target[]).map((x) => x.hostname);
    };
    const batch = (body: unknown, tenant = a, token = tenant.write) => t.call('PUT', at('/infrastructure/targets/batch', tenant), { token, body });
    const batchDelete = (body: unknown, tenant = a) => t.call('POST', at('/infrastructure/targets/batch_delete', tenant), { token: tenant.write, body });
    const revision = async (tenant = a) => Number((await t.db.selectFrom('fleet_revisions').select('revision').where('account_id', '=', tenant.accountId).executeTakeFirst())?.revision ?? 0);
    const events = async (tenant = a) => (await t.db.selectFrom('audit_events').select(['type', 'subject', 'actor']).where('account_id', '=', tenant.accountId)
      .where('type', 'like', 'infrastructure_target.%').orderBy('created_at').orderBy('id').execute());
    const count = async (tenant = a) => (await t.db.selectFrom('infrastructure_targets').select('id').where('account_id', '=', tenant.accountId).execute()).length;
    const byName: Record<string, Target> = {};

    before(async () => {
      pg = kind === 'postgres' ? await postgresTestDatabase() : undefined;
      t = await makeTestApp({ clock: { now: () => new Date(clock) }, ...(pg ? { databaseUrl: pg.url } : {}) });
      a = await t.tenant();
      b = await t.tenant();
      // One target a day, made by the batch route one at a time so that each has its own creation time.
      const bodies = [
        { hostname: 'web-1.corp', ip: { ipv4: { ip_addr: '10.0.0.9' } }, tags: { env: 'prod' } },
        { hostname: 'web-2.corp', ip: { ipv4: { ip_addr: '10.0.0.10', virtual_network_id: V1 }, ipv6: { ip_addr: 'fd00::a', virtual_network_id: V1 } }, tags: { env: 'dev' } },
        { hostname: 'db_1.corp', ip: { ipv4: { ip_addr: '10.0.1.1' }, ipv6: { ip_addr: 'FD00:0::1:0' } } },
        { hostname: 'Axb.corp', ip: { ipv4: { ip_addr: '9.255.255.255' }, ipv6: { ip_addr: '2001:db8::1', virtual_network_id: V2 } } },
        { hostname: 'zeta.corp', tags: { env: 'prod', team: 'ops' } },
      ];
      for (const [i, body] of bodies.entries()) {
        clock = Date.parse(`2026-01-0${i + 1}T00:00:00.${i === 0 ? '250' : '000'}Z`);
        const r = await batch([body]);
        assert.equal(r.status, 200, r.raw);
        byName[body.hostname] = r.body.result[0];
      }
      // Another account holds the same names and addresses: never listed, matched, updated or deleted here.
      clock = Date.parse('2026-01-03T12:00:00Z');
      const theirs = await batch(bodies, b);
      assert.equal(theirs.status, 200, theirs.raw);
    });
    after(async () => {
      await t.close();
      await pg?.drop();
    });

    it('lists every target of the account, paged as Cloudflare pages, and only its own', async () => {
      assert.deepEqual(await hostnames(''), ['web-1.corp', 'web-2.corp', 'db_1.corp', 'Axb.corp', 'zeta.corp']);
      const pages = [];
      for (let page = 1; page <= 4; page++) {
        const r = await list(`per_page=2&page=${page}`);
        assert.equal(r.status, 200);
        pages.push([(r.body.result as Target[]).map((x) => x.hostname), r.body.result_info]);
      }
      assert.deepEqual(pages, [
        [['web-1.corp', 'web-2.corp'], { page: 1, per_page: 2, count: 2, total_count: 5, total_pages: 3 }],
        [['db_1.corp', 'Axb.corp'], { page: 2, per_page: 2, count: 2, total_count: 5, total_pages: 3 }],
        [['zeta.corp'], { page: 3, per_page: 2, count: 1, total_count: 5, total_pages: 3 }],
        [[], { page: 4, per_page: 2, count: 0, total_count: 5, total_pages: 3 }],
      ]);
      const ids = new Set(Object.values(byName).map((x) => x.id));
      const theirs = (await list('', b)).body.result as Target[];
      assert.equal(theirs.length, 5);
      assert.ok(theirs.every((x) => !ids.has(x.id)), 'the other account lists only its own five');
    });

    it('hostname (any case), hostname_contains (a literal: `_` and `%` are themselves), virtual_network_id, target_ids, tag', async () => {
      assert.deepEqual(await hostnames('hostname=WEB-1.corp'), ['web-1.corp']);
      assert.deepEqual(await hostnames('hostname=web-1'), []);
      assert.deepEqual(await hostnames('hostname_contains=WEB'), ['web-1.corp', 'web-2.corp']);
      assert.deepEqual(await hostnames('hostname_contains=_'), ['db_1.corp'], 'a LIKE `_` would match every name');
      assert.deepEqual(await hostnames(`hostname_contains=${encodeURIComponent('%')}`), [], 'a LIKE `%` would match every name');
      assert.deepEqual(await hostnames(`hostname_contains=${encodeURIComponent('\\')}`), []);
      assert.deepEqual(await hostnames(`hostname_contains=${encodeURIComponent("' or 1=1 --")}`), []);
      assert.deepEqual(await hostnames(`virtual_network_id=${V1.toUpperCase()}`), ['web-2.corp']);
      assert.deepEqual(await hostnames(`virtual_network_id=${V2}`), ['Axb.corp'], 'either address\'s network');
      assert.deepEqual(await hostnames(`target_ids=${byName['zeta.corp']!.id}&target_ids=${byName['web-1.corp']!.id.toUpperCase()}`), ['web-1.corp', 'zeta.corp']);
      assert.deepEqual(await hostnames(`target_ids=${byName['db_1.corp']!.id}`), ['db_1.corp'], 'one value is a list of one');
      const theirId = ((await list('hostname=db_1.corp', b)).body.result as Target[])[0]!.id;
      assert.deepEqual(await hostnames(`target_ids=${theirId}`), [], 'another account\'s id matches nothing');
      assert.deepEqual(await hostnames('tag=env:prod'), ['web-1.corp', 'zeta.corp']);
      assert.deepEqual(await hostnames('tag=env:prod&tag=team:ops'), ['zeta.corp'], 'tags are ANDed');
      assert.deepEqual(await hostnames('tag=env:Prod'), [], 'values are compared exactly');
      assert.deepEqual(await hostnames(`tag=${encodeURIComponent("env':prod")}`), []);
    });

    it('addresses compare as addresses: ip_v4, ip_v6 (any spelling), ips, ip_like, and the IPv4 and IPv6 ranges (not as strings)', async () => {
      assert.deepEqual(await hostnames('ip_v4=10.0.0.9'), ['web-1.corp']);
      assert.deepEqual(await hostnames('ip_v6=fd00::1:0'), ['db_1.corp'], 'stored as FD00:0::1:0');
      assert.deepEqual(await hostnames('ip_v6=fd00:0:0:0:0:0:0:a'), ['web-2.corp']);
      assert.deepEqual(await hostnames('ips=10.0.0.10&ips=2001:db8::1'), ['web-2.corp', 'Axb.corp']);
      assert.deepEqual(await hostnames('ips=10.0.1.1'), ['db_1.corp']);
      assert.deepEqual(await hostnames(`ip_like=${encodeURIComponent('10.0.0.*')}`), ['web-1.corp', 'web-2.corp']);
      assert.deepEqual(await hostnames(`ip_like=${encodeURIComponent('fd00:*')}`), ['web-2.corp', 'db_1.corp']);
      assert.deepEqual(await hostnames(`ip_like=${encodeURIComponent('*.1')}`), ['db_1.corp']);
      assert.deepEqual(await hostnames('ip_like=10.0.0.1'), [], 'matched whole, not as a part');
      // As strings "10.0.0.10" < "10.0.0.2" and "10.0.0.9" > "10.0.0.20": both would be left out.
      assert.deepEqual(await hostnames('ipv4_start=10.0.0.2&ipv4_end=10.0.0.20'), ['web-1.corp', 'web-2.corp']);
      assert.deepEqual(await hostnames('ipv4_start=9.0.0.0&ipv4_end=10.0.0.9'), ['web-1.corp', 'Axb.corp'], 'inclusive at both ends');
      assert.deepEqual(await hostnames('ipv4_start=10.0.0.11&ipv4_end=10.0.1.0'), []);
      assert.deepEqual(await hostnames('ipv6_start=fd00::1&ipv6_end=fd00::ff'), ['web-2.corp']);
      assert.deepEqual(await hostnames('ipv6_start=fd00::&ipv6_end=fd00::ffff:ffff'), ['web-2.corp', 'db_1.corp']);
      assert.deepEqual(await hostnames('ipv6_start=::&ipv6_end=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), ['web-2.corp', 'db_1.corp', 'Axb.corp']);
      assert.deepEqual(await hostnames('ipv4_start=10.0.0.0&ipv4_end=10.255.255.255&tag=env:prod'), ['web-1.corp'], 'filters are ANDed');
    });

    it('created and modified times, inclusive, to the second they are shown with', async () => {
      assert.equal(byName['web-1.corp']!.created_at, '2026-01-01T00:00:00Z');
      assert.deepEqual(await hostnames('created_after=2026-01-02T00:00:00Z&created_before=2026-01-04T00:00:00Z'), ['web-2.corp', 'db_1.corp', 'Axb.corp']);
      assert.deepEqual(await hostnames('created_before=2026-01-01T00:00:00Z'), ['web-1.corp'], 'made at .250 s, shown and matched as 00:00:00');
      assert.deepEqual(await hostnames(`created_after=${encodeURIComponent('2026-01-04T01:00:00+01:00')}`), ['Axb.corp', 'zeta.corp'], 'an offset is the same instant');
      clock = Date.parse('2026-02-01T00:00:00Z');
      const r = await batch([{ hostname: 'WEB-2.corp', ip: { ipv4: { ip_addr: '10.0.0.10', virtual_network_id: V1 }, ipv6: { ip_addr: 'fd00::a', virtual_network_id: V1 } }, tags: { env: 'dev' } }]);
      assert.equal(r.status, 200, r.raw);
      assert.equal(r.body.result[0].id, byName['web-2.corp']!.id, 'upserted by hostname, in any case');
      assert.deepEqual(await hostnames('modified_after=2026-02-01T00:00:00Z'), ['WEB-2.corp']);
      assert.deepEqual(await hostnames('modified_before=2026-01-31T23:59:59Z&created_after=2026-01-02T00:00:00Z'), ['db_1.corp', 'Axb.corp', 'zeta.corp']);
    });

    it('order (hostname, any case, or created_at) and direction; ties broken by id, so pages never overlap', async () => {
      assert.deepEqual(await hostnames('order=hostname'), ['Axb.corp', 'db_1.corp', 'web-1.corp', 'WEB-2.corp', 'zeta.corp']);
      assert.deepEqual(await hostnames('order=hostname&direction=desc'), ['zeta.corp', 'WEB-2.corp', 'web-1.corp', 'db_1.corp', 'Axb.corp']);
      assert.deepEqual(await hostnames('order=created_at&direction=desc'), ['zeta.corp', 'Axb.corp', 'db_1.corp', 'WEB-2.corp', 'web-1.corp']);
      assert.deepEqual(await hostnames('direction=desc&per_page=2&page=2'), ['db_1.corp', 'WEB-2.corp']);
    });

    it('a bad filter value is a 400 12130 whose pointer names it; nothing is built from it', async () => {
      const cases: [string, string][] = [
        ['ip_v4=300.1.1.1', '/ip_v4'], ['ip_v4=fd00::1', '/ip_v4'], ['ip_v6=10.0.0.1', '/ip_v6'],
        ['ips=10.0.0.1&ips=nope', '/ips/1'], ['ipv4_start=10.0.0.1', '/ipv4_end'], ['ipv4_end=10.0.0.1', '/ipv4_start'],
        ['ipv4_start=10.0.0.9&ipv4_end=10.0.0.10', ''], ['ipv4_start=10.0.0.10&ipv4_end=10.0.0.9', '/ipv4_start'],
        ['ipv6_start=fd00::1&ipv6_end=10.0.0.1', '/ipv6_end'], ['ipv6_start=x&ipv6_end=fd00::1', '/ipv6_start'],
        [`ip_like=${encodeURIComponent('10.0.0.%')}`, '/ip_like'], ['ip_like=10_0', '/ip_like'],
        ['virtual_network_id=nope', '/virtual_network_id'], ['target_ids=nope', '/target_ids/0'],
        [`target_ids=${byName['zeta.corp']!.id}&target_ids=1`, '/target_ids/1'],
        ['created_after=yesterday', '/created_after'], ['created_before=2026-01-01', '/created_before'],
        ['modified_after=2026-13-01T00:00:00Z', '/modified_after'], ['modified_before=2026-01-01T00:00:00', '/modified_before'],
        ['order=name', '/order'], ['direction=up', '/direction'],
        ['tag=env', '/tag/0'], ['tag=env:prod&tag=:prod', '/tag/1'], ['tag=env:', '/tag/0'],
        ['hostname=bad%20host', '/hostname'], [`hostname=${encodeURIComponent('*.corp')}`, '/hostname'],
      ];
      for (const [query, pointer] of cases) {
        const r = await list(query);
        if (pointer === '') {
          assert.equal(r.status, 200, query);
          continue;
        }
        assert.equal(r.status, 400, `${query}: ${r.raw}`);
        assert.equal(r.body.success, false);
        assert.equal(r.body.errors[0].code, 12130, query);
        assert.equal(r.body.errors[0].source?.pointer, pointer, query);
      }
      assert.equal((await list('page=0')).status, 400);
      assert.equal((await list(`ips=${'1.'.repeat(30)}`)).body.errors[0].code, 12130, 'too long for the schema');
    });

    it('PUT …/batch upserts by hostname, all in one transaction: answered in order, each change audited, the fleet revision moved', async () => {
      clock = Date.parse('2026-03-01T00:00:00Z');
      const before = { revision: await revision(), count: await count(), events: (await events()).length };
      const r = await batch([
        { hostname: 'new-1.corp', ip: { ipv4: { ip_addr: '192.0.2.1' } } },
        { hostname: 'ZETA.corp', ip: { ipv6: { ip_addr: '2001:db8::5' } }, tags: null },
        { hostname: 'new-2.corp', tags: { role: 'db' }, aliases: ['n2'] },
      ]);
      assert.equal(r.status, 200, r.raw);
      assert.equal(r.body.success, true);
      const [n1, zeta, n2] = r.body.result as Target[];
      assert.deepEqual([n1!.hostname, zeta!.hostname, n2!.hostname], ['new-1.corp', 'ZETA.corp', 'new-2.corp']);
      assert.equal(zeta!.id, byName['zeta.corp']!.id, 'the target holding the hostname is updated in place');
      assert.equal(zeta!.created_at, '2026-01-05T00:00:00Z');
      assert.equal(zeta!.modified_at, '2026-03-01T00:00:00Z');
      assert.deepEqual(zeta!.ip, { ipv6: { ip_addr: '2001:db8::5' } });
      assert.deepEqual(zeta!.tags, {}, 'the body replaces the target, as PUT does; null tags are none');
      assert.deepEqual(n1!.ip, { ipv4: { ip_addr: '192.0.2.1' } });
      assert.deepEqual(n2!.tags, { role: 'db' });
      assert.notEqual(n1!.id, n2!.id);
      const got = await t.call('GET', at(`/infrastructure/targets/${n2!.id}`), { token: a.read });
      assert.deepEqual(got.body.result, n2);
      assert.equal(await count(), before.count + 2);
      const written = (await events()).slice(before.events);
      const actor = written[0]!.actor;
      assert.match(actor, /^token:/);
      assert.deepEqual(written.map((e) => [e.type, e.subject, e.actor]).sort(), [
        ['infrastructure_target.created', n1!.id, actor], ['infrastructure_target.created', n2!.id, actor], ['infrastructure_target.updated', zeta!.id, actor],
      ].sort());
      assert.ok(await revision() > before.revision, 'hosts see the change');
      assert.deepEqual(await hostnames('ips=2001:db8::5'), ['ZETA.corp'], 'the new address is matched');
      assert.deepEqual(await hostnames('hostname=new-1.corp', b), [], 'not in the other account');
    });

    it('PUT …/batch refuses the whole batch for one bad item, and writes nothing', async () => {
      const before = { revision: await revision(), count: await count(), events: (await events()).length, listed: (await list('per_page=1000')).body.result };
      const refusals: [unknown, number, number, string | undefined][] = [
        [[{ hostname: 'ok-1.corp' }, { hostname: 'ok-2.corp' }, { hostname: 'bad.corp', ip: { ipv4: { ip_addr: '::1' } } }], 400, 12130, '/2/ip/ipv4/ip_addr'],
        [[{ hostname: 'ok-1.corp' }, { hostname: 'bad host' }], 400, 12130, '/1/hostname'],
        [[{ hostname: 'ok-1.corp' }, { hostname: 'ok-1.corp', extra: 1 }], 400, 12130, '/1/extra'],
        [[{ hostname: 'dup.corp' }, { hostname: 'DUP.corp' }], 400, 12130, '/1/hostname'],
        [[{ hostname: 'ok-1.corp' }, { hostname: `squat.${b.zoneName}` }], 409, 12134, '/1/hostname'],
        [[{ hostname: 'ok-1.corp', aliases: [`x.${b.zoneName}`] }], 409, 12134, '/0/aliases/0'],
        [[], 400, 12130, undefined],
        [{ hostname: 'ok-1.corp' }, 400, 12130, undefined],
        [Array.from({ length: 1001 }, (_, i) => ({ hostname: `h${i}` })), 400, 12130, undefined],
      ];
      for (const [body, status, code, pointer] of refusals) {
        const r = await batch(body);
        const label = JSON.stringify(body).slice(0, 80);
        assert.equal(r.status, status, `${label}: ${r.raw}`);
        assert.equal(r.body.errors[0].code, code, label);
        if (pointer !== undefined) assert.equal(r.body.errors[0].source?.pointer, pointer, label);
      }
      assert.equal((await t.call('PUT', at('/infrastructure/targets/batch'), { token: a.write })).status, 400, 'no body');
      // Two targets already hold one hostname: which one to update is not the batch's to guess.
      const twins = [];
      for (let i = 0; i < 2; i++) twins.push(await t.call('POST', at('/infrastructure/targets'), { token: a.write, body: { hostname: 'twin.corp' } }));
      const ambiguous = await batch([{ hostname: 'ok-1.corp' }, { hostname: 'Twin.corp' }]);
      assert.equal(ambiguous.status, 400, ambiguous.raw);
      assert.equal(ambiguous.body.errors[0].source.pointer, '/1/hostname');
      for (const twin of twins) assert.equal((await t.call('DELETE', at(`/infrastructure/targets/${twin.body.result.id}`), { token: a.write })).status, 200);
      // A body past the body limit is refused before it is read: 413 in the envelope.
      const huge = await batch(Array.from({ length: 1000 }, (_, i) => ({ hostname: `h${i}.corp`, tags: { note: 'x'.repeat(100) } })));
      assert.equal(huge.status, 413, huge.raw);
      assert.equal(huge.body.errors[0].code, 10413);
      assert.equal((await batch([{ hostname: 'x.corp' }], a, a.read)).status, 403);
      assert.equal(await count(), before.count);
      assert.equal((await events()).length, before.events + 4, 'only the twins\' own create and delete');
      assert.deepEqual((await list('per_page=1000')).body.result, before.listed);
      assert.equal(await revision(), before.revision + 4, 'only the twins moved it');
    });

    it('PUT …/batch takes 1,000 targets at once', async () => {
      const r = await batch(Array.from({ length: 1000 }, (_, i) => ({ hostname: `b${i}`, ip: { ipv4: { ip_addr: `10.9.${i >> 8}.${i & 255}` } } })));
      assert.equal(r.status, 200, r.raw.slice(0, 300));
      assert.equal(r.body.result.length, 1000);
      assert.equal(r.body.result[999].hostname, 'b999');
      const ranged = await list('ipv4_start=10.9.0.250&ipv4_end=10.9.1.4&per_page=100');
      // One batch shares one creation time: the id orders them, so the set is what is compared.
      assert.deepEqual((ranged.body.result as Target[]).map((x) => x.ip['ipv4']!.ip_addr).sort(), ['10.9.0.250', '10.9.0.251', '10.9.0.252', '10.9.0.253', '10.9.0.254', '10.9.0.255', '10.9.1.0', '10.9.1.1', '10.9.1.2', '10.9.1.3', '10.9.1.4']);
      const ids = (r.body.result as Target[]).map((x) => x.id);
      const gone = await batchDelete({ target_ids: ids });
      assert.equal(gone.status, 200, gone.raw.slice(0, 300));
      assert.equal(gone.body.result.length, 1000);
      assert.equal((await list('ipv4_start=10.9.0.0&ipv4_end=10.9.255.255')).body.result_info.total_count, 0);
    });

    it('POST …/batch_delete and DELETE …/batch: all or nothing; another account\'s id is not found, and nothing is deleted', async () => {
      clock = Date.parse('2026-04-01T00:00:00Z');
      const made = (await batch([{ hostname: 'del-1.corp' }, { hostname: 'del-2.corp' }, { hostname: 'del-3.corp' }])).body.result as Target[];
      const theirs = ((await list('hostname=web-1.corp', b)).body.result as Target[])[0]!;
      const before = { revision: await revision(), count: await count(), events: (await events()).length, theirs: await count(b) };
      const refusals: [unknown, number, number, string | undefined][] = [
        [{ target_ids: [made[0]!.id, theirs.id] }, 404, 12135, undefined],
        [{ target_ids: [made[0]!.id, '00000000-0000-4000-8000-000000000000'] }, 404, 12135, undefined],
        [{ target_ids: [made[0]!.id, 'nope'] }, 400, 12130, '/target_ids/1'],
        [{ target_ids: [] }, 400, 12130, undefined],
        [{}, 400, 12130, '/target_ids'],
        [{ target_ids: [made[0]!.id], extra: true }, 400, 12130, '/extra'],
        [{ target_ids: Array.from({ length: 1001 }, () => made[0]!.id) }, 400, 12130, undefined],
      ];
      for (const [body, status, code, pointer] of refusals) {
        for (const method of ['POST', 'DELETE'] as const) {
          const r = await t.call(method, at(`/infrastructure/targets/${method === 'POST' ? 'batch_delete' : 'batch'}`), { token: a.write, body });
          const label = `${method} ${JSON.stringify(body).slice(0, 80)}`;
          assert.equal(r.status, status, `${label}: ${r.raw}`);
          assert.equal(r.body.errors[0].code, code, label);
          if (pointer !== undefined) assert.equal(r.body.errors[0].source?.pointer, pointer, label);
        }
      }
      // The two unknown ids get one answer, whoever holds them.
      const [mine, unknown] = await Promise.all([
        batchDelete({ target_ids: [theirs.id] }),
        batchDelete({ target_ids: ['00000000-0000-4000-8000-000000000000'] }),
      ]);
      assert.equal(mine.body.errors[0].message.replace(theirs.id, 'ID'), unknown.body.errors[0].message.replace('00000000-0000-4000-8000-000000000000', 'ID'));
      assert.equal((await t.call('DELETE', at('/infrastructure/targets/batch'), { token: a.write })).status, 400, 'SDK v7\'s bulkDelete without a body');
      assert.deepEqual([await count(), await count(b), (await events()).length, await revision()], [before.count, before.theirs, before.events, before.revision]);

      const r = await batchDelete({ target_ids: [made[0]!.id, made[1]!.id.toUpperCase(), made[0]!.id] });
      assert.equal(r.status, 200, r.raw);
      assert.deepEqual(r.body, { success: true, errors: [], messages: [], result: [{ id: made[0]!.id }, { id: made[1]!.id }] });
      const d = await t.call('DELETE', at('/infrastructure/targets/batch'), { token: a.write, body: { target_ids: [made[2]!.id] } });
      assert.equal(d.status, 200, d.raw);
      assert.deepEqual(d.body.result, [{ id: made[2]!.id }]);
      assert.deepEqual(await hostnames('hostname_contains=del-'), []);
      assert.equal(await count(), before.count - 3);
      assert.equal(await count(b), before.theirs, 'the other account keeps all of its targets');
      const written = (await events()).slice(before.events);
      assert.deepEqual(written.map((e) => [e.type, e.subject]).sort(), made.map((m) => ['infrastructure_target.deleted', m.id]).sort());
      assert.ok(await revision() > before.revision);
      assert.equal((await batchDelete({ target_ids: [made[0]!.id] })).status, 404, 'a second delete finds nothing');
    });

    it('another account\'s batch upserts its own targets: a hostname held here is never updated from there', async () => {
      const mine = ((await list('hostname=web-1.corp')).body.result as Target[])[0]!;
      const r = await batch([{ hostname: 'web-1.corp', ip: { ipv4: { ip_addr: '203.0.113.9' } } }], b);
      assert.equal(r.status, 200, r.raw);
      assert.notEqual(r.body.result[0].id, mine.id);
      assert.deepEqual(((await list('hostname=web-1.corp')).body.result as Target[])[0], mine, 'untouched');
      assert.deepEqual(await hostnames('ip_v4=203.0.113.9'), []);
      assert.deepEqual(await hostnames('ip_v4=203.0.113.9', b), ['web-1.corp']);
    });
  });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  const unavailable = kind === 'postgres' ? postgresMissing : null;
  it(`migration 0012 keys the addresses of targets written before it, so the range filters find them (${kind})`, { skip: unavailable ?? false }, async () => {
    const database = kind === 'postgres' ? await postgresTestDatabase() : undefined;
    const path = join(testTempDir('access-ca-0012-'), 'access-ca.db');
    const early = new Kysely<any>({ dialect: kind === 'postgres' ? new PostgresDialect({ pool: new pg.Pool({ connectionString: database!.url }) }) : new SqliteDialect({ database: new SQLite(path) }) });
    try {
      const { error } = await new Migrator({ db: early, provider: migrationProvider(kind) }).migrateTo('0011_trial_identity_provider');
      assert.equal(error, undefined);
      const at = '2026-01-01T00:00:00.000Z';
      await early.insertInto('accounts').values({ id: 'a'.repeat(32), name: 'before', created_at: at }).execute();
      const row = (id: string, ipv4: string | null, ipv6: string | null) => ({
        id, account_id: 'a'.repeat(32), hostname: id, host: id, ipv4, ipv4_vnet: null, ipv6, ipv6_vnet: null, tags: '{}', aliases: '[]', created_at: at, modified_at: at,
      });
      await early.insertInto('infrastructure_targets').values([row('t1', '10.0.0.9', null), row('t2', '10.0.0.10', 'FD00::1:0'), row('t3', null, null)]).execute();
    } finally {
      await early.destroy();
    }
    const opened = await openDatabase(kind === 'postgres' ? { kind, url: database!.url } : { kind, path });
    try {
      const keys = await opened.db.selectFrom('infrastructure_targets').select(['id', 'ipv4_key', 'ipv6_key']).orderBy('id').execute();
      assert.deepEqual(keys, [
        { id: 't1', ipv4_key: '0a000009', ipv6_key: null },
        { id: 't2', ipv4_key: '0a00000a', ipv6_key: 'fd000000000000000000000000010000' },
        { id: 't3', ipv4_key: null, ipv6_key: null },
      ]);
      const store = createTargetsStore(opened.db);
      const ids = async (filter: Parameters<typeof store.list>[1]) => (await store.list('a'.repeat(32), filter, 0, 10)).rows.map((r) => r.id);
      assert.deepEqual(await ids({ ipv4Range: { start: '10.0.0.2', end: '10.0.0.20' } }), ['t1', 't2']);
      assert.deepEqual(await ids({ ipv6: 'fd00:0:0:0:0:0:1:0' }), ['t2']);
    } finally {
      await opened.close();
      await database?.drop();
    }
  });
}
