import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../helpers/server-process.ts';
import { parseExposition, valueOf } from './prometheus-text.ts';

test('a real server answers probes and scrapes on its listener, counts them, and keeps them out of the request log', async (t) => {
  const server = await startServer({ env: { ACCESS_CA_LOG_LEVEL: 'info' } });
  t.after(() => server.stop());

  assert.equal((await fetch(`${server.origin}/healthz`)).status, 200);
  const ready = await fetch(`${server.origin}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(((await ready.json()) as { status: string }).status, 'ready');
  const verify = await fetch(`${server.base}/user/tokens/verify`, { headers: { authorization: `Bearer ${server.token}` } });
  assert.equal(verify.status, 200);

  // The test's client is on loopback: allowed by the default.
  const scrape = await fetch(`${server.origin}/metrics`);
  assert.equal(scrape.status, 200);
  const all = parseExposition(await scrape.text());
  assert.equal(valueOf(all, 'access_ca_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }), 1);
  assert.equal(valueOf(all, 'access_ca_http_requests_total', { route: '/readyz', method: 'GET', status: '200' }), 1);
  assert.equal(valueOf(all, 'access_ca_http_requests_total', { route: '/client/v4/user/tokens/verify', method: 'GET', status: '200' }), 1);

  // The API request is logged (pino writes each line as it happens); the probes and the scrape are not.
  const lines = () => server.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { req?: { url?: string } });
  for (let i = 0; i < 100 && !lines().some((l) => l.req?.url === '/client/v4/user/tokens/verify'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(lines().some((l) => l.req?.url === '/client/v4/user/tokens/verify'), 'the API request is in the log');
  assert.deepEqual(lines().filter((l) => /^\/(healthz|readyz|metrics)/.test(l.req?.url ?? '')), []);
});
