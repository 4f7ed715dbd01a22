import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { buildApp, defaultAppConfig } from '../../src/app.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { cryptoRandom } from '../../src/platform/random.ts';
import { openStoreRuntime } from '../../src/platform/store-runtime.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

/** Everything a socket receives until the server closes it. */
const received = (socket: Socket) => new Promise<string>((resolve, reject) => {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => (text += d));
  socket.once('close', () => resolve(text));
  socket.once('error', reject);
  socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
});

test('a request that reaches a closing server (kept alive) is refused with 503 in the contract\'s shape; /readyz says unavailable', async () => {
  const runtime = await openStoreRuntime({ dataDir: testTempDir('access-ca-closing-'), databaseUrl: undefined, masterKeyFile: undefined });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let inFlight = 0;
  const app = await buildApp({
    config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false,
    // A request still in flight holds its connection open while the server closes.
    instrument: (a) => a.get('/test-slow', async () => {
      inFlight++;
      await gate;
      return { ok: true };
    }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const slow = 'GET /test-slow HTTP/1.1\r\nHost: x\r\n\r\n';
  const api = connect(port, '127.0.0.1');
  const cdn = connect(port, '127.0.0.1');
  const nowhere = connect(port, '127.0.0.1');
  const probe = connect(port, '127.0.0.1');
  const [apiText, cdnText, nowhereText, probeText] = [received(api), received(cdn), received(nowhere), received(probe)];
  for (const socket of [api, cdn, nowhere, probe]) socket.write(slow);
  while (inFlight < 4) await new Promise((r) => setTimeout(r, 10));
  const closed = app.close();
  // Sent on the kept-alive connections once the server is closing (Node parses a pipelined request at once).
  api.write('GET /client/v4/user/tokens/verify HTTP/1.1\r\nHost: x\r\n\r\n');
  cdn.write('POST /cdn-cgi/access/cert_sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  nowhere.write('GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n');
  probe.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  release();
  const [apiAnswer, cdnAnswer, nowhereAnswer, probeAnswer] = await Promise.all([apiText, cdnText, nowhereText, probeText]);
  await closed;
  await runtime.database.close();

  // The request in flight finishes; the next one on its connection is refused, and the connection closed.
  for (const text of [apiAnswer, cdnAnswer, nowhereAnswer, probeAnswer]) assert.match(text, /^HTTP\/1\.1 200 OK[\s\S]*\{"ok":true\}HTTP\/1\.1 503 Service Unavailable\r\n/);
  const second = (text: string) => text.slice(text.indexOf('HTTP/1.1 503'));
  for (const text of [apiAnswer, cdnAnswer, nowhereAnswer]) {
    assert.match(second(text), /\r\nretry-after: 1\r\n/i);
    assert.match(second(text), /\r\nconnection: close\r\n/i);
  }
  const bodyOf = (text: string) => JSON.parse(second(text).split('\r\n\r\n')[1]!);
  assert.deepEqual(bodyOf(apiAnswer), { success: false, errors: [{ code: 10503, message: 'The server is shutting down; retry the request' }], messages: [], result: null });
  assert.deepEqual(bodyOf(nowhereAnswer), bodyOf(apiAnswer), 'a path with no route is refused the same way');
  // A load balancer's probe on a kept-alive connection hears "not ready", in readiness's own shape.
  assert.deepEqual(bodyOf(probeAnswer), { status: 'unavailable', checks: { store: 'skipped', migrations: 'skipped', master_key: 'skipped', store_writes: 'skipped' }, failed: [] });
  assert.deepEqual(bodyOf(cdnAnswer), { status: 503, message: 'The server is shutting down; retry the request' });
});
