/**
 * The official SDK v7's `zeroTrust.access.infrastructure.targets` against a real server process: create,
 * get, update, list with each filter, auto-paging over several pages, bulkUpdate, bulkDeleteV2, the
 * deprecated bulkDelete, delete; and another account's token seeing none of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import { runCliProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';

const VNET = '238dccd1-149b-463d-8228-560ab83a54fd';

/** Counts the SDK's HTTP requests, so that paging can be asserted. */
function countingFetch() {
  const urls: string[] = [];
  const fetchFn = async (input: any, init?: any) => {
    urls.push(String(input));
    return fetch(input, init);
  };
  return { urls, fetchFn };
}

describe('contract: SDK v7 infrastructure.targets against a real server process', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });
  const client = (extra: Record<string, unknown> = {}) =>
    new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 0, ...extra } as any);
  const targets = () => client().zeroTrust.access.infrastructure.targets;
  /** The hostnames of every target the filter lists, walking the SDK's pages; in hostname order unless told (one batch shares one creation time). */
  const hostnames = async (query: Record<string, unknown>) => {
    const found: string[] = [];
    for await (const t of targets().list({ account_id: server.accountId, order: 'hostname', ...query } as any)) found.push(t.hostname);
    return found;
  };

  it('create, get, update, delete', async () => {
    const account_id = server.accountId;
    const made = await targets().create({ account_id, hostname: 'sdk-one', ip: { ipv4: { ip_addr: '10.1.0.1', virtual_network_id: VNET } }, tags: { env: 'prod' } });
    assert.match(made.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual([made.hostname, made.ip, made.tags], ['sdk-one', { ipv4: { ip_addr: '10.1.0.1', virtual_network_id: VNET } }, { env: 'prod' }]);
    assert.match(made.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.deepEqual(await targets().get(made.id, { account_id }), made);
    const updated = await targets().update(made.id, { account_id, hostname: 'sdk-one-renamed', ip: { ipv6: { ip_addr: 'fd00::1' } } });
    assert.deepEqual([updated.id, updated.hostname, updated.ip, updated.tags, updated.created_at], [made.id, 'sdk-one-renamed', { ipv6: { ip_addr: 'fd00::1' } }, {}, made.created_at]);
    await targets().delete(made.id, { account_id });
    await assert.rejects(targets().get(made.id, { account_id }), (error: any) => {
      assert.ok(error instanceof Cloudflare.NotFoundError, String(error));
      assert.equal(error.errors?.[0]?.code, 12135);
      return true;
    });
    await assert.rejects(targets().create({ account_id, hostname: 'bad host', ip: {} }), Cloudflare.BadRequestError);
  });

  it('bulkUpdate upserts and pages as a single page; list with each filter; bulkDeleteV2 and bulkDelete remove them', async () => {
    const account_id = server.accountId;
    const body = [
      { hostname: 'sdk-web-1', ip: { ipv4: { ip_addr: '10.2.0.9' } }, tags: { env: 'prod' } },
      { hostname: 'sdk-web-2', ip: { ipv4: { ip_addr: '10.2.0.10', virtual_network_id: VNET }, ipv6: { ip_addr: 'fd00:2::a' } }, tags: { env: 'dev' } },
      { hostname: 'sdk_db', ip: { ipv4: { ip_addr: '10.2.1.1' }, ipv6: { ip_addr: 'FD00:2::1:0' } } },
    ];
    const made = [];
    for await (const t of targets().bulkUpdate({ account_id, body })) made.push(t);
    assert.deepEqual(made.map((t) => t.hostname), ['sdk-web-1', 'sdk-web-2', 'sdk_db']);
    const [web1, web2, db] = made as [typeof made[0], typeof made[0], typeof made[0]];
    // The same hostname again updates that target in place.
    const again = [];
    for await (const t of targets().bulkUpdate({ account_id, body: [{ hostname: 'SDK-WEB-1', ip: { ipv4: { ip_addr: '10.2.0.9' } }, tags: { env: 'prod', team: 'ops' } }] })) again.push(t);
    assert.deepEqual(again.map((t) => [t.id, t.hostname, t.tags]), [[web1.id, 'SDK-WEB-1', { env: 'prod', team: 'ops' }]]);

    const all = ['SDK-WEB-1', 'sdk-web-2', 'sdk_db'];
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk' }), all);
    assert.deepEqual(await hostnames({ hostname: 'sdk-web-1' }), ['SDK-WEB-1']);
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk_' }), ['sdk_db'], '`_` is itself');
    assert.deepEqual(await hostnames({ ip_v4: '10.2.0.10' }), ['sdk-web-2']);
    assert.deepEqual(await hostnames({ ip_v6: 'fd00:2:0:0:0:0:1:0' }), ['sdk_db']);
    assert.deepEqual(await hostnames({ ips: ['10.2.0.9', 'fd00:2::a'] }), ['SDK-WEB-1', 'sdk-web-2']);
    assert.deepEqual(await hostnames({ ips: ['10.2.1.1'] }), ['sdk_db']);
    assert.deepEqual(await hostnames({ ip_like: '10.2.0.*' }), ['SDK-WEB-1', 'sdk-web-2']);
    assert.deepEqual(await hostnames({ ipv4_start: '10.2.0.2', ipv4_end: '10.2.0.20' }), ['SDK-WEB-1', 'sdk-web-2'], 'compared as addresses, not strings');
    assert.deepEqual(await hostnames({ ipv6_start: 'fd00:2::', ipv6_end: 'fd00:2::ff' }), ['sdk-web-2']);
    assert.deepEqual(await hostnames({ virtual_network_id: VNET }), ['sdk-web-2']);
    assert.deepEqual(await hostnames({ target_ids: [db.id, web1.id] }), ['SDK-WEB-1', 'sdk_db']);
    assert.deepEqual(await hostnames({ tag: ['env:prod', 'team:ops'] }), ['SDK-WEB-1']);
    assert.deepEqual(await hostnames({ created_after: web1.created_at, hostname_contains: 'sdk' }), all, 'inclusive');
    assert.deepEqual(await hostnames({ created_before: '2000-01-01T00:00:00Z' }), []);
    assert.deepEqual(await hostnames({ modified_after: again[0]!.modified_at, hostname_contains: 'sdk-web-1' }), ['SDK-WEB-1']);
    assert.deepEqual(await hostnames({ modified_before: '2000-01-01T00:00:00Z' }), []);
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk', order: 'hostname', direction: 'desc' }), ['sdk_db', 'sdk-web-2', 'SDK-WEB-1']);
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk', order: 'hostname', direction: 'asc' }), all);
    assert.deepEqual((await hostnames({ hostname_contains: 'sdk', order: 'created_at', direction: 'desc' })).sort(), [...all].sort());
    await assert.rejects(hostnames({ ipv4_start: '10.2.0.1' }), (error: any) => {
      assert.ok(error instanceof Cloudflare.BadRequestError, String(error));
      assert.equal(error.errors?.[0]?.code, 12130);
      assert.equal(error.errors?.[0]?.source?.pointer, '/ipv4_end');
      return true;
    });

    await targets().bulkDeleteV2({ account_id, target_ids: [web1.id, web2.id] });
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk' }), ['sdk_db']);
    // The deprecated route takes its ids in a body, which SDK v7 sends only when given one.
    await assert.rejects(targets().bulkDelete({ account_id }), Cloudflare.BadRequestError);
    await targets().bulkDelete({ account_id }, { body: { target_ids: [db.id] } } as any);
    assert.deepEqual(await hostnames({ hostname_contains: 'sdk' }), []);
    await assert.rejects(targets().bulkDeleteV2({ account_id, target_ids: [db.id] }), Cloudflare.NotFoundError);
  });

  it('auto-paging walks every page, then stops at the empty one', async () => {
    const account_id = server.accountId;
    const body = Array.from({ length: 23 }, (_, i) => ({ hostname: `page-${String(i).padStart(2, '0')}`, ip: { ipv4: { ip_addr: `10.3.0.${i + 1}` } } }));
    const made = [];
    for await (const t of targets().bulkUpdate({ account_id, body })) made.push(t.id);
    const { urls, fetchFn } = countingFetch();
    const paging = client({ fetch: fetchFn }).zeroTrust.access.infrastructure.targets;
    const seen: string[] = [];
    for await (const t of paging.list({ account_id, hostname_contains: 'page-', order: 'hostname', per_page: 5 })) seen.push(t.hostname);
    assert.deepEqual(seen, body.map((b) => b.hostname));
    assert.deepEqual(urls.map((u) => new URL(u).searchParams.get('page')), [null, '2', '3', '4', '5', '6'], 'five pages and the empty sixth');
    await paging.bulkDeleteV2({ account_id, target_ids: made });
    assert.deepEqual(await hostnames({ hostname_contains: 'page-' }), []);
  });

  it('another account\'s token lists, updates and deletes none of these targets', async () => {
    const account_id = server.accountId;
    const mine = await targets().create({ account_id, hostname: 'kept', ip: { ipv4: { ip_addr: '10.4.0.1' } } });
    const acct = await runCliProcess(['--data-dir', server.dataDir, 'account', 'create', '--name', 'other', '--json']);
    assert.equal(acct.code, 0, acct.stderr);
    const other = JSON.parse(acct.stdout).id as string;
    const tok = await runCliProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', other, '--permission', 'Access: Apps and Policies Write', '--json']);
    assert.equal(tok.code, 0, tok.stderr);
    const theirs = client({ apiToken: JSON.parse(tok.stdout).value }).zeroTrust.access.infrastructure.targets;
    const listed = [];
    for await (const t of theirs.list({ account_id: other })) listed.push(t.id);
    assert.deepEqual(listed, []);
    assert.deepEqual((await theirs.list({ account_id: other, target_ids: [mine.id] })).result, []);
    await assert.rejects(theirs.bulkDeleteV2({ account_id: other, target_ids: [mine.id] }), Cloudflare.NotFoundError);
    await assert.rejects(theirs.list({ account_id }), Cloudflare.PermissionDeniedError);
    const upserted = [];
    for await (const t of theirs.bulkUpdate({ account_id: other, body: [{ hostname: 'kept', ip: { ipv4: { ip_addr: '10.4.0.2' } } }] })) upserted.push(t);
    assert.notEqual(upserted[0]!.id, mine.id);
    assert.deepEqual(await targets().get(mine.id, { account_id }), mine);
    await targets().delete(mine.id, { account_id });
  });
});
