import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';

/** Opens a connection that sends a request one byte at a time, slowly; resolves when the server closes it. */
function slowClient(port: number, everyMs: number): { closed: Promise<number>; socket: Socket } {
  const socket = connect(port, '127.0.0.1');
  const started = Date.now();
  const text = 'POST /cdn-cgi/access/cert_sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"';
  let i = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(text[i++ % text.length]!);
  }, everyMs);
  const closed = new Promise<number>((resolve) => socket.on('close', () => {
    clearInterval(timer);
    resolve(Date.now() - started);
  }));
  socket.on('error', () => {});
  return { closed, socket };
}

describe('clients cannot hold the server: deadlines, connections per client, the real client address behind a proxy', () => {
  let t: TestApp;
  let port: number;
  before(async () => {
    t = await makeTestApp({ config: { connections: { requestTimeoutMs: 1500, headersTimeoutMs: 1000, keepAliveTimeoutMs: 500, connectionsPerClient: 8 } } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as { port: number }).port;
  });
  after(() => t.close());

  it('twenty clients trickling a request byte by byte are all cut at the deadline', async () => {
    const clients = Array.from({ length: 20 }, () => slowClient(port, 200));
    const bound = new Promise<'held'>((r) => setTimeout(() => r('held'), 15_000).unref());
    const outcome = await Promise.race([Promise.all(clients.map((c) => c.closed)), bound]);
    assert.notEqual(outcome, 'held', 'some slow connections were still held after 15 s');
    for (const c of clients) c.socket.destroy();
  });

  it('a client holds at most its share of connections; the server still answers others', async () => {
    const idle = Array.from({ length: 12 }, () => connect(port, '127.0.0.1'));
    for (const s of idle) s.on('error', () => {});
    await Promise.all(idle.map((s) => new Promise((r) => s.once('connect', r))));
    const closedAtOnce = await Promise.all(idle.map((s) => new Promise<boolean>((r) => {
      const timer = setTimeout(() => r(false), 300);
      s.once('close', () => {
        clearTimeout(timer);
        r(true);
      });
    })));
    assert.equal(closedAtOnce.filter(Boolean).length, 4, 'the connections past 8 were closed at once');
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`http://127.0.0.1:${port}/client/v4/user/tokens/verify`);
    assert.equal(res.status, 400, 'a new client is still served');
  });
});

describe('behind a proxy: --trust-proxy names it, and only then is X-Forwarded-For believed', () => {
  let t: TestApp;
  let plain: TestApp;
  let tenant: Tenant;
  before(async () => {
    t = await makeTestApp({ config: { trustProxy: ['127.0.0.0/8'], authFailuresPerMinute: 2 } });
    plain = await makeTestApp({ config: { authFailuresPerMinute: 2 } });
    tenant = await t.tenant();
  });
  after(async () => {
    await t.close();
    await plain.close();
  });

  it('failures count against the forwarded client, not the proxy; a spoofed header from elsewhere is ignored', async () => {
    const path = scoped('account', tenant.accountId, '/access/apps');
    const via = (app: TestApp, forwarded: string, remoteAddress = '127.0.0.1') =>
      app.app.inject({ method: 'GET', url: path, remoteAddress, headers: { authorization: `Bearer bad-${randomUUID()}`, 'x-forwarded-for': forwarded } });
    for (let i = 0; i < 2; i++) assert.equal((await via(t, '198.51.100.1')).statusCode, 403);
    assert.equal((await via(t, '198.51.100.1')).statusCode, 429, 'the forwarded client is limited');
    assert.equal((await via(t, '198.51.100.2')).statusCode, 403, 'another client behind the same proxy is not');
    for (let i = 0; i < 2; i++) assert.equal((await via(t, '198.51.100.3', '203.0.113.5')).statusCode, 403);
    assert.equal((await via(t, '198.51.100.4', '203.0.113.5')).statusCode, 429, 'not from a trusted proxy: the socket address counts');
    for (let i = 0; i < 2; i++) await via(plain, `192.0.2.${i}`);
    assert.equal((await via(plain, '192.0.2.99')).statusCode, 429, 'without --trust-proxy the header is ignored');
  });
});
