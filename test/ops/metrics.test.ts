import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { makeTestApp, scoped, type TestApp } from '../helpers/test-app.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { MetricsConfigError, parseMetricsAccess } from '../../src/observability/metrics-access.ts';
import { parseExposition, valueOf, type Family } from './prometheus-text.ts';

const TOKEN = 'm'.repeat(16) + '0123456789abcdef0123';

async function scrape(app: FastifyInstance, opts: { remoteAddress?: string; headers?: Record<string, string> } = {}) {
  const res = await app.inject({ method: 'GET', url: '/metrics', ...opts });
  return { status: res.statusCode, headers: res.headers, text: res.body, body: res.statusCode === 200 ? undefined : JSON.parse(res.body) };
}

async function families(app: FastifyInstance): Promise<Map<string, Family>> {
  const res = await scrape(app);
  assert.equal(res.status, 200, res.text);
  return parseExposition(res.text);
}

async function withApp(t: { after(fn: () => Promise<void>): void }, config: Parameters<typeof makeTestApp>[0] = {}): Promise<TestApp> {
  const h = await makeTestApp(config);
  t.after(() => h.close());
  return h;
}

test('the parser used below refuses what Prometheus would refuse', () => {
  assert.throws(() => parseExposition('x 1'), /newline/);
  assert.throws(() => parseExposition('x 1\n'), /no TYPE/);
  assert.throws(() => parseExposition('# TYPE x counter\nx{a="1} 1\n'), /unterminated/);
  assert.throws(() => parseExposition('# TYPE x counter\nx 1\nx 2\n'), /twice/);
  assert.throws(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'), /cumulative/);
  assert.equal(valueOf(parseExposition('# HELP x a\n# TYPE x counter\nx{a="q\\"\\n"} 3\n'), 'x', { a: 'q"\n' }), 3);
});

test('/metrics serves a well-formed exposition: every family of ours with help, and the event-loop lag', async (t) => {
  const h = await withApp(t);
  const res = await scrape(h.app);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const all = parseExposition(res.text);
  const ours = ['http_requests_total', 'http_request_duration_seconds', 'certificates_issued_total', 'certificates_refused_total', 'auth_failures_total',
    'cache_hits_total', 'cache_misses_total', 'group_commit_batch_size', 'group_commit_seconds'].map((n) => `access_ca_${n}`);
  for (const name of ours) {
    assert.ok(all.has(name), `${name} is exposed`);
    assert.ok(all.get(name)!.help.length > 10, `${name} has help text`);
  }
  assert.equal(all.get('access_ca_http_request_duration_seconds')!.type, 'histogram');
  assert.equal(all.get('access_ca_group_commit_seconds')!.type, 'histogram');
  // The process's metrics under prom-client's standard names, shared by every app in the process.
  assert.equal(all.get('nodejs_eventloop_lag_p99_seconds')?.type, 'gauge');
  assert.ok(all.has('process_cpu_seconds_total'));
});

test('the request counter moves by exactly the requests made to a route, labelled by pattern, never the URL', async (t) => {
  const h = await withApp(t);
  const tenant = await h.tenant();
  const route = '/client/v4/accounts/:account_id/access/apps';
  const before = await families(h.app);
  for (let i = 0; i < 3; i++) assert.equal((await h.call('GET', scoped('account', tenant.accountId, '/access/apps'), { token: tenant.read })).status, 200);
  assert.equal((await h.call('GET', `/no/such/route/${tenant.accountId}`)).status, 404);
  assert.equal((await h.call('GET', `/another/${tenant.accountId}`)).status, 404);
  const after = await families(h.app);

  const labels = { route, method: 'GET', status: '200' };
  assert.equal(valueOf(after, 'access_ca_http_requests_total', labels) - valueOf(before, 'access_ca_http_requests_total', labels), 3);
  assert.equal(valueOf(after, 'access_ca_http_request_duration_seconds_count', labels) - valueOf(before, 'access_ca_http_request_duration_seconds_count', labels), 3);
  const unmatched = { route: 'unmatched', method: 'GET', status: '404' };
  assert.equal(valueOf(after, 'access_ca_http_requests_total', unmatched) - valueOf(before, 'access_ca_http_requests_total', unmatched), 2);
  const routes = after.get('access_ca_http_requests_total')!.samples.map((s) => s.labels['route']!);
  assert.ok(routes.every((r) => !r.includes(tenant.accountId)), `no raw URL among ${routes.join(', ')}`);
});

test('authentication failures are counted by their code', async (t) => {
  const h = await withApp(t);
  const tenant = await h.tenant();
  const before = await families(h.app);
  const bad = await h.call('GET', scoped('account', tenant.accountId, '/access/apps'), { token: 'x'.repeat(40) });
  assert.equal(bad.status, 403);
  assert.equal(bad.body.errors[0].code, 9109);
  const none = await h.call('GET', scoped('account', tenant.accountId, '/access/apps'));
  assert.equal(none.body.errors[0].code, 9106);
  const after = await families(h.app);
  assert.equal(valueOf(after, 'access_ca_auth_failures_total', { code: '9109' }) - valueOf(before, 'access_ca_auth_failures_total', { code: '9109' }), 1);
  assert.equal(valueOf(after, 'access_ca_auth_failures_total', { code: '9106' }) - valueOf(before, 'access_ca_auth_failures_total', { code: '9106' }), 1);
});

test('/metrics is loopback-only by default: refused (as an unknown path) from another address, and through a proxy nobody declared', async (t) => {
  const h = await withApp(t);
  const far = await scrape(h.app, { remoteAddress: '203.0.113.9' });
  assert.equal(far.status, 404);
  assert.equal(far.body.errors[0].code, 7000);
  const unknown = await h.app.inject({ method: 'GET', url: '/nothing-here', remoteAddress: '203.0.113.9' });
  assert.equal(far.text, unknown.body, 'the same answer as a path that does not exist');
  // A loopback socket carrying X-Forwarded-For is a proxy in front of us that --trust-proxy does not name.
  assert.equal((await scrape(h.app, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 404);
  assert.equal((await scrape(h.app, { remoteAddress: '::ffff:127.0.0.1' })).status, 200);
  assert.equal((await scrape(h.app, { remoteAddress: '::1' })).status, 200);
  assert.equal((await h.call('GET', '/client/v4/metrics')).status, 404, 'not under the API prefix');
});

test('/metrics behind a trusted proxy judges the forwarded client; a token opens it from anywhere', async (t) => {
  const h = await withApp(t, { config: { trustProxy: ['127.0.0.1'], metricsAccess: { allow: ['10.0.0.0/8'], token: TOKEN } } });
  assert.equal((await scrape(h.app, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 404);
  assert.equal((await scrape(h.app, { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200);
  // The allow list replaces loopback: a local client without the token is refused.
  assert.equal((await scrape(h.app, { headers: { 'x-forwarded-for': '127.0.0.1' } })).status, 404);
  assert.equal((await scrape(h.app, { headers: { 'x-forwarded-for': '203.0.113.9', authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal((await scrape(h.app, { remoteAddress: '198.51.100.7', headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal((await scrape(h.app, { remoteAddress: '198.51.100.7', headers: { authorization: `Bearer ${TOKEN}x` } })).status, 404);
  assert.equal((await scrape(h.app, { remoteAddress: '198.51.100.7', headers: { authorization: TOKEN } })).status, 404);
});

test('metrics access settings are read strictly', () => {
  assert.deepEqual(parseMetricsAccess({}), { allow: ['127.0.0.0/8', '::1'], token: undefined });
  assert.deepEqual(parseMetricsAccess({ ACCESS_CA_METRICS_ALLOW: 'none', ACCESS_CA_METRICS_TOKEN: TOKEN }), { allow: [], token: TOKEN });
  assert.deepEqual(parseMetricsAccess({ ACCESS_CA_METRICS_ALLOW: ' 10.0.0.0/8, fd00::/8 ' }).allow, ['10.0.0.0/8', 'fd00::/8']);
  assert.throws(() => parseMetricsAccess({ ACCESS_CA_METRICS_ALLOW: '10.0.0.1/8' }), MetricsConfigError);
  assert.throws(() => parseMetricsAccess({ ACCESS_CA_METRICS_ALLOW: 'example.com' }), MetricsConfigError);
  assert.throws(() => parseMetricsAccess({ ACCESS_CA_METRICS_TOKEN: 'short' }), (e: Error) => e instanceof MetricsConfigError && !e.message.includes('short'));
});

test('the hot path interface: counters by app and reason, caches, group commits; labels stay bounded', async () => {
  const metrics = createMetrics();
  const other = createMetrics();
  metrics.certificateIssued('app-1');
  metrics.certificateIssued('app-1');
  metrics.certificateRefused('unknown', 'app_unknown');
  metrics.certificateRefused('app-1', 'access_denied');
  metrics.certificateRefused('app-1', 'made-up' as never);
  metrics.certificateIssued('not an id{}"');
  metrics.cacheHit('apps');
  metrics.cacheHit('apps');
  metrics.cacheMiss('verified_tokens');
  metrics.cacheHit('Bad Name');
  metrics.groupCommit(3, 0.002);
  metrics.groupCommit(40, 0.004);
  for (let i = 0; i < 1100; i++) metrics.certificateIssued(`bulk-${i}`);
  const all = parseExposition(await metrics.exposition());

  assert.equal(valueOf(all, 'access_ca_certificates_issued_total', { app: 'app-1' }), 2);
  assert.equal(valueOf(all, 'access_ca_certificates_refused_total', { app: 'unknown', reason: 'app_unknown' }), 1);
  assert.equal(valueOf(all, 'access_ca_certificates_refused_total', { app: 'app-1', reason: 'access_denied' }), 1);
  assert.equal(valueOf(all, 'access_ca_certificates_refused_total', { app: 'app-1', reason: 'error' }), 1, 'a reason outside the set is counted as error');
  assert.equal(valueOf(all, 'access_ca_certificates_issued_total', { app: 'unknown' }), 1, 'a malformed app id is not a label');
  assert.equal(valueOf(all, 'access_ca_cache_hits_total', { cache: 'apps' }), 2);
  assert.equal(valueOf(all, 'access_ca_cache_misses_total', { cache: 'verified_tokens' }), 1);
  assert.equal(valueOf(all, 'access_ca_cache_hits_total', { cache: 'other' }), 1);
  assert.equal(valueOf(all, 'access_ca_group_commit_batch_size_count'), 2);
  assert.equal(valueOf(all, 'access_ca_group_commit_batch_size_sum'), 43);
  assert.equal(valueOf(all, 'access_ca_group_commit_batch_size_bucket', { le: '4' }), 1);
  assert.equal(valueOf(all, 'access_ca_group_commit_seconds_count'), 2);
  const apps = all.get('access_ca_certificates_issued_total')!.samples.map((s) => s.labels['app']);
  assert.ok(apps.length <= 1001, `at most 1000 apps and "other": ${apps.length}`);
  assert.ok(valueOf(all, 'access_ca_certificates_issued_total', { app: 'other' }) > 0);

  // Another app's metrics in the same process are its own.
  const theirs = parseExposition(await other.exposition());
  assert.equal(valueOf(theirs, 'access_ca_certificates_issued_total', { app: 'app-1' }), 0);
});
