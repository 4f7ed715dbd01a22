import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestApp, scoped, type Reply, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { p256PublicKeyObject } from '../../src/openssh/ecdsa-p256.ts';
import { verifyP256 } from '../../src/openssh/ecdsa-signature.ts';
import { entityTag } from '../../src/platform/http/conditional.ts';
import { runCliInProcess } from '../helpers/server-process.ts';

const WRITE = 'Access: Apps and Policies Write';
const READ = 'Access: Apps and Policies Read';
const SIGN = 'Access: SSH Certificates Sign';
const COMMENT = 'open-ssh-ca@cloudflareaccess.org';

type Kind = 'account' | 'zone';
interface KeyView { id: string; state: 'active' | 'next' | 'previous'; public_key: string; created_at: string; key_storage?: string }

/** The base64 blob of an OpenSSH key line. */
const blobOf = (line: string) => line.split(' ')[1]!;

describe('CA key rotation (HTTP, SQLite)', () => {
  let t: TestApp;
  let tenant: Tenant;
  let writer: { id: string; value: string };
  let reader: { id: string; value: string };
  let signer: { id: string; value: string };

  before(async () => {
    t = await makeTestApp();
    tenant = await t.tenant();
    writer = await t.identity.createToken({ accountId: tenant.accountId, permissions: [WRITE] });
    reader = await t.identity.createToken({ accountId: tenant.accountId, permissions: [READ] });
    signer = await t.identity.createToken({ accountId: tenant.accountId, permissions: [SIGN] });
  });
  after(() => t.close());

  const scopeId = (kind: Kind) => (kind === 'account' ? tenant.accountId : tenant.zoneId);
  const call = (kind: Kind, method: string, rest: string, token = writer.value, headers?: Record<string, string>, body?: unknown) =>
    t.call(method, scoped(kind, scopeId(kind), rest), { token, ...(headers ? { headers } : {}), ...(body === undefined ? {} : { body }) });
  const expect = async (reply: Promise<Reply>, status: number): Promise<Reply> => {
    const r = await reply;
    assert.equal(r.status, status, r.raw);
    return r;
  };

  /** A new app in this scope with a CA and the certificate policy the signing calls need. */
  async function appWithCa(kind: Kind) {
    const app = (await expect(t.call('POST', scoped(kind, scopeId(kind), '/access/apps'), { token: writer.value, body: { name: 'ssh', domain: `ssh-${randomUUID()}.${tenant.zoneName}` } }), 201)).body.result as { id: string; aud: string };
    const ca = (await expect(call(kind, 'POST', `/access/apps/${app.id}/ca`), 200)).body.result as { id: string; public_key: string };
    await expect(t.call('PUT', scoped(kind, scopeId(kind), `/access/apps/${app.id}/ca/policy`), { token: writer.value, body: { principals: { allow: ['deploy'] } } }), 200);
    return { app, ca };
  }

  /** Signs a fresh key for principal deploy; returns the signing key's blob after checking the signature with it. */
  async function signedBy(kind: Kind, appId: string): Promise<string> {
    const publicKey = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
    const r = await expect(t.call('POST', scoped(kind, scopeId(kind), `/access/apps/${appId}/ca/sign`), { token: signer.value, body: { public_key: publicKey, principals: ['deploy'] } }), 200);
    const cert = parseCertificate(Buffer.from(blobOf(r.body.result.certificate), 'base64'));
    assert.ok(verifyP256(p256PublicKeyObject(cert.signatureKey), cert.signed, cert.signature), 'the certificate verifies under the key it names');
    return cert.signatureKey.toString('base64');
  }

  const trusted = async (kind: Kind, appId: string) => {
    const r = await expect(call(kind, 'GET', `/access/apps/${appId}/ca/trusted_keys`, reader.value), 200);
    return { reply: r, keys: r.body.result.keys as KeyView[], file: r.body.result.trusted_user_ca_keys as string };
  };
  const activeLine = async (kind: Kind, appId: string) => (await expect(call(kind, 'GET', `/access/apps/${appId}/ca`, reader.value), 200)).body.result.public_key as string;
  const listedLine = async (kind: Kind, caId: string) => {
    const listed = (await expect(call(kind, 'GET', '/access/apps/ca?per_page=1000', reader.value), 200)).body.result as { id: string; public_key: string }[];
    return listed.find((c) => c.id === caId)?.public_key;
  };
  const events = (caId: string) =>
    t.db.selectFrom('audit_events').selectAll().where('account_id', '=', tenant.accountId).where('subject', '=', caId).orderBy('created_at').orderBy('id').execute();

  for (const kind of ['account', 'zone'] as const) {
    it(`${kind} form: rotate → activate → retire; GET /ca, the list, trusted_keys and signing follow each step; each step is audited`, async () => {
      const { app, ca } = await appWithCa(kind);
      const first = await trusted(kind, app.id);
      assert.equal(first.keys.length, 1);
      const original = first.keys[0]!;
      assert.deepEqual({ ...original, created_at: '' }, { id: original.id, state: 'active', public_key: ca.public_key, created_at: '', key_storage: 'sealed' });
      assert.match(original.created_at, /^\d{4}-\d\d-\d\dT/);
      assert.equal(first.file, `${ca.public_key}\n`);
      assert.equal(await signedBy(kind, app.id), blobOf(ca.public_key));

      // rotate: the next key is trusted beside the active one; the active one still signs.
      const rotated = await expect(call(kind, 'POST', `/access/apps/${app.id}/ca/rotate`), 200);
      const next = rotated.body.result as KeyView;
      assert.deepEqual(Object.keys(next).sort(), ['created_at', 'id', 'key_storage', 'public_key', 'state']);
      assert.equal(next.key_storage, 'sealed');
      assert.equal(next.state, 'next');
      assert.match(next.public_key, new RegExp(`^ecdsa-sha2-nistp256 [A-Za-z0-9+/]+=* ${COMMENT}$`));
      assert.notEqual(next.public_key, ca.public_key);
      const during = await trusted(kind, app.id);
      assert.deepEqual(during.keys.map((k) => [k.id, k.state, k.public_key]), [[original.id, 'active', ca.public_key], [next.id, 'next', next.public_key]]);
      assert.equal(during.file, `${ca.public_key}\n${next.public_key}\n`);
      assert.equal(await activeLine(kind, app.id), ca.public_key, 'GET /ca shows the active key only');
      assert.equal(await listedLine(kind, ca.id), ca.public_key);
      assert.equal(await signedBy(kind, app.id), blobOf(ca.public_key), 'the next key does not sign before it is activated');

      // activate: the next key signs; the old one stays trusted as previous.
      const activated = (await expect(call(kind, 'POST', `/access/apps/${app.id}/ca/rotate/activate`), 200)).body.result as KeyView;
      assert.deepEqual(activated, { ...next, state: 'active' });
      const overlap = await trusted(kind, app.id);
      assert.deepEqual(overlap.keys.map((k) => [k.id, k.state]), [[next.id, 'active'], [original.id, 'previous']]);
      assert.equal(overlap.file, `${next.public_key}\n${ca.public_key}\n`, 'active first, then previous');
      const shown = (await expect(call(kind, 'GET', `/access/apps/${app.id}/ca`, reader.value), 200)).body.result;
      assert.deepEqual(shown, { id: ca.id, aud: app.aud, public_key: next.public_key }, 'the same CA, now showing the new key');
      assert.equal(await listedLine(kind, ca.id), next.public_key);
      assert.equal(await signedBy(kind, app.id), blobOf(next.public_key), 'certificates are signed by the new key at once');

      // retire: the previous key is gone.
      const retired = await expect(call(kind, 'POST', `/access/apps/${app.id}/ca/rotate/retire`), 200);
      assert.deepEqual(retired.body.result, { id: original.id });
      const done = await trusted(kind, app.id);
      assert.deepEqual(done.keys.map((k) => [k.id, k.state]), [[next.id, 'active']]);
      assert.equal(done.file, `${next.public_key}\n`);
      assert.equal(await activeLine(kind, app.id), next.public_key);
      assert.equal(await signedBy(kind, app.id), blobOf(next.public_key));
      assert.equal((await t.db.selectFrom('ssh_ca_keys').select('id').where('id', '=', original.id).execute()).length, 0, 'the retired key\'s row is deleted');

      const trail = await events(ca.id);
      assert.deepEqual(trail.map((e) => [e.type, e.actor]), [
        ['ssh_ca.created', `token:${writer.id}`],
        ['ssh_ca.rotated', `token:${writer.id}`],
        ['ssh_ca.activated', `token:${writer.id}`],
        ['ssh_ca.retired', `token:${writer.id}`],
      ]);
      const data = trail.map((e) => JSON.parse(e.data));
      assert.equal(data[0].key_id, original.id);
      assert.equal(data[1].key_id, next.id);
      assert.deepEqual([data[2].key_id, data[2].previous_key_id], [next.id, original.id]);
      assert.equal(data[3].key_id, original.id);
      for (const d of data) {
        assert.equal(d.app_id, app.id);
        assert.doesNotMatch(JSON.stringify(d), /private|sealed/);
      }

      // And again: a second rotation may start once the previous key is retired.
      await expect(call(kind, 'POST', `/access/apps/${app.id}/ca/rotate`), 200);
    });
  }

  it('409 with x-should-retry: false and a message naming the situation: next key exists, previous not retired, nothing to activate, nothing to retire', async () => {
    const { app, ca } = await appWithCa('account');
    const conflict = async (path: string, message: RegExp) => {
      const r = await expect(call('account', 'POST', `/access/apps/${app.id}/ca/${path}`), 409);
      assert.equal(r.headers['x-should-retry'], 'false');
      assert.equal(r.body.success, false);
      assert.equal(r.body.errors.length, 1);
      assert.equal(r.body.errors[0].code, 12136);
      assert.match(r.body.errors[0].message, /^access\.api\.error\.ca_rotation_conflict: /);
      assert.match(r.body.errors[0].message, message);
      assert.equal(r.body.result, null);
    };
    await conflict('rotate/activate', /no next key/);
    await conflict('rotate/retire', /no previous key/);
    await expect(call('account', 'POST', `/access/apps/${app.id}/ca/rotate`), 200);
    await conflict('rotate', /already has a next key/);
    await conflict('rotate/retire', /no previous key/);
    await expect(call('account', 'POST', `/access/apps/${app.id}/ca/rotate/activate`), 200);
    await conflict('rotate/activate', /no next key/);
    await conflict('rotate', /previous key is not retired/);
    await expect(call('account', 'POST', `/access/apps/${app.id}/ca/rotate/retire`), 200);
    await conflict('rotate/retire', /no previous key/);
    await conflict('rotate/activate', /no next key/);
    const keys = await t.db.selectFrom('ssh_ca_keys').select(['state']).where('ca_id', '=', ca.id).execute();
    assert.deepEqual(keys.map((k) => k.state), ['active'], 'refused steps wrote nothing');
    const types = (await events(ca.id)).map((e) => e.type);
    assert.deepEqual(types, ['ssh_ca.created', 'ssh_ca.rotated', 'ssh_ca.activated', 'ssh_ca.retired'], 'refused steps are not audited as changes');
  });

  it('10 concurrent rotates: one 200, nine 409, one next key; 10 concurrent activates: one 200, one active key', async () => {
    const { app, ca } = await appWithCa('account');
    const rotates = await Promise.all(Array.from({ length: 10 }, () => call('account', 'POST', `/access/apps/${app.id}/ca/rotate`)));
    assert.deepEqual(rotates.map((r) => r.status).sort(), [200, ...Array(9).fill(409)]);
    const activates = await Promise.all(Array.from({ length: 10 }, () => call('account', 'POST', `/access/apps/${app.id}/ca/rotate/activate`)));
    assert.deepEqual(activates.map((r) => r.status).sort(), [200, ...Array(9).fill(409)]);
    const keys = await t.db.selectFrom('ssh_ca_keys').select(['state']).where('ca_id', '=', ca.id).execute();
    assert.deepEqual(keys.map((k) => k.state).sort(), ['active', 'previous']);
  });

  it('trusted_keys: ETag is the file\'s hash; If-None-Match with it is 304 without a body; each step changes the tag', async () => {
    const { app } = await appWithCa('zone');
    const path = `/access/apps/${app.id}/ca/trusted_keys`;
    const first = await trusted('zone', app.id);
    const tag = first.reply.headers['etag'] as string;
    assert.equal(tag, entityTag(first.file));
    assert.match(tag, /^"[A-Za-z0-9_-]{43}"$/);
    assert.equal(first.reply.headers['cache-control'], 'no-cache');

    for (const inm of [tag, `W/${tag}`, `"other", ${tag}`, '*']) {
      const cached = await call('zone', 'GET', path, reader.value, { 'if-none-match': inm });
      assert.equal(cached.status, 304, `If-None-Match: ${inm}`);
      assert.equal(cached.raw, '');
      assert.equal(cached.headers['etag'], tag);
      assert.equal(cached.headers['content-type'], undefined);
    }
    const stale = await call('zone', 'GET', path, reader.value, { 'if-none-match': '"not-the-tag"' });
    assert.equal(stale.status, 200);
    assert.equal(stale.body.result.trusted_user_ca_keys, first.file);

    const tags = [tag];
    for (const step of ['rotate', 'rotate/activate', 'rotate/retire']) {
      await expect(call('zone', 'POST', `/access/apps/${app.id}/ca/${step}`), 200);
      const old = await call('zone', 'GET', path, reader.value, { 'if-none-match': tags.at(-1)! });
      assert.equal(old.status, 200, `after ${step} the old tag no longer matches`);
      const now = old.headers['etag'] as string;
      assert.equal(now, entityTag(old.body.result.trusted_user_ca_keys));
      assert.ok(!tags.includes(now), `after ${step} the tag is new`);
      tags.push(now);
      assert.equal((await call('zone', 'GET', path, reader.value, { 'if-none-match': now })).status, 304);
    }
    // The tag depends on the file only: an error never carries one.
    const missing = await call('zone', 'GET', `/access/apps/${randomUUID()}/ca/trusted_keys`, reader.value, { 'if-none-match': '*' });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['etag'], undefined);
  });

  it('404 12135 when the app does not exist, is in another scope, or has no CA; in both forms', async () => {
    const { app } = await appWithCa('account');
    const bare = (await expect(t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: writer.value, body: { name: 'n', domain: `n-${randomUUID()}.example.com` } }), 201)).body.result;
    const cases: [Kind, string][] = [
      ['account', randomUUID()], ['zone', randomUUID()], ['zone', app.id], ['account', bare.id],
    ];
    for (const [kind, appId] of cases) {
      for (const [method, path] of [['POST', 'rotate'], ['POST', 'rotate/activate'], ['POST', 'rotate/retire'], ['GET', 'trusted_keys']] as const) {
        const r = await call(kind, method, `/access/apps/${appId}/ca/${path}`);
        assert.equal(r.status, 404, `${kind} ${method} ${path} ${appId}: ${r.raw}`);
        assert.equal(r.body.errors[0].code, 12135);
      }
    }
  });

  it('permissions: Read may list trusted keys but not rotate; a refusal comes before the lookup', async () => {
    const { app } = await appWithCa('account');
    for (const path of ['rotate', 'rotate/activate', 'rotate/retire']) {
      for (const appId of [app.id, randomUUID()]) {
        const r = await call('account', 'POST', `/access/apps/${appId}/ca/${path}`, reader.value);
        assert.equal(r.status, 403, r.raw);
        assert.equal(r.body.errors[0].code, 9109, 'refused before the lookup: the same answer for an app that exists and one that does not');
      }
      const signOnly = await call('account', 'POST', `/access/apps/${app.id}/ca/${path}`, signer.value);
      assert.equal(signOnly.status, 403);
    }
    assert.equal((await call('account', 'GET', `/access/apps/${app.id}/ca/trusted_keys`, signer.value)).status, 403);
    assert.equal((await call('account', 'GET', `/access/apps/${app.id}/ca/trusted_keys`, writer.value)).status, 200);
    assert.equal((await t.call('GET', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/trusted_keys`))).status, 400, 'no credentials');
    const keys = await trusted('account', app.id);
    assert.equal(keys.keys.length, 1, 'refused calls changed nothing');
  });

  it('key_storage "pkcs11" on a server with no token: 400 12130 at /key_storage naming the flags, on create and on rotate; nothing is written', async () => {
    const refusal = (r: Reply) => {
      assert.equal(r.body.errors[0].code, 12130);
      assert.equal(r.body.errors[0].source?.pointer, '/key_storage');
      assert.match(r.body.errors[0].message, /makes the key in a PKCS#11 token, and no PKCS#11 token is configured here \(--pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file, or env ACCESS_CA_PKCS11_MODULE.*\): ask for "sealed", or configure a token$/);
      assert.equal(r.headers['retry-after'], undefined, 'not a condition to wait out');
    };
    const app = (await expect(t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: writer.value, body: { name: 'ssh', domain: `ssh-${randomUUID()}.${tenant.zoneName}` } }), 201)).body.result as { id: string };
    refusal(await expect(call('account', 'POST', `/access/apps/${app.id}/ca`, writer.value, undefined, { key_storage: 'pkcs11' }), 400));
    await expect(call('account', 'GET', `/access/apps/${app.id}/ca`, reader.value), 404);

    const { app: rotating } = await appWithCa('account');
    const before = (await trusted('account', rotating.id)).keys;
    refusal(await expect(call('account', 'POST', `/access/apps/${rotating.id}/ca/rotate`, writer.value, undefined, { key_storage: 'pkcs11' }), 400));
    assert.deepEqual((await trusted('account', rotating.id)).keys, before, 'no next key');
    assert.equal((await expect(call('account', 'POST', `/access/apps/${rotating.id}/ca/rotate`, writer.value, undefined, { key_storage: 'sealed' }), 200)).body.result.key_storage, 'sealed');
  });

  it('the rotation routes take no body: {} and none are accepted, an unknown field is 400 12130', async () => {
    const { app } = await appWithCa('account');
    const path = scoped('account', tenant.accountId, `/access/apps/${app.id}/ca/rotate`);
    const unknown = await t.call('POST', path, { token: writer.value, body: { algorithm: 'ed25519' } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errors[0].code, 12130);
    assert.deepEqual(unknown.body.errors[0].source, { pointer: '/algorithm' });
    await expect(t.call('POST', path, { token: writer.value, body: {} }), 200);
  });

  it('CLI: `access-ca ca` verbs on the data dir, seen by the API at once, audited as cli; a refused step exits 2 naming the situation', async () => {
    const app = (await expect(t.call('POST', scoped('zone', tenant.zoneId, '/access/apps'), { token: writer.value, body: { name: 'c', domain: `c-${randomUUID()}.${tenant.zoneName}` } }), 201)).body.result;
    const ca = (...args: string[]) => runCliInProcess(['--data-dir', t.dir, 'ca', ...args, '--account', tenant.accountId, '--zone', tenant.zoneId, '--app', app.id]);
    const json = async (...args: string[]) => {
      const r = await ca(...args, '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const made = await json('create');
    assert.deepEqual(await json('get'), made);
    assert.equal(await activeLine('zone', app.id), made.public_key);
    const next = await json('rotate');
    assert.equal(next.state, 'next');
    assert.deepEqual((await trusted('zone', app.id)).keys.map((k) => k.id).at(-1), next.id, 'the API lists the key the CLI added');
    const refused = await ca('rotate');
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^access-ca: the CA already has a next key; activate it before rotating again\n$/);
    const human = await ca('trusted-keys');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /ID +STATE +CREATED_AT/);
    assert.ok(human.stdout.includes(`TrustedUserCAKeys:\n${made.public_key}\n${next.public_key}\n`), human.stdout);
    assert.deepEqual(await json('activate'), { ...next, state: 'active' });
    assert.equal(await activeLine('zone', app.id), next.public_key);
    const keys = (await json('trusted-keys')) as { keys: KeyView[]; trusted_user_ca_keys: string };
    assert.equal(keys.trusted_user_ca_keys, `${next.public_key}\n${made.public_key}\n`);
    const retired = await json('retire');
    assert.equal(retired.id, keys.keys[1]!.id);
    assert.deepEqual(await json('delete'), { id: made.id });
    assert.equal((await ca('get')).code, 2);
    const trail = await events(made.id);
    assert.deepEqual(trail.map((e) => [e.type, e.actor]), ['created', 'rotated', 'activated', 'retired', 'deleted'].map((v) => [`ssh_ca.${v}`, 'cli']));
  });

  it('CA create and delete are audited with the actor, in the account of the app; deleting mid-rotation removes every key', async () => {
    const user = { 'x-auth-email': tenant.email, 'x-auth-key': tenant.apiKey };
    const app = (await expect(t.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: writer.value, body: { name: 'd', domain: `d-${randomUUID()}.example.com` } }), 201)).body.result;
    const ca = (await expect(t.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { headers: user }), 200)).body.result;
    await expect(call('account', 'POST', `/access/apps/${app.id}/ca/rotate`), 200);
    await expect(call('account', 'DELETE', `/access/apps/${app.id}/ca`), 202);
    assert.equal((await t.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', '=', ca.id).execute()).length, 0);
    const trail = await events(ca.id);
    const userId = (await t.db.selectFrom('users').select('id').where('email', '=', tenant.email).executeTakeFirstOrThrow()).id;
    assert.deepEqual(trail.map((e) => [e.type, e.actor]), [
      ['ssh_ca.created', `user:${userId}`],
      ['ssh_ca.rotated', `token:${writer.id}`],
      ['ssh_ca.deleted', `token:${writer.id}`],
    ]);
    assert.deepEqual(JSON.parse(trail[2]!.data), { app_id: app.id });
    const gone = await call('account', 'DELETE', `/access/apps/${app.id}/ca`);
    assert.equal(gone.status, 404);
    assert.equal((await events(ca.id)).length, 3, 'a refused delete is not audited');
  });
});
