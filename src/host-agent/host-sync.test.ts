import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certTypeFor, parseCertificate, SSH_CERT_TYPE_HOST, SSH_CERT_TYPE_USER, type CertificateBody } from '../openssh/certificate.ts';
import { encodeKrl } from '../openssh/krl.ts';
import { authorizedKeyLine, publicKeyBlob } from '../openssh/public-key-blob.ts';
import { signCertificate } from '../openssh/sign-certificate.ts';
import { keyObjectSigner } from '../openssh/ssh-signer.ts';
import { fingerprintOf, parseUserPublicKey } from '../openssh/user-public-key.ts';
import { safeTempDir } from '../../test/helpers/temp-dir.ts';
import type { AgentHttp } from './agent-http.ts';
import { CREDENTIAL_FILE, writeHostCredential } from './host-credential.ts';
import { HOST_STATE_FILE, KRL_FILE, syncHostOnce, TRUST_FILE, type SyncOptions, type SyncReport } from './host-sync.ts';

const SERVER = 'http://127.0.0.1:9';
const TARGET = 'a3c5e1f0-6b2d-4c8e-9f10-2b3c4d5e6f70';
const HOSTNAME = 'web1.example.com';
const CREDENTIAL = 'acah_0123456789abcdefghijklmnopqrstuv';
const HOST_KEY_PATH = '/etc/ssh/ssh_host_ed25519_key';
const CERT_FILE = 'ssh_host_ed25519_key-cert.pub';
/** The fake's clock, in seconds; the agent's `now` reads the same clock. */
const T0 = Date.parse('2030-01-01T00:00:00Z') / 1000;
const CERT_LIFE_S = 3000;
/** A time well before any test ran, so a file the round rewrites shows a new mtime. */
const LONG_AGO = new Date('2001-01-01T00:00:00Z');

// The agent refuses directories under the sticky, world-writable /tmp (host-agent/file-safety.ts).
const safeBase = safeTempDir('access-ca-host-sync-unit-');
const noSafeDir = safeBase === null ? 'no directory with a safe chain of ancestors (/run or home) to test in' : false;

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  if (safeBase === null) throw new Error('no directory with a safe chain of ancestors (/run or home) to test in');
  const dir = mkdtempSync(join(safeBase, 'case-'));
  chmodSync(dir, 0o755);
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const caLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), 'open-ssh-ca@cloudflareaccess.org');
const ed25519Line = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const krlBytes = (version: number, serials: bigint[] = []) => encodeKrl({
  version: BigInt(version), generatedDate: BigInt(T0), comment: 'access-ca account test',
  certificates: [{ caKeyBlob: Buffer.from(caLine().split(' ')[1]!, 'base64'), serials, keyIds: [] }], sha256Keys: [],
});
const etagOf = (bytes: Buffer) => `"${createHash('sha256').update(bytes).digest('base64url')}"`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface HostCa { privateKey: KeyObject; blob: Buffer; fingerprint: string }
function hostCa(): HostCa {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const blob = publicKeyBlob(publicKey);
  return { privateKey, blob, fingerprint: fingerprintOf(blob) };
}

interface Call { method: string; path: string; ifNoneMatch: string | null; authorization: string | null; redirect: string | undefined; body: unknown }
type Override = (init: RequestInit) => Response | Promise<Response>;

/** A stand-in for the server's /host routes: ETags, If-None-Match and 304 as host-routes.ts answers them. */
class FakeHostServer {
  version = 7;
  targetId = TARGET;
  keys = [caLine(), caLine()];
  krl = krlBytes(7, [5n, 9n]);
  /** Whether the bundle carries host_certificates (the account has a host CA). */
  hostCertificates = true;
  ca = hostCa();
  principals = [HOSTNAME];
  withEtags = true;
  now = T0;
  /** Replaces a route's answers; `certificates` gets the keys asked. */
  override: { bundle?: Override; krl?: Override; certificates?: (publicKeys: string[]) => Promise<Response> } = {};
  calls: Call[] = [];
  issued: string[] = [];
  private serial = 0;

  bundleResult(): Record<string, unknown> {
    return {
      version: this.version, target_id: this.targetId, hostname: HOSTNAME,
      keys: this.keys.map((k, i) => ({ public_key: k, app_id: `app-${i}`, ca_id: `ca-${i}`, key_id: `key-${i}`, state: 'active' })),
      trusted_user_ca_keys: this.keys.map((k) => `${k}\n`).join(''),
      ...(this.hostCertificates ? { host_certificates: { active_key: this.ca.fingerprint, principals: this.principals } } : {}),
    };
  }

  bundleBytes = () => Buffer.from(JSON.stringify({ success: true, errors: [], messages: [], result: this.bundleResult() }));

  /** A 200 for a bundle result, with the headers the real route sends. */
  bundleAnswer(result: Record<string, unknown>): Response {
    const bytes = Buffer.from(JSON.stringify({ success: true, errors: [], messages: [], result }));
    return new Response(new Uint8Array(bytes), { status: 200, headers: { ...(this.withEtags ? { etag: etagOf(bytes) } : {}), 'x-bundle-version': String(result['version']), 'content-type': 'application/json; charset=utf-8' } });
  }

  krlAnswer(bytes: Buffer): Response {
    return new Response(new Uint8Array(bytes), { status: 200, headers: { ...(this.withEtags ? { etag: etagOf(bytes) } : {}), 'x-krl-version': String(bytes.readBigUInt64BE(12)), 'content-type': 'application/octet-stream' } });
  }

  /** A host certificate line for `publicKey` from the fake host CA, as the server issues it; `over` bends a field. */
  async issue(publicKey: string, over: Partial<CertificateBody> = {}, signer: HostCa = this.ca): Promise<string> {
    const key = parseUserPublicKey(publicKey);
    const cert = await signCertificate({
      keyType: key.type, keyFields: key.fields, nonce: randomBytes(32), serial: BigInt(++this.serial), certType: SSH_CERT_TYPE_HOST,
      keyId: `host:${TARGET}`, principals: this.principals, validAfter: BigInt(this.now), validBefore: BigInt(this.now + CERT_LIFE_S),
      criticalOptions: {}, extensions: {}, signatureKey: signer.blob, ...over,
    }, keyObjectSigner(signer.privateKey, signer.blob));
    return `${certTypeFor(key.type)} ${cert.blob.toString('base64')}`;
  }

  certificatesAnswer(lines: string[]): Response {
    const certificates = lines.map((line) => {
      const cert = parseCertificate(Buffer.from(line.split(' ')[1]!, 'base64'));
      return {
        public_key_fingerprint: 'SHA256:x', key_type: cert.keyType, serial: String(cert.serial), principals: cert.principals,
        valid_after: new Date(Number(cert.validAfter) * 1000).toISOString(), valid_before: new Date(Number(cert.validBefore) * 1000).toISOString(), certificate: line,
      };
    });
    return new Response(JSON.stringify({ success: true, errors: [], messages: [], result: { certificates } }), { status: 200, headers: { 'content-type': 'application/json' } });
  }

  fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = String(input);
    assert.ok(url.startsWith(`${SERVER}/`), `the credential went to ${url}`);
    const headers = new Headers(init.headers);
    const path = new URL(url).pathname;
    const method = init.method ?? 'GET';
    const body = typeof init.body === 'string' ? JSON.parse(init.body) as unknown : null;
    this.calls.push({ method, path, ifNoneMatch: headers.get('if-none-match'), authorization: headers.get('authorization'), redirect: init.redirect, body });
    if (method === 'GET' && path === '/client/v4/host/trust_bundle') {
      if (this.override.bundle) return this.override.bundle(init);
      const bytes = this.bundleBytes();
      const etag = etagOf(bytes);
      if (this.withEtags && headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag, 'x-bundle-version': String(this.version) } });
      return this.bundleAnswer(this.bundleResult());
    }
    if (method === 'GET' && path === '/client/v4/host/krl') {
      if (this.override.krl) return this.override.krl(init);
      const etag = etagOf(this.krl);
      if (this.withEtags && headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag, 'x-krl-version': String(this.krl.readBigUInt64BE(12)) } });
      return this.krlAnswer(this.krl);
    }
    if (method === 'POST' && path === '/client/v4/host/certificates') {
      const asked = (body as { public_keys: string[] }).public_keys;
      if (this.override.certificates) return this.override.certificates(asked);
      const lines = await Promise.all(asked.map((k) => this.issue(k)));
      this.issued.push(...lines);
      return this.certificatesAnswer(lines);
    }
    return new Response(JSON.stringify({ success: false, errors: [{ code: 10000, message: 'not found' }] }), { status: 404 });
  }) as typeof fetch;

  /** The requests of the last round, in a stable order. */
  takeCalls(): Call[] {
    const calls = this.calls.sort((a, b) => a.path.localeCompare(b.path));
    this.calls = [];
    return calls;
  }
}

/** Writes the credential `host enroll` would have left: 0600, bound to `server`, one ed25519 host key. */
function enroll(dir: string, server = SERVER): string {
  const hostKey = ed25519Line();
  writeHostCredential(dir, {
    format: 'access-ca-host-credential', version: 1, server, credential: CREDENTIAL, host_id: 'host-1', account_id: '0123456789abcdef0123456789abcdef',
    target_id: TARGET, host_keys: [{ path: HOST_KEY_PATH, public_key: hostKey }],
  });
  return hostKey;
}

const sync = (dir: string, server: FakeHostServer, opts: Partial<SyncOptions> = {}, http: AgentHttp = {}): Promise<SyncReport> =>
  syncHostOnce({ dir, server: SERVER, now: () => new Date(server.now * 1000), ...opts }, { fetch: server.fetch, ...http });

// No version in the header: the file changes only when the keys do (the version is kept in the state file).
const HEADER = `# access-ca host agent: the user CA keys target ${TARGET} trusts, from ${SERVER}; replaced when they change, do not edit\n`;
const trustText = (keys: string[]) => `${HEADER}${keys.map((k) => `${k}\n`).join('')}`;

/** Both files' bytes and mtimes, after setting the mtimes far back so a rewrite cannot hide in the clock's resolution. */
function pin(dir: string, names = [TRUST_FILE, KRL_FILE]): () => void {
  const before = names.map((name) => {
    utimesSync(join(dir, name), LONG_AGO, LONG_AGO);
    return { name, bytes: readFileSync(join(dir, name)), mtime: statSync(join(dir, name)).mtimeMs };
  });
  return () => {
    for (const b of before) {
      assert.ok(readFileSync(join(dir, b.name)).equals(b.bytes), `${b.name} is byte-identical`);
      assert.equal(statSync(join(dir, b.name)).mtimeMs, b.mtime, `${b.name} was not rewritten`);
    }
  };
}

const readState = (dir: string) => JSON.parse(readFileSync(join(dir, HOST_STATE_FILE), 'utf8')) as Record<string, unknown>;
const reportOf = (dir: string, trusted: Partial<SyncReport['trusted']>, krl: Partial<SyncReport['krl']>, rest: Partial<SyncReport> = {}): SyncReport => ({
  trusted: { path: join(dir, TRUST_FILE), changed: false, count: null, version: null, ...trusted },
  krl: { path: join(dir, KRL_FILE), changed: false, count: null, version: null, ...krl },
  certificates: [], reloaded: false, errors: [], ...rest,
});

describe('host sync: trust bundle and KRL', { skip: noSafeDir }, () => {
  it('writes the trust file (0644, header then one line per key), the KRL as sent and the state, then asks with If-None-Match and changes nothing on 304s', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    const old = process.umask(0o077); // the modes must not depend on the caller's umask
    let first: SyncReport;
    try {
      first = await sync(dir, server);
    } finally {
      process.umask(old);
    }
    assert.deepEqual(first, reportOf(dir, { changed: true, count: 2, version: 7 }, { changed: true, count: 7, version: 7 }));
    assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), trustText(server.keys));
    assert.ok(readFileSync(join(dir, KRL_FILE)).equals(server.krl), 'the KRL is byte-identical to what the server sent');
    assert.equal(statSync(join(dir, TRUST_FILE)).mode & 0o777, 0o644);
    assert.equal(statSync(join(dir, KRL_FILE)).mode & 0o777, 0o644);
    const trustBytes = readFileSync(join(dir, TRUST_FILE));
    assert.deepEqual(readState(dir), {
      server: SERVER,
      target_id: TARGET,
      bundle: { etag: etagOf(server.bundleBytes()), sha256: sha256(trustBytes), version: 7 },
      krl: { etag: etagOf(server.krl), sha256: sha256(server.krl), version: 7 },
    });
    assert.deepEqual(server.takeCalls().map((c) => [c.method, c.path, c.ifNoneMatch, c.authorization, c.redirect]), [
      ['GET', '/client/v4/host/krl', null, `Bearer ${CREDENTIAL}`, 'manual'],
      ['GET', '/client/v4/host/trust_bundle', null, `Bearer ${CREDENTIAL}`, 'manual'],
    ]);
    assert.deepEqual(readdirSync(dir).sort(), [CREDENTIAL_FILE, HOST_STATE_FILE, KRL_FILE, TRUST_FILE].sort(), 'no temporary file is left behind');

    const unchanged = pin(dir);
    const second = await sync(dir, server);
    assert.deepEqual(server.takeCalls().map((c) => [c.path, c.ifNoneMatch]), [
      ['/client/v4/host/krl', etagOf(server.krl)],
      ['/client/v4/host/trust_bundle', etagOf(server.bundleBytes())],
    ]);
    assert.deepEqual(second, reportOf(dir, { count: 2, version: 7 }, { count: 7, version: 7 }), 'a 304 round still reports what the host holds');
    unchanged();
    assert.deepEqual(readState(dir)['bundle'], { etag: etagOf(server.bundleBytes()), sha256: sha256(trustBytes), version: 7 });
  }));

  it('refuses a bundle or KRL older than the version held, round after round, until acceptOlder takes it', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    assert.deepEqual((await sync(dir, server)).errors, []);
    const newKeys = server.keys;
    const krl7 = server.krl;
    const olderThan7 = (what: string) =>
      `refused the server's ${what}: version 5 is older than the version 7 this host holds (a server restored from backup, or a node behind the others); files kept; --accept-older takes it`;

    // A server restored from backup: its bundle is at version 5, with the keys it had then.
    server.version = 5;
    server.keys = [caLine()];
    const unchanged = pin(dir);
    for (const round of [1, 2]) {
      const r = await sync(dir, server);
      assert.deepEqual(r.errors, [olderThan7('trust bundle')], `round ${round}`);
      assert.deepEqual(r.trusted, { path: join(dir, TRUST_FILE), changed: false, count: 2, version: 7, error: olderThan7('trust bundle') });
      unchanged();
      assert.equal((readState(dir)['bundle'] as { version: number }).version, 7, 'the held version is remembered');
    }
    const taken = await sync(dir, server, { acceptOlder: true });
    assert.deepEqual(taken, reportOf(dir, { changed: true, count: 1, version: 5 }, { count: 7, version: 7 }));
    assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), trustText(server.keys));

    // The same for the KRL: back to bundle 7, then a KRL at version 5.
    server.version = 7;
    server.keys = newKeys;
    assert.deepEqual((await sync(dir, server)).errors, []);
    server.krl = krlBytes(5, [1n]);
    const krlUnchanged = pin(dir);
    for (const round of [1, 2]) {
      const r = await sync(dir, server);
      assert.deepEqual(r.errors, [olderThan7('KRL')], `round ${round}`);
      assert.deepEqual(r.krl, { path: join(dir, KRL_FILE), changed: false, count: 7, version: 7, error: olderThan7('KRL') });
      krlUnchanged();
      assert.ok(readFileSync(join(dir, KRL_FILE)).equals(krl7));
    }
    const krlTaken = await sync(dir, server, { acceptOlder: true });
    assert.deepEqual(krlTaken, reportOf(dir, { count: 2, version: 7 }, { changed: true, count: 5, version: 5 }));
    assert.ok(readFileSync(join(dir, KRL_FILE)).equals(server.krl));
  }));

  it('remembers the version held when the server sends no ETag, or the file was edited, and still refuses an older one', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    server.withEtags = false;
    assert.deepEqual((await sync(dir, server)).errors, []);
    const state = readState(dir) as { bundle?: { version: number; etag: string }; krl?: { version: number; etag: string } };
    assert.deepEqual([state.bundle?.version, state.krl?.version], [7, 7], 'versions are kept without an ETag');
    assert.deepEqual(server.takeCalls().map((c) => c.ifNoneMatch), [null, null]);

    server.version = 5;
    server.keys = [caLine()];
    server.krl = krlBytes(5);
    const unchanged = pin(dir);
    const r = await sync(dir, server);
    assert.deepEqual(server.takeCalls().map((c) => c.ifNoneMatch), [null, null], 'no empty If-None-Match is sent for a missing ETag');
    assert.equal(r.errors.length, 2);
    assert.match(r.errors[0]!, /^refused the server's trust bundle: version 5 is older than the version 7 this host holds/);
    assert.match(r.errors[1]!, /^refused the server's KRL: version 5 is older than the version 7 this host holds/);
    unchanged();

    // An operator's edit makes the agent fetch the whole file (no ETag), but the held version still stands.
    server.withEtags = true;
    server.version = 7;
    server.keys = [caLine()];
    server.krl = krlBytes(7);
    assert.deepEqual((await sync(dir, server)).errors, []);
    writeFileSync(join(dir, TRUST_FILE), '# edited by hand\n');
    server.version = 5;
    server.takeCalls();
    const edited = pin(dir, [TRUST_FILE]);
    for (const round of [1, 2]) {
      const e = await sync(dir, server);
      assert.equal(server.takeCalls().find((c) => c.path.endsWith('trust_bundle'))?.ifNoneMatch, null, `round ${round}: an edited file is fetched whole`);
      assert.match(e.errors.join(), /trust bundle: version 5 is older than the version 7 this host holds/, `round ${round}`);
      edited();
    }
  }));

  it('takes an answer of the same version with other bytes', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    await sync(dir, server);
    server.keys = [...server.keys, caLine()];
    server.krl = krlBytes(7, [5n, 9n, 11n]);
    const r = await sync(dir, server);
    assert.deepEqual(r, reportOf(dir, { changed: true, count: 3, version: 7 }, { changed: true, count: 7, version: 7 }));
    assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), trustText(server.keys));
    assert.ok(readFileSync(join(dir, KRL_FILE)).equals(server.krl));
  }));

  it('writes a trust file of the header alone when no CA covers the host any more, so sshd trusts no user CA', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    await sync(dir, server);
    server.version = 8;
    server.keys = [];
    const r = await sync(dir, server);
    assert.deepEqual(r, reportOf(dir, { changed: true, count: 0, version: 8 }, { count: 7, version: 7 }));
    assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), HEADER);
  }));

  it('keeps both files byte for byte and says why on a 404, a 500, a timeout, a redirect, or an answer it refuses', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.hostCertificates = false;
    await sync(dir, server);
    const good = server.bundleResult();
    const p384 = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey), 'x');
    const hang: Override = (init) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason), { once: true }));
    const both = (o: Override) => ({ bundle: o, krl: o });
    const truncated = krlBytes(8, [5n, 9n]);
    const cases: { name: string; override: FakeHostServer['override']; http?: AgentHttp; errors: string[] }[] = [
      {
        name: '404', override: both(() => new Response(JSON.stringify({ success: false, errors: [{ code: 10000, message: 'not found' }] }), { status: 404 })),
        errors: [`trust bundle: ${SERVER} answered HTTP 404: not found (code 10000)`, `KRL: ${SERVER} answered HTTP 404: not found (code 10000)`],
      },
      {
        name: '500', override: both(() => new Response('<html>oops</html>', { status: 500 })),
        errors: [`trust bundle: ${SERVER} answered HTTP 500: no reason given`, `KRL: ${SERVER} answered HTTP 500: no reason given`],
      },
      {
        name: 'timeout', override: both(hang), http: { timeoutMs: 50 },
        errors: [`trust bundle: no answer from ${SERVER} within 0.05 s`, `KRL: no answer from ${SERVER} within 0.05 s`],
      },
      {
        name: 'redirect', override: both(() => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example/client/v4/host/trust_bundle' } })),
        errors: [`trust bundle: ${SERVER} redirects (HTTP 302); give --server as the origin that answers the API`, `KRL: ${SERVER} redirects (HTTP 302); give --server as the origin that answers the API`],
      },
      {
        name: 'malformed JSON', override: { bundle: () => new Response('{"success": tru', { status: 200, headers: { etag: '"x"', 'x-bundle-version': '8' } }) },
        errors: ['trust bundle: the answer is not JSON; is --server the access-ca origin?'],
      },
      {
        name: 'another target', override: { bundle: () => server.bundleAnswer({ ...good, version: 8, target_id: 'another-target' }) },
        errors: [`refused the server's trust bundle: it is for target another-target, not this host's ${TARGET}`],
      },
      {
        name: 'file and keys disagree', override: { bundle: () => server.bundleAnswer({ ...good, version: 8, keys: [{ public_key: caLine(), app_id: 'a', ca_id: 'c', key_id: 'k', state: 'active' }], trusted_user_ca_keys: `${caLine()}\n` }) },
        errors: ['refused the server\'s trust bundle: the file and the keys list disagree'],
      },
      {
        name: 'a P-384 key', override: { bundle: () => server.bundleAnswer({ ...good, version: 8, keys: [{ public_key: p384, app_id: 'a', ca_id: 'c', key_id: 'k', state: 'active' }], trusted_user_ca_keys: `${p384}\n` }) },
        errors: ['refused the server\'s trust bundle: line 1 is a ecdsa-sha2-nistp384 key, not ecdsa-sha2-nistp256'],
      },
      {
        name: 'truncated KRL', override: { krl: () => server.krlAnswer(truncated.subarray(0, truncated.length - 3)) },
        errors: ['refused the server\'s KRL: truncated'],
      },
    ];
    for (const c of cases) {
      const unchanged = pin(dir);
      server.override = c.override;
      const r = await sync(dir, server, {}, c.http);
      server.override = {};
      assert.deepEqual(r.errors, c.errors, c.name);
      assert.equal(r.trusted.changed || r.krl.changed, false, c.name);
      assert.equal(r.trusted.error, c.override.bundle ? c.errors[0] : undefined, c.name);
      assert.equal(r.krl.error, c.override.krl ? c.errors.at(-1) : undefined, c.name);
      unchanged();
      assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), trustText(server.keys), c.name);
    }
    assert.deepEqual((await sync(dir, server)).errors, [], 'the next good round goes through');
  }));
});

describe('host sync: host certificates', { skip: noSafeDir }, () => {
  const certPath = (dir: string) => join(dir, CERT_FILE);
  const certOf = (dir: string) => parseCertificate(Buffer.from(readFileSync(certPath(dir), 'utf8').trim().split(' ')[1]!, 'base64'));
  const posts = (server: FakeHostServer) => server.takeCalls().filter((c) => c.method === 'POST');

  it('gets a certificate when there is none, keeps a young one, and renews at two-thirds of its life, on rotation and on new names', () => withDir(async (dir) => {
    const hostKey = enroll(dir);
    const server = new FakeHostServer();
    const reloads = join(dir, 'reloads');
    const opts = { reloadCommand: `echo x >> ${reloads}` };

    const first = await sync(dir, server, opts);
    assert.deepEqual(first.errors, []);
    assert.deepEqual(first.certificates, [{ path: certPath(dir), changed: true, reason: 'missing' }]);
    assert.equal(first.reloaded, true);
    assert.deepEqual(posts(server).map((c) => [c.authorization, c.body]), [[`Bearer ${CREDENTIAL}`, { public_keys: [hostKey] }]]);
    assert.equal(readFileSync(certPath(dir), 'utf8'), `${server.issued[0]}\n`);
    assert.equal(statSync(certPath(dir)).mode & 0o777, 0o644);
    const cert = certOf(dir);
    assert.deepEqual([cert.certType, cert.principals, cert.keyFields.equals(parseUserPublicKey(hostKey).fields), fingerprintOf(cert.signatureKey)], [SSH_CERT_TYPE_HOST, [HOSTNAME], true, server.ca.fingerprint]);
    assert.equal(readFileSync(reloads, 'utf8'), 'x\n');
    assert.deepEqual(readState(dir)['host_certificates'], { active_key: server.ca.fingerprint, principals: [HOSTNAME] });

    // (a) Still young: no request, no reload.
    server.now = T0 + 1000;
    const young = await sync(dir, server, opts);
    assert.deepEqual([young.errors, young.certificates, young.reloaded], [[], [{ path: certPath(dir), changed: false }], false]);
    assert.deepEqual(posts(server), []);
    assert.equal(readFileSync(reloads, 'utf8'), 'x\n', 'no reload when no certificate changed');

    // (b) Past two-thirds of its life.
    server.now = T0 + 2001;
    const aged = await sync(dir, server, opts);
    assert.deepEqual([aged.errors, aged.certificates, aged.reloaded], [[], [{ path: certPath(dir), changed: true, reason: 'two-thirds of its life has passed' }], true]);
    assert.equal(posts(server).length, 1);
    assert.equal(certOf(dir).validAfter, BigInt(T0 + 2001));
    assert.equal(readFileSync(reloads, 'utf8'), 'x\nx\n');

    // (c) The host CA rotated: the bundle names another active key.
    server.ca = hostCa();
    const rotated = await sync(dir, server, opts);
    assert.deepEqual([rotated.errors, rotated.certificates], [[], [{ path: certPath(dir), changed: true, reason: 'signed by a key the host CA no longer signs with' }]]);
    assert.equal(fingerprintOf(certOf(dir).signatureKey), server.ca.fingerprint);
    assert.equal(posts(server).length, 1);

    // (d) The target's names changed.
    server.principals = [HOSTNAME, 'web1'];
    const renamed = await sync(dir, server, opts);
    assert.deepEqual([renamed.errors, renamed.certificates], [[], [{ path: certPath(dir), changed: true, reason: 'names other than the target\'s' }]]);
    assert.deepEqual(certOf(dir).principals, [HOSTNAME, 'web1']);
    assert.equal(posts(server).length, 1);
    assert.equal(readFileSync(reloads, 'utf8'), 'x\nx\nx\nx\n');

    // Nothing changed since: neither a request nor a reload.
    const quiet = await sync(dir, server, opts);
    assert.deepEqual([quiet.errors, quiet.certificates, quiet.reloaded], [[], [{ path: certPath(dir), changed: false }], false]);
    assert.deepEqual(posts(server), []);
  }));

  it('refuses a certificate with other names, a user certificate, one for another key, from another CA key, or expired, and keeps the old file', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    const reloads = join(dir, 'reloads');
    await sync(dir, server);
    server.takeCalls();
    const old = readFileSync(certPath(dir));
    server.now = T0 + 2500;
    const answer = (over: Partial<CertificateBody>, signer?: HostCa, key?: string) => async (asked: string[]) =>
      server.certificatesAnswer([await server.issue(key ?? asked[0]!, over, signer)]);
    const cases: [string, FakeHostServer['override']['certificates'], string][] = [
      ['other principals', answer({ principals: ['evil.example.com'] }), 'principals other than the target\'s names'],
      ['a user certificate', answer({ certType: SSH_CERT_TYPE_USER }), 'not a host certificate'],
      ['another key', answer({}, undefined, ed25519Line()), 'a certificate for a key not asked for'],
      ['another CA key', answer({}, hostCa()), 'signed by another key than the host CA\'s active one'],
      ['expired', answer({ validAfter: BigInt(T0), validBefore: BigInt(T0 + 100) }), 'already expired'],
      ['not a certificate', async () => server.certificatesAnswer([]), 'not one certificate per key asked'],
    ];
    for (const [name, override, why] of cases) {
      const unchanged = pin(dir, [CERT_FILE]);
      server.override = { certificates: override! };
      const r = await sync(dir, server, { reloadCommand: `echo x >> ${reloads}` });
      server.override = {};
      const message = `refused the server's host certificates: ${why}`;
      assert.deepEqual(r.errors, [message], name);
      assert.deepEqual(r.certificates, [{ path: certPath(dir), changed: false, reason: 'two-thirds of its life has passed', error: message }], name);
      assert.equal(r.reloaded, false, name);
      assert.equal(posts(server).length, 1, name);
      unchanged();
      assert.ok(readFileSync(certPath(dir)).equals(old), name);
    }
    assert.throws(() => readFileSync(reloads), /ENOENT/, 'no reload ran for a refused certificate');
  }));

  it('reports a failing reload command once, with the certificate it did write', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    const r = await sync(dir, server, { reloadCommand: 'echo reload broke >&2; exit 3' });
    assert.deepEqual(r.errors, ['--reload-command failed (3): reload broke']);
    assert.deepEqual(r.certificates, [{ path: certPath(dir), changed: true, reason: 'missing' }], 'one entry, and it says the file changed');
    assert.equal(r.reloaded, false);
    assert.equal(readFileSync(certPath(dir), 'utf8'), `${server.issued[0]}\n`);
    // sshd still serves the old certificate: the next round, with nothing new to write, tries the reload again.
    const reloads = join(dir, 'reloads');
    const again = await sync(dir, server, { reloadCommand: `echo x >> ${reloads}` });
    assert.deepEqual([again.errors, again.reloaded, readFileSync(reloads, 'utf8')], [[], true, 'x\n']);
    const quiet = await sync(dir, server, { reloadCommand: `echo x >> ${reloads}` });
    assert.deepEqual([quiet.reloaded, readFileSync(reloads, 'utf8')], [false, 'x\n'], 'once done, not again');
  }));

  it('asks for no certificate while the account has no host CA', () => withDir(async (dir) => {
    enroll(dir);
    const server = new FakeHostServer();
    server.override.bundle = () => server.bundleAnswer({ ...server.bundleResult(), host_certificates: { active_key: null, principals: [HOSTNAME] } });
    const r = await sync(dir, server);
    assert.deepEqual([r.errors, r.certificates], [[], []]);
    assert.deepEqual(posts(server), []);
    assert.throws(() => readFileSync(certPath(dir)), /ENOENT/);
  }));
});

describe('host sync: the credential goes only to its server', { skip: noSafeDir }, () => {
  it('refuses a credential enrolled with another origin before any request', () => withDir(async (dir) => {
    enroll(dir, 'https://ca.example.com');
    const server = new FakeHostServer();
    await assert.rejects(sync(dir, server), {
      name: 'AgentError',
      message: `${join(dir, CREDENTIAL_FILE)} was enrolled with https://ca.example.com, not ${SERVER}: the credential goes only to its own server (enroll again to move the host)`,
    });
    assert.deepEqual(server.calls, []);
    assert.deepEqual(readdirSync(dir), [CREDENTIAL_FILE], 'nothing is written');
  }));

  it('refuses a credential file other users may read before any request', () => withDir(async (dir) => {
    enroll(dir);
    chmodSync(join(dir, CREDENTIAL_FILE), 0o644);
    const server = new FakeHostServer();
    const path = join(dir, CREDENTIAL_FILE);
    await assert.rejects(sync(dir, server), {
      name: 'UnsafePathError',
      message: `refusing secret file ${path}: ${path} is open to other users (mode 0644): chmod 600 ${path}`,
    });
    assert.deepEqual(server.calls, []);
  }));
});
