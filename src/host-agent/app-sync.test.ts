import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKrl } from '../openssh/krl.ts';
import { authorizedKeyLine, publicKeyBlob } from '../openssh/public-key-blob.ts';
import {
  KRL_FILE, MAX_KRL_BYTES, readTokenFile, STATE_FILE, syncLoop, syncOnce, TRUST_FILE, writeFileAtomic, type SyncTarget,
} from './app-sync.ts';
import { jitteredDelay } from './host-sync.ts';
import { parseInterval, syncTarget } from '../cli/sshd-sync.ts';
import { runCli } from '../cli/program.ts';
import { safeTempDir } from '../../test/helpers/temp-dir.ts';

const ACCOUNT = '0123456789abcdef0123456789abcdef';
const APP = '3f1c7a52-8c3e-4b8e-9d41-2a6f0e5b7c19';

// The agent refuses directories under the sticky, world-writable /tmp (host-agent/file-safety.ts).
const safeBase = safeTempDir('access-ca-sync-unit-');
const noSafeDir = safeBase === null ? 'no directory with a safe chain of ancestors (/run or home) to test in' : false;

function withTmp<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  if (safeBase === null) throw new Error('no directory with a safe chain of ancestors (/run or home) to test in');
  const dir = mkdtempSync(join(safeBase, 'case-'));
  chmodSync(dir, 0o755);
  return Promise.resolve().then(() => fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const caLine = (comment = 'open-ssh-ca@cloudflareaccess.org') =>
  authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), comment);
const krlBytes = (version: number, serials: bigint[] = []) => encodeKrl({
  version: BigInt(version), generatedDate: 0n, comment: 'test',
  certificates: serials.length ? [{ caKeyBlob: Buffer.from(caLine().split(' ')[1]!, 'base64'), serials, keyIds: [] }] : [], sha256Keys: [],
});

/** A stand-in for the server's two routes, with ETags and If-None-Match as the real ones answer. */
class FakeServer {
  keys: string[] = [caLine()];
  krl: Buffer = krlBytes(0);
  /** Replaces the next answers of a route. */
  override: { trusted_keys?: () => Response; krl?: () => Response } = {};
  down = false;
  seen: { path: string; ifNoneMatch: string | null; authorization: string | null }[] = [];

  fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const path = url.slice(url.lastIndexOf('/') + 1);
    this.seen.push({ path, ifNoneMatch: headers.get('if-none-match'), authorization: headers.get('authorization') });
    if (this.down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    assert.ok(url.startsWith(`https://ca.example.com/client/v4/accounts/${ACCOUNT}/access/apps/${APP}/ca/`), url);
    if (path === 'trusted_keys') {
      if (this.override.trusted_keys) return this.override.trusted_keys();
      const file = this.keys.map((k) => `${k}\n`).join('');
      const etag = `"k${file.length}-${this.keys.length}"`;
      if (headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag } });
      const body = { success: true, errors: [], messages: [], result: { keys: this.keys.map((k, i) => ({ id: `${i}`, state: 'active', public_key: k, created_at: '' })), trusted_user_ca_keys: file } };
      return new Response(JSON.stringify(body), { status: 200, headers: { etag, 'content-type': 'application/json' } });
    }
    if (this.override.krl) return this.override.krl();
    const etag = `"r${this.krl.length}-${this.krl.readBigUInt64BE(12)}"`;
    if (headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag } });
    return new Response(new Uint8Array(this.krl), { status: 200, headers: { etag, 'content-type': 'application/octet-stream' } });
  }) as typeof fetch;
}

function target(dir: string): SyncTarget {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'the-token-value\n', { mode: 0o600 });
  chmodSync(tokenFile, 0o600);
  return syncTarget({ server: 'https://ca.example.com', account: ACCOUNT, app: APP, dir: join(dir, 'ssh'), tokenFile });
}

const files = (t: SyncTarget) => ({ trusted: readFileSync(join(t.dir, TRUST_FILE), 'utf8'), krl: readFileSync(join(t.dir, KRL_FILE)) });
const keyLines = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));

describe('sshd-sync: writing files', { skip: noSafeDir }, () => {
  it('writes both files 0644 in a 0755 directory it made, with the token, and asks with If-None-Match afterwards', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    server.krl = krlBytes(3, [5n, 9n]);
    const old = process.umask(0o077); // the modes must not depend on the caller's umask
    try {
      const first = await syncOnce(t, { fetch: server.fetch });
      assert.deepEqual(first.errors, []);
      assert.deepEqual([first.trusted.changed, first.trusted.count, first.krl.changed, first.krl.count], [true, 1, true, 3]);
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(t.dir).mode & 0o777, 0o755);
    assert.equal(statSync(join(t.dir, TRUST_FILE)).mode & 0o777, 0o644);
    assert.equal(statSync(join(t.dir, KRL_FILE)).mode & 0o777, 0o644);
    assert.deepEqual(keyLines(files(t).trusted), server.keys);
    assert.ok(files(t).krl.equals(server.krl));
    assert.deepEqual(server.seen.map((s) => [s.path, s.ifNoneMatch, s.authorization]).sort(), [['krl', null, 'Bearer the-token-value'], ['trusted_keys', null, 'Bearer the-token-value']]);
    assert.deepEqual(readdirSync(t.dir).sort(), [STATE_FILE, KRL_FILE, TRUST_FILE].sort(), 'no temporary file is left behind');

    server.seen = [];
    const second = await syncOnce(t, { fetch: server.fetch });
    assert.deepEqual([second.trusted.changed, second.krl.changed, second.errors], [false, false, []]);
    assert.ok(server.seen.every((s) => s.ifNoneMatch !== null), 'both requests are conditional');
    assert.equal(second.trusted.count, 1);
  }));

  it('keeps the old trust file when the server lists zero keys, and never writes an empty one on a first run', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    server.keys = [];
    const empty = await syncOnce(t, { fetch: server.fetch });
    assert.match(empty.errors.join(), /no keys; an empty trust file is never written/);
    assert.throws(() => readFileSync(join(t.dir, TRUST_FILE)), /ENOENT/, 'no trust file at all rather than an empty one');

    server.keys = [caLine()];
    await syncOnce(t, { fetch: server.fetch });
    const before = files(t);
    server.keys = [];
    server.krl = krlBytes(1, [7n]);
    const r = await syncOnce(t, { fetch: server.fetch });
    assert.equal(r.trusted.changed, false);
    assert.match(r.trusted.error ?? '', /no keys/);
    assert.equal(files(t).trusted, before.trusted, 'the last good trust file is kept');
    assert.equal(r.krl.changed, true, 'the KRL, which did come, is still written');
    assert.ok(files(t).krl.equals(server.krl));
  }));

  it('refuses a trust file with a key that is not ecdsa-sha2-nistp256, a broken line, or a list that disagrees', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    await syncOnce(t, { fetch: server.fetch });
    const before = files(t).trusted;
    const ed25519 = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey), 'x');
    const answer = (file: string, keys: string[]) => () => new Response(JSON.stringify({
      success: true, result: { keys: keys.map((k) => ({ id: '1', state: 'active', public_key: k, created_at: '' })), trusted_user_ca_keys: file },
    }), { status: 200, headers: { etag: '"other"' } });
    const good = caLine();
    const cases: [string, () => Response, RegExp][] = [
      ['ed25519', answer(`${ed25519}\n`, [ed25519]), /ssh-ed25519 key, not ecdsa-sha2-nistp256/],
      ['not a key', answer('ecdsa-sha2-nistp256 AAAA\n', ['ecdsa-sha2-nistp256 AAAA']), /line 1/],
      ['an option line', answer(`cert-authority ${good}\n`, [good]), /line 1/],
      ['control characters', answer(`${good.replace(/ \S+$/, ' a\x1bb')}\n`, [good]), /unprintable/],
      ['disagreeing list', answer(`${good}\n`, [caLine()]), /disagree/],
      ['no JSON', () => new Response('<html>', { status: 200 }), /not JSON/],
      ['no envelope', () => new Response('{"result":{}}', { status: 200 }), /not a successful API envelope/],
    ];
    for (const [name, response, message] of cases) {
      server.override.trusted_keys = response;
      const r = await syncOnce(t, { fetch: server.fetch });
      assert.match(r.errors.join(), message, name);
      assert.equal(files(t).trusted, before, `${name}: the old file is kept`);
    }
    assert.deepEqual(readdirSync(t.dir).filter((f) => f.endsWith('.tmp')), []);
  }));

  it('keeps the old KRL when the new one is truncated, foreign or too large', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    server.krl = krlBytes(2, [1n, 2n, 3n]);
    await syncOnce(t, { fetch: server.fetch });
    const before = files(t).krl;
    const next = krlBytes(3, [1n, 2n, 3n, 4n]);
    const bodies: [string, Buffer, RegExp][] = [
      ['truncated', next.subarray(0, next.length - 1), /truncated/],
      ['empty', Buffer.alloc(0), /too short/],
      ['not a KRL', Buffer.from('<html>not found</html>'.repeat(4)), /no SSHKRL magic/],
      ['too large', Buffer.concat([next, Buffer.alloc(MAX_KRL_BYTES)]), /larger than/],
    ];
    for (const [name, body, message] of bodies) {
      server.override.krl = () => new Response(new Uint8Array(body), { status: 200, headers: { etag: '"x"' } });
      const r = await syncOnce(t, { fetch: server.fetch });
      assert.match(r.errors.join(), message, name);
      assert.ok(files(t).krl.equals(before), `${name}: the old KRL is kept`);
    }
  }));

  it('keeps both files when the server is unreachable or answers an error, and says why', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    await syncOnce(t, { fetch: server.fetch });
    const before = files(t);
    server.down = true;
    const down = await syncOnce(t, { fetch: server.fetch });
    assert.deepEqual(down.errors, ['cannot reach https://ca.example.com: ECONNREFUSED'], 'one message for both requests');
    server.down = false;
    server.override = {
      trusted_keys: () => new Response(JSON.stringify({ success: false, errors: [{ code: 10000, message: 'Authentication error' }] }), { status: 403 }),
      krl: () => new Response('oops', { status: 500 }),
    };
    const refused = await syncOnce(t, { fetch: server.fetch });
    assert.match(refused.errors.join('\n'), /HTTP 403: Authentication error \(code 10000\); the token needs "Access: Apps and Policies Read"/);
    assert.match(refused.errors.join('\n'), /krl: https:\/\/ca\.example\.com answered HTTP 500/);
    server.override = { trusted_keys: () => new Response(null, { status: 302, headers: { location: 'https://evil.example' } }) };
    assert.match((await syncOnce(t, { fetch: server.fetch })).errors.join(), /redirects \(HTTP 302\)/);
    const after = files(t);
    assert.equal(after.trusted, before.trusted);
    assert.ok(after.krl.equals(before.krl));
  }));

  it('times out a server that does not answer', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const hang = ((_: unknown, init?: RequestInit) => new Promise((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))) as typeof fetch;
    const r = await syncOnce(t, { fetch: hang, timeoutMs: 50 });
    assert.match(r.errors.join(), /no answer from https:\/\/ca\.example\.com within 0\.05 s/);
  }));

  it('puts back a file edited on the host: the next round asks without If-None-Match', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    await syncOnce(t, { fetch: server.fetch });
    const good = files(t).trusted;
    writeFileSync(join(t.dir, TRUST_FILE), `${good}ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherCaKeyOtherCaKeyOtherCaKeyOtherCa mallory\n`);
    server.seen = [];
    const r = await syncOnce(t, { fetch: server.fetch });
    assert.equal(server.seen.find((s) => s.path === 'trusted_keys')?.ifNoneMatch, null);
    assert.equal(r.trusted.changed, true);
    assert.equal(files(t).trusted, good);
  }));

  it('writeFileAtomic replaces a file whole and leaves nothing behind when the rename fails', () => withTmp((dir) => {
    writeFileAtomic(dir, 'f', 'one\n');
    writeFileAtomic(dir, 'f', 'two\n');
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'two\n');
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'x'), '');
    assert.throws(() => writeFileAtomic(dir, 'taken', 'three\n'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir).sort(), ['f', 'taken']);
  }));

  it('refuses a directory other users may write to', () => withTmp(async (tmp) => {
    const t = target(tmp);
    mkdirSync(t.dir);
    chmodSync(t.dir, 0o777);
    await assert.rejects(syncOnce(t, { fetch: new FakeServer().fetch }), /is writable by group and others \(mode 0777\): chmod go-w/);
  }));
});

describe('sshd-sync: checks', { skip: noSafeDir }, () => {
  it('the token file must be 0600 or stricter, a regular file, and hold one token', () => withTmp((dir) => {
    const file = join(dir, 'token');
    writeFileSync(file, 'abc.DEF_123\n');
    for (const mode of [0o600, 0o400]) {
      chmodSync(file, mode);
      assert.equal(readTokenFile(file), 'abc.DEF_123', mode.toString(8));
    }
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620]) {
      chmodSync(file, mode);
      assert.throws(() => readTokenFile(file), /is open to other users \(mode 0\d{3}\): chmod 600 /, mode.toString(8));
    }
    chmodSync(file, 0o600);
    for (const content of ['', 'two words', 'x'.repeat(257)]) {
      writeFileSync(file, content);
      assert.throws(() => readTokenFile(file), /does not hold one API token/, JSON.stringify(content));
    }
    assert.throws(() => readTokenFile(join(dir, 'missing')), /does not exist/);
    mkdirSync(join(dir, 'd'), { mode: 0o700 });
    assert.throws(() => readTokenFile(join(dir, 'd')), /not a regular file/);
  }));

  it('the CLI refuses a token file others can read before making a request (exit 2)', () => withTmp(async (dir) => {
    const file = join(dir, 'token');
    writeFileSync(file, 'abc\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    for (const once of [['--once'], []]) {
      let stderr = '';
      const code = await runCli(['sshd-sync', '--server', 'http://127.0.0.1:9', '--account', ACCOUNT, '--app', APP, '--token-file', file, '--dir', join(dir, 'ssh'), ...once],
        {}, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } });
      assert.equal(code, 2, stderr);
      assert.match(stderr, /is open to other users \(mode 0644\)/);
    }
  }));

  it('jitter stays within ±10 % of the interval and spreads over it', () => {
    assert.equal(jitteredDelay(60_000, () => 0), 54_000);
    assert.equal(jitteredDelay(60_000, () => 0.5), 60_000);
    assert.ok(jitteredDelay(60_000, () => 0.999_999_9) <= 66_000);
    const samples = Array.from({ length: 5000 }, () => jitteredDelay(60_000));
    assert.ok(samples.every((d) => d >= 54_000 && d <= 66_000), `${Math.min(...samples)}..${Math.max(...samples)}`);
    assert.ok(Math.min(...samples) < 55_000 && Math.max(...samples) > 65_000, 'the whole band is used');
  });

  it('parses --interval and refuses what is not 1s..24h', () => {
    assert.equal(parseInterval('60s'), 60_000);
    assert.equal(parseInterval('5m'), 300_000);
    assert.equal(parseInterval('1h30m'), 5_400_000);
    for (const bad of ['0s', '500ms', '25h', '60', 'soon', '']) assert.throws(() => parseInterval(bad), /--interval must be a duration/, bad);
  });

  it('checks flags: an origin, ids of the right shape, a directory sshd_config can name; the zone form', () => {
    const base = { server: 'https://ca.example.com', account: ACCOUNT, app: APP, dir: '/etc/ssh/access-ca', tokenFile: '/etc/access-ca/token' };
    assert.equal(syncTarget(base).caUrl, `https://ca.example.com/client/v4/accounts/${ACCOUNT}/access/apps/${APP}/ca`);
    assert.equal(syncTarget({ ...base, zone: 'fedcba9876543210fedcba9876543210' }).caUrl, `https://ca.example.com/client/v4/zones/fedcba9876543210fedcba9876543210/access/apps/${APP}/ca`);
    const bad: [Partial<typeof base>, RegExp][] = [
      [{ server: 'https://ca.example.com/client/v4' }, /without a path/],
      [{ server: 'ftp://ca.example.com' }, /http\(s\)/],
      [{ server: 'https://user:pw@ca.example.com' }, /must not carry credentials/],
      [{ account: '../x' }, /--account/],
      [{ app: `${APP}/../../x` }, /--app/],
      [{ dir: '/etc/ssh/my keys' }, /sshd_config cannot name it/],
      [{ dir: '/etc/ssh/%u' }, /sshd_config cannot name it/],
    ];
    for (const [change, message] of bad) assert.throws(() => syncTarget({ ...base, ...change }), message, JSON.stringify(change));
  });

});

describe('sshd-sync: loop mode', { skip: noSafeDir }, () => {
  it('goes on after a failed round and stops when told, between or during rounds', () => withTmp(async (tmp) => {
    const t = target(tmp);
    const server = new FakeServer();
    server.down = true;
    const stop = new AbortController();
    const rounds: { ok: boolean; first: boolean }[] = [];
    await syncLoop(t, {
      fetch: server.fetch, intervalMs: 10, signal: stop.signal,
      onRound({ report, error, first }) {
        rounds.push({ ok: error === undefined && report!.errors.length === 0, first });
        server.down = false;
        if (rounds.length === 3) stop.abort();
      },
    });
    assert.deepEqual(rounds, [{ ok: false, first: true }, { ok: true, first: false }, { ok: true, first: false }]);
    assert.deepEqual(keyLines(files(t).trusted), server.keys);

    // Told to stop while a request hangs: the loop ends without reporting a failure.
    const hang = ((_: unknown, init?: RequestInit) => new Promise((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))) as typeof fetch;
    const stop2 = new AbortController();
    const reported: unknown[] = [];
    setTimeout(() => stop2.abort(), 50);
    const started = Date.now();
    await syncLoop(t, { fetch: hang, intervalMs: 60_000, signal: stop2.signal, onRound: (r) => reported.push(r) });
    assert.deepEqual(reported, []);
    assert.ok(Date.now() - started < 5000);
  }));
});
