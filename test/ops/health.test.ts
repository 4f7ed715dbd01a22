import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { makeTestApp, type TestApp } from '../helpers/test-app.ts';
import { codeMigrationNames, createReadiness } from '../../src/observability/readiness.ts';
import type { Database } from '../../src/platform/db/schema.ts';
import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';

async function withApp(t: { after(fn: () => Promise<void>): void }): Promise<TestApp> {
  const h = await makeTestApp();
  t.after(() => h.close());
  return h;
}

test('/healthz answers 200 {"status":"ok"}, outside the API prefix', async (t) => {
  const h = await withApp(t);
  const res = await h.call('GET', '/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'ok' });
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal((await h.call('GET', '/client/v4/healthz')).status, 404);
});

test('/healthz still answers with the store closed: it touches nothing', async (t) => {
  const h = await withApp(t);
  await h.runtime.database.close();
  const res = await h.call('GET', '/healthz');
  assert.equal(res.status, 200);
});

test('/readyz answers 200 on a good store, every check ok, without authentication', async (t) => {
  const h = await withApp(t);
  const res = await h.call('GET', '/readyz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'ready', checks: { store: 'ok', migrations: 'ok', master_key: 'ok', store_writes: 'ok' }, failed: [] });
});

test('/readyz answers 503 naming "migrations" when the store is missing the last migration', async (t) => {
  const h = await withApp(t);
  const names = await codeMigrationNames();
  const last = names[names.length - 1]!;
  const removed = await sql`delete from kysely_migration where name = ${last}`.execute(h.db);
  assert.equal(Number(removed.numAffectedRows), 1);
  const res = await h.call('GET', '/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(res.body, { status: 'unavailable', checks: { store: 'ok', migrations: 'failed', master_key: 'ok', store_writes: 'ok' }, failed: ['migrations'] });
});

test('/readyz answers 503 naming "master_key" when the store was sealed under another key', async (t) => {
  const h = await withApp(t);
  await h.db.updateTable('settings').set({ value: Buffer.alloc(60, 7).toString('base64') }).where('name', '=', 'master_key_check').execute();
  const res = await h.call('GET', '/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(res.body.failed, ['master_key']);
  assert.equal(res.body.checks.store, 'ok');
});

test('/readyz answers 503 naming "store" when the store is closed, and skips what needs it', async (t) => {
  const h = await withApp(t);
  await h.runtime.database.close();
  const res = await h.call('GET', '/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(res.body, { status: 'unavailable', checks: { store: 'failed', migrations: 'skipped', master_key: 'skipped', store_writes: 'ok' }, failed: ['store'] });
  assert.doesNotMatch(res.raw, /destroyed|Error|sqlite|\//i, 'no error text, path or host in the answer');
});

test('a store that does not answer fails the store check at its deadline; concurrent probes share one run', async () => {
  // A SQLite "database" that never opens: every query waits forever.
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: () => new Promise(() => {}) }) });
  const readiness = createReadiness({ db, vault: { open: () => Buffer.alloc(0) }, expectedMigrations: [], timeoutMs: 20 });
  const first = readiness.check();
  assert.equal(readiness.check(), first, 'a probe during a run gets that run');
  const report = await first;
  assert.equal(report.ready, false);
  assert.deepEqual(report.failed, ['store']);
  assert.notEqual(readiness.check(), first, 'a later probe starts a new run');
});

test('/readyz on PostgreSQL: 200, then 503 naming "migrations" when the last one is missing', async (t) => {
  const why = await postgresUnavailable();
  if (why) return t.skip(why);
  const database = await postgresTestDatabase();
  t.after(() => database.drop());
  const h = await makeTestApp({ databaseUrl: database.url });
  t.after(() => h.close());
  assert.equal((await h.call('GET', '/readyz')).status, 200);
  const names = await codeMigrationNames();
  await sql`delete from kysely_migration where name = ${names[names.length - 1]!}`.execute(h.db);
  const res = await h.call('GET', '/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(res.body.failed, ['migrations']);
});

test('a store that refuses writes (SQLite read-only): a write is 503 10503 with retry-after, /readyz fails store_writes and /healthz stays 200, the metrics count the class and the gauge drops; the first write that commits clears all three', async (t) => {
  const h = await withApp(t);
  const tenant = await h.tenant();
  const apps = `/client/v4/accounts/${tenant.accountId}/access/apps`;
  const metric = async (line: RegExp) => Number(line.exec((await h.call('GET', '/metrics')).raw)?.[1]);
  assert.equal(await metric(/^access_ca_store_available (\d+)$/m), 1);
  assert.equal(await metric(/^access_ca_store_errors_total\{class="read_only"\} (\d+)$/m), 0, 'every class is a series from the start');
  assert.equal((await h.call('GET', '/readyz')).status, 200);

  // The driver's own refusal, as on a read-only mount: SQLITE_READONLY on every write of this connection.
  await sql`pragma query_only = 1`.execute(h.db);
  for (let i = 0; i < 3; i++) {
    const refused = await h.call('POST', apps, { token: tenant.write, body: { name: `app ${i}`, domain: `app${i}.${tenant.zoneName}`, type: 'self_hosted' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.errors[0].code, 10503);
    assert.equal(refused.headers['retry-after'], '2');
    assert.doesNotMatch(refused.raw, /readonly|SQLITE|query_only/i, 'never the driver\'s text');
  }
  const failing = await h.call('GET', '/readyz');
  assert.equal(failing.status, 503);
  assert.deepEqual(failing.body.failed, ['store_writes'], 'reads still work: only writes fail');
  assert.equal((await h.call('GET', '/healthz')).status, 200, 'liveness does not flap with the store');
  assert.equal(await metric(/^access_ca_store_available (\d+)$/m), 0);
  assert.equal(await metric(/^access_ca_store_errors_total\{class="read_only"\} (\d+)$/m), 3);
  assert.equal((await h.call('GET', '/readyz')).status, 503, 'the probe\'s own write fails too, so it stays unready');

  await sql`pragma query_only = 0`.execute(h.db);
  const ready = await h.call('GET', '/readyz');
  assert.equal(ready.status, 200, 'the probe\'s write commits: ready again without a request having to succeed first');
  assert.equal(await metric(/^access_ca_store_available (\d+)$/m), 1);
  const created = await h.call('POST', apps, { token: tenant.write, body: { name: 'after', domain: `after.${tenant.zoneName}`, type: 'self_hosted' } });
  assert.equal(created.status, 201);
  assert.equal(Number((await sql<{ n: number }>`select count(*) as n from access_apps`.execute(h.db)).rows[0]!.n), 1, 'no half-written app from the refused writes');
});
