import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createJwksFetcher, JWKS_MAX_BYTES, JwksFetchError, type JwksFetchFailure } from './jwks-fetch.ts';

const JWK = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', use: 'sig' };
// A network read hands over at most this much at a time: the cut-off happens within one of these.
const CHUNK = 64 * 1024;

/** An HTTP server on 127.0.0.1 that records its connections: how many, and whether each has closed. */
async function serve(handler: RequestListener) {
  const server = createServer(handler);
  const connections: { closed: boolean }[] = [];
  const closed: Promise<void>[] = [];
  server.on('connection', (socket) => {
    const c = { closed: false };
    connections.push(c);
    closed.push(new Promise((r) => socket.once('close', () => {
      c.closed = true;
      r();
    })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (path = '/jwks') => `http://127.0.0.1:${port}${path}`,
    connections,
    allClosed: () => Promise.all(closed),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const dev = (timeoutMs = 2000) => createJwksFetcher({ allowPrivateAddresses: true, timeoutMs });

async function failure(work: Promise<unknown>): Promise<JwksFetchError> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof JwksFetchError, `not a JwksFetchError: ${error}`);
    return error;
  }
  assert.fail('the fetch succeeded');
}

const expectFailure = async (work: Promise<unknown>, kind: JwksFetchFailure, message: RegExp) => {
  const e = await failure(work);
  assert.equal(e.failure, kind, e.message);
  assert.match(e.message, message);
  return e;
};

describe('JWKS fetcher', () => {
  it('fetches a JWKS', async () => {
    const s = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [JWK] })));
    try {
      assert.deepEqual(await dev().fetch(s.url()), { keys: [JWK] });
    } finally {
      await s.close();
    }
  });

  it('cuts off a body that streams forever as soon as it passes 256 KiB, and closes the connection', async () => {
    let written = 0;
    const s = await serve((_req, res) => {
      // Promises 64 MiB in chunked encoding (no length to refuse up front) and never stops.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, ' ');
      const pump = () => {
        while (!res.destroyed && written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.write('{"keys":[');
      pump();
    });
    try {
      const started = Date.now();
      const e = await expectFailure(dev(10_000).fetch(s.url()), 'too-large', /^the JWKS document is larger than 256 KiB$/);
      assert.ok(e.bytesRead > JWKS_MAX_BYTES, `read ${e.bytesRead}`);
      assert.ok(e.bytesRead <= JWKS_MAX_BYTES + CHUNK, `read ${e.bytesRead} bytes, more than the cap and one chunk`);
      await s.allClosed();
      assert.ok(Date.now() - started < 2000, 'the fetch failed fast and the server saw the connection closed');
      assert.ok(written < 64 * 1024 * 1024, 'the server never got to send everything');
    } finally {
      await s.close();
    }
  });

  it('refuses a body whose declared length is over the cap without reading it', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(64 * 1024 * 1024) });
      res.write('{"keys":[]');
    });
    try {
      const e = await expectFailure(dev().fetch(s.url()), 'too-large', /larger than 256 KiB/);
      assert.equal(e.bytesRead, 0);
      await s.allClosed();
    } finally {
      await s.close();
    }
  });

  it('takes 100 keys and refuses 101', async () => {
    const s = await serve((req, res) => res.writeHead(200).end(JSON.stringify({ keys: Array(Number(req.url!.slice(1))).fill(JWK) })));
    try {
      assert.equal((await dev().fetch(s.url('/100'))).keys.length, 100);
      await expectFailure(dev().fetch(s.url('/101')), 'too-many-keys', /^the JWKS holds 101 keys; at most 100 are accepted$/);
    } finally {
      await s.close();
    }
  });

  it('times out on a server that never answers, and on one that stalls mid-body', async () => {
    // Accepts and reads, then says nothing.
    let silentClosed = 0;
    const silent = createTcpServer((socket) => socket.resume().once('close', () => silentClosed++));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const stalling = await serve((_req, res) => res.writeHead(200).write('{"keys":['));
    try {
      for (const url of [`http://127.0.0.1:${(silent.address() as { port: number }).port}/jwks`, stalling.url()]) {
        const started = Date.now();
        await expectFailure(dev(300).fetch(url), 'timeout', /^the JWKS URL did not answer within 0.3 s$/);
        const took = Date.now() - started;
        assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
      }
      await stalling.allClosed();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(silentClosed, 1, 'the silent server saw its connection closed');
    } finally {
      await new Promise<void>((r) => silent.close(() => r()));
      await stalling.close();
    }
  });

  it('does not follow a redirect', async () => {
    const target = await serve((_req, res) => res.writeHead(200).end(JSON.stringify({ keys: [JWK] })));
    const s = await serve((_req, res) => res.writeHead(302, { location: target.url() }).end());
    try {
      await expectFailure(dev().fetch(s.url()), 'redirect', /redirect \(HTTP 302\); redirects are not followed/);
      assert.equal(target.connections.length, 0, 'the redirect target was never contacted');
    } finally {
      await Promise.all([s.close(), target.close()]);
    }
  });

  it('refuses what is not a JWKS, and an error status', async () => {
    const bodies: Record<string, string> = {
      '/html': '<html>not json</html>', '/array': '[]', '/no-keys': '{"kids":[]}', '/keys-not-array': '{"keys":{}}', '/key-not-object': '{"keys":["x"]}',
    };
    const s = await serve((req, res) => (req.url === '/gone' ? res.writeHead(404).end() : res.writeHead(200).end(bodies[req.url!])));
    try {
      for (const path of Object.keys(bodies)) await expectFailure(dev().fetch(s.url(path)), 'not-jwks', /did not answer with a JWKS/);
      await expectFailure(dev().fetch(s.url('/gone')), 'http-status', /^the JWKS URL answered HTTP 404, not 200$/);
    } finally {
      await s.close();
    }
  });

  it('without the development allowance, refuses loopback by address and by name, before connecting', async () => {
    const s = await serve((_req, res) => res.writeHead(200).end(JSON.stringify({ keys: [JWK] })));
    try {
      assert.equal((await dev().fetch(s.url())).keys.length, 1, 'with the allowance the URL works');
      const strict = createJwksFetcher({ allowPrivateAddresses: false });
      for (const url of [s.url(), `https://127.0.0.1:${s.port}/jwks`, `https://localhost:${s.port}/jwks`, `https://[::ffff:127.0.0.1]:${s.port}/jwks`, `https://2130706433:${s.port}/jwks`]) {
        await expectFailure(strict.fetch(url), 'private-address', /^the JWKS URL's host is not a public address/);
      }
      assert.equal(s.connections.length, 1, 'only the allowed fetch connected');
      await expectFailure(strict.fetch('https://169.254.169.254/latest/meta-data/'), 'private-address', /not a public address/);
      await expectFailure(strict.fetch('http://login.example.com/jwks'), 'bad-url', /must be https/);
    } finally {
      await s.close();
    }
  });

  it('connects to exactly the address the guarded lookup approved', async () => {
    const s = await serve((_req, res) => res.writeHead(200).end(JSON.stringify({ keys: [JWK] })));
    const names: Record<string, string[]> = {
      'idp.test': ['127.0.0.1'], 'mixed.test': ['93.184.216.34', '127.0.0.1'], 'metadata.test': ['169.254.169.254'], 'mapped.test': ['::ffff:10.0.0.1'],
    };
    const resolve = async (hostname: string) => (names[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    try {
      const allowed = createJwksFetcher({ allowPrivateAddresses: true, resolve });
      assert.equal((await allowed.fetch(`http://idp.test:${s.port}/jwks`)).keys.length, 1, 'the name led to the address the lookup returned');
      const strict = createJwksFetcher({ allowPrivateAddresses: false, resolve });
      for (const name of ['idp.test', 'mixed.test', 'metadata.test', 'mapped.test']) {
        await expectFailure(strict.fetch(`https://${name}:${s.port}/jwks`), 'private-address', /not a public address/);
      }
      await expectFailure(strict.fetch(`https://unknown.test:${s.port}/jwks`), 'unreachable', /could not be reached/);
      assert.equal(s.connections.length, 1);
    } finally {
      await s.close();
    }
  });
});
