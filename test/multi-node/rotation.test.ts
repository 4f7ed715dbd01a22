import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCliInProcess, type ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { nodeApi, startTwoNodes, userKey, type TwoNodes } from '../helpers/deployment.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { openDatabase } from '../../src/platform/db/database.ts';

const skip = await postgresUnavailable();

interface KeyView { id: string; state: string; public_key: string }
const blobOf = (line: string) => line.split(' ')[1]!;

describe('CA rotation over two nodes on one PostgreSQL database', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let pg: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let env: Record<string, string>;
  let token: string;
  let signToken: string;
  let accountId: string;

  before(async () => {
    nodes = await startTwoNodes();
    ({ pg, a, b, env } = nodes);
    const { first } = nodes;
    token = first.token;
    accountId = first.accountId;
    const made = await runCliInProcess(['--data-dir', first.dataDir, 'token', 'create', '--account', accountId, '--permission', 'Access: SSH Certificates Sign', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    signToken = JSON.parse(made.stdout).value;
  });
  after(async () => {
    await nodes?.stop();
  });

  /** An app with a CA (made on A) whose policy lets the signing API certify principal deploy. */
  async function appWithCa() {
    const onA = nodeApi(a, accountId, token);
    const app = (await onA('POST', '/access/apps', { name: 'rot', domain: `rot-${Math.random().toString(36).slice(2)}.example.com` }, 201)).body.result;
    const ca = (await onA('POST', `/access/apps/${app.id}/ca`, undefined, 200)).body.result;
    await onA('PUT', `/access/apps/${app.id}/ca/policy`, { principals: { allow: ['deploy'] } }, 200);
    return { app, ca };
  }

  /** The blob of the key that signed a certificate issued through this node. */
  async function signedOn(node: ServerProcess, appId: string): Promise<string> {
    const res = await fetch(`${node.base}/accounts/${accountId}/access/apps/${appId}/ca/sign`, {
      method: 'POST', headers: { authorization: `Bearer ${signToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ public_key: userKey(), principals: ['deploy'] }),
    });
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    return parseCertificate(Buffer.from(blobOf(body.result.certificate), 'base64')).signatureKey.toString('base64');
  }

  async function trustedOn(node: ServerProcess, appId: string, ifNoneMatch?: string) {
    const res = await fetch(`${node.base}/accounts/${accountId}/access/apps/${appId}/ca/trusted_keys`, {
      headers: { authorization: `Bearer ${token}`, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) },
    });
    const text = await res.text();
    const result = res.status === 200 ? JSON.parse(text).result : undefined;
    return { status: res.status, etag: res.headers.get('etag') ?? '', keys: (result?.keys ?? []) as KeyView[], file: (result?.trusted_user_ca_keys ?? '') as string, text };
  }

  it('rotate on A: B trusts the next key at once; activate on A: B signs with it at once; retire on B: A no longer lists the old key', async () => {
    const onA = nodeApi(a, accountId, token);
    const onB = nodeApi(b, accountId, token);
    const { app, ca } = await appWithCa();
    assert.equal(await signedOn(b, app.id), blobOf(ca.public_key), 'B has loaded the original key');
    const before = await trustedOn(b, app.id);
    assert.deepEqual(before.keys.map((k) => k.state), ['active']);

    const next = (await onA('POST', `/access/apps/${app.id}/ca/rotate`, undefined, 200)).body.result as KeyView;
    const onBAfterRotate = await trustedOn(b, app.id, before.etag);
    assert.equal(onBAfterRotate.status, 200, 'B\'s old tag no longer matches');
    assert.deepEqual(onBAfterRotate.keys.map((k) => [k.state, k.public_key]), [['active', ca.public_key], ['next', next.public_key]]);
    assert.equal(onBAfterRotate.file, `${ca.public_key}\n${next.public_key}\n`);
    assert.equal((await trustedOn(a, app.id)).etag, onBAfterRotate.etag, 'every node gives the same tag for the same file');
    assert.equal((await trustedOn(a, app.id, onBAfterRotate.etag)).status, 304);
    assert.equal(await signedOn(b, app.id), blobOf(ca.public_key), 'the next key does not sign yet');

    await onA('POST', `/access/apps/${app.id}/ca/rotate/activate`, undefined, 200);
    assert.equal(await signedOn(b, app.id), blobOf(next.public_key), 'B signs with the new key at once, though it had the old one loaded');
    assert.equal((await onB('GET', `/access/apps/${app.id}/ca`, undefined, 200)).body.result.public_key, next.public_key);
    assert.deepEqual((await trustedOn(b, app.id)).keys.map((k) => [k.state, k.id]), [['active', next.id], ['previous', before.keys[0]!.id]]);

    const retired = (await onB('POST', `/access/apps/${app.id}/ca/rotate/retire`, undefined, 200)).body.result;
    assert.equal(retired.id, before.keys[0]!.id);
    const onAAfterRetire = await trustedOn(a, app.id);
    assert.deepEqual(onAAfterRetire.keys.map((k) => [k.state, k.id]), [['active', next.id]]);
    assert.equal(onAAfterRetire.file, `${next.public_key}\n`);
    assert.ok(!onAAfterRetire.text.includes(blobOf(ca.public_key)), 'the retired key appears nowhere in A\'s answer');
    assert.equal(await signedOn(a, app.id), blobOf(next.public_key));

    const db = await openDatabase({ kind: 'postgres', url: pg.url });
    try {
      const trail = await db.db.selectFrom('audit_events').select(['type', 'actor']).where('subject', '=', ca.id).orderBy('created_at').orderBy('id').execute();
      assert.deepEqual(trail.map((e) => e.type), ['ssh_ca.created', 'ssh_ca.rotated', 'ssh_ca.activated', 'ssh_ca.retired']);
      assert.equal(new Set(trail.map((e) => e.actor)).size, 1);
      assert.match(trail[0]!.actor, /^token:[0-9a-f]{32}$/);
    } finally {
      await db.close();
    }
  });

  it('steps raced over both nodes: one rotate, one activate, one retire win; never two active keys', async () => {
    const { app, ca } = await appWithCa();
    const onA = nodeApi(a, accountId, token);
    const onB = nodeApi(b, accountId, token);
    for (const step of ['rotate', 'rotate/activate', 'rotate/retire']) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? onA : onB)('POST', `/access/apps/${app.id}/ca/${step}`)));
      assert.deepEqual(replies.map((r) => r.status).sort(), [200, ...Array(9).fill(409)], step);
      for (const r of replies.filter((x) => x.status === 409)) {
        assert.equal(r.headers.get('x-should-retry'), 'false');
        assert.equal(r.body.errors[0].code, 12136);
      }
    }
    const db = await openDatabase({ kind: 'postgres', url: pg.url });
    try {
      const keys = await db.db.selectFrom('ssh_ca_keys').select('state').where('ca_id', '=', ca.id).execute();
      assert.deepEqual(keys.map((k) => k.state), ['active']);
    } finally {
      await db.close();
    }
  });

  it('the CLI on the shared database: a step taken with `access-ca ca` applies on both nodes at once, audited as cli', async () => {
    const { app, ca } = await appWithCa();
    const cli = (...args: string[]) => runCliInProcess(['--data-dir', a.dataDir, 'ca', ...args, '--account', accountId, '--app', app.id, '--json'], env);
    const rotated = await cli('rotate');
    assert.equal(rotated.code, 0, rotated.stderr);
    const next = JSON.parse(rotated.stdout) as KeyView;
    assert.deepEqual((await trustedOn(b, app.id)).keys.map((k) => [k.state, k.id]).at(-1), ['next', next.id]);
    const activated = await cli('activate');
    assert.equal(activated.code, 0, activated.stderr);
    assert.equal(await signedOn(a, app.id), blobOf(next.public_key));
    assert.equal(await signedOn(b, app.id), blobOf(next.public_key));
    const db = await openDatabase({ kind: 'postgres', url: pg.url });
    try {
      const trail = await db.db.selectFrom('audit_events').select(['type', 'actor']).where('subject', '=', ca.id).orderBy('created_at').orderBy('id').execute();
      assert.deepEqual(trail.slice(1).map((e) => [e.type, e.actor]), [['ssh_ca.rotated', 'cli'], ['ssh_ca.activated', 'cli']]);
    } finally {
      await db.close();
    }
  });
});
