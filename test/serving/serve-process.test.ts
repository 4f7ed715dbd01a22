import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { runCliProcess, startServer } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const OPENSSL = '/usr/bin/openssl';
const STACK = /\n\s+at /;

function get(req: typeof httpRequest, url: string, opts: Record<string, unknown> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = req(url, { method: 'GET', ...opts }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.setTimeout(5000, () => r.destroy(new Error('timeout')));
    r.end();
  });
}

test('serve over TLS: https with the pinned certificate answers; plain http to the port does not', async (t) => {
  if (!existsSync(OPENSSL)) return t.skip('openssl is not installed at /usr/bin/openssl');
  const dir = testTempDir('access-ca-tls-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const srv = await startServer({ dataDir: join(dir, 'data'), args: ['--tls-cert', cert, '--tls-key', key] });
  try {
    assert.match(srv.origin, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(cert);
    const health = await get(httpsRequest, `${srv.origin}/healthz`, { ca });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');
    const apps = `${srv.base}/accounts/${srv.accountId}/access/apps`;
    const unauth = await get(httpsRequest, apps, { ca });
    // Without credentials: the contract's envelope (Cloudflare's 400/9106), proof the TLS layer let it through.
    assert.equal(unauth.status, 400, unauth.body);
    assert.equal(JSON.parse(unauth.body).errors[0].code, 9106);
    const authed = await get(httpsRequest, apps, { ca, headers: { authorization: `Bearer ${srv.token}` } });
    assert.equal(authed.status, 200, authed.body);
    assert.equal(JSON.parse(authed.body).success, true);
    const plain = srv.origin.replace(/^https:/, 'http:');
    const outcome = await get(httpRequest, `${plain}/healthz`).then((r) => `status ${r.status}`, (e: Error) => `error ${e.message}`);
    t.diagnostic(`plain http to the TLS port: ${outcome}`);
    assert.ok(!/^status 2\d\d$/.test(outcome), `plain http must not be served, got ${outcome}`);
  } finally {
    await srv.stop();
  }
});

test('serve with --tls-cert but no --tls-key exits 2 naming the missing flag, without a stack trace', async () => {
  const dir = testTempDir('access-ca-tls1-');
  const { code, stderr } = await runCliProcess(['--data-dir', join(dir, 'data'), 'serve', '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'c.pem')]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /--tls-key/);
  assert.doesNotMatch(stderr, STACK);
});

test('SIGTERM under load: exit 0 and every acknowledged app survives a restart', async (t) => {
  const dataDir = testTempDir('access-ca-term-');
  const srv = await startServer({ dataDir });
  assert.match(srv.accountId, /^[0-9a-f]{32}$/);
  const url = `${srv.base}/accounts/${srv.accountId}/access/apps`;
  const acked: string[] = [];
  let stopping = false;
  let attempts = 0;
  const loop = async () => {
    while (!stopping) {
      attempts++;
      const name = `load-${randomUUID()}`;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name, domain: `${name}.example.com` }),
        });
        const body = (await res.json()) as { result?: { id?: string } };
        if (res.status >= 200 && res.status < 300) {
          assert.ok(body.result?.id, 'a 2xx create names its id');
          acked.push(body.result.id);
        }
      } catch {
        return; // the server has closed: connection refused or reset, nothing acknowledged
      }
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  const code = await srv.stop('SIGTERM');
  stopping = true;
  await Promise.all(loops);
  assert.equal(code, 0, srv.stderr());
  assert.ok(acked.length > 0, `some creates were acknowledged before SIGTERM (attempts ${attempts})`);

  t.diagnostic(`${acked.length} creates acknowledged of ${attempts} attempted before SIGTERM`);
  const again = await startServer({ dataDir });
  try {
    // The first-start banner is printed once; the restart reuses the first token.
    const missing: string[] = [];
    for (const id of acked) {
      const res = await fetch(`${again.base}/accounts/${srv.accountId}/access/apps/${id}`, { headers: { authorization: `Bearer ${srv.token}` } });
      if (res.status !== 200) missing.push(`${id}: ${res.status}`);
    }
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged apps are gone`);
  } finally {
    await again.stop();
  }
});

test('a port already in use: exit 2, the fix names --listen, no stack trace', async () => {
  const srv = await startServer();
  try {
    const port = new URL(srv.origin).port;
    const { code, stderr } = await runCliProcess(['--data-dir', testTempDir('access-ca-port-'), 'serve', '--listen', `127.0.0.1:${port}`]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /already in use/);
    assert.match(stderr, /--listen|ACCESS_CA_LISTEN/);
    assert.doesNotMatch(stderr, STACK);
  } finally {
    await srv.stop();
  }
});

test('an unknown log level: exit 2, the valid levels listed, no stack trace', async () => {
  const { code, stderr } = await runCliProcess(['--data-dir', testTempDir('access-ca-lvl-'), 'serve', '--listen', '127.0.0.1:0'], { ACCESS_CA_LOG_LEVEL: 'loud' });
  assert.equal(code, 2, stderr);
  assert.match(stderr, /ACCESS_CA_LOG_LEVEL/);
  assert.match(stderr, /\binfo\b/);
  assert.match(stderr, /\bdebug\b/);
  assert.doesNotMatch(stderr, STACK);
});

test('a second server on the same SQLite data directory: exit 2, says one is already running, no stack trace', async () => {
  const srv = await startServer();
  try {
    const { code, stderr } = await runCliProcess(['--data-dir', srv.dataDir, 'serve', '--listen', '127.0.0.1:0']);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /already running/i);
    assert.doesNotMatch(stderr, STACK);
    assert.equal(srv.child.exitCode, null, 'the first server keeps running');
  } finally {
    await srv.stop();
  }
});
