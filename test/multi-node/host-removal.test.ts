import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable } from '../helpers/databases.ts';
import { nodeApi, startTwoNodes, type TwoNodes } from '../helpers/deployment.ts';
import { enrollTestHost, type PostJson } from '../helpers/fleet-host.ts';

const skip = await postgresUnavailable();

/** A POST to one node's v4 API without a credential, as a host enrolling sends it. */
const postTo = (node: ServerProcess): PostJson => async (path, body) => {
  const res = await fetch(`${node.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

/** A host route on one node with the host's credential: status, the bundle's version and etag, the body (JSON ones). */
async function asHost(node: ServerProcess, credential: string, path = '/host/trust_bundle', etag?: string) {
  const res = await fetch(`${node.base}${path}`, { headers: { authorization: `Bearer ${credential}`, ...(etag ? { 'if-none-match': etag } : {}) } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json') && bytes.length > 0;
  return {
    status: res.status, version: Number(res.headers.get('x-bundle-version')), etag: res.headers.get('etag') ?? '',
    body: json ? (JSON.parse(bytes.toString('utf8')) as any) : undefined,
  };
}

/**
 * Host credentials and trust bundles on two nodes of one PostgreSQL database: neither is cached past a
 * change made on the other node. Each test makes its own application, target and host.
 */
describe('a removed host fails at once on both nodes of a PostgreSQL pair', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let one: ServerProcess;
  let two: ServerProcess;
  let onOne: ReturnType<typeof nodeApi>;

  before(async () => {
    nodes = await startTwoNodes();
    ({ a: one, b: two } = nodes);
    onOne = nodeApi(one, nodes.first.accountId, nodes.first.token);
  });
  after(async () => {
    await nodes?.stop();
  });

  /** Through node 1: an app with a CA at `hostname`, a target of that name, and a host enrolled with it. */
  async function enrolledOnOne(hostname: string) {
    const app = (await onOne('POST', '/access/apps', { name: hostname, domain: hostname }, 201)).body.result;
    const ca = (await onOne('POST', `/access/apps/${app.id}/ca`, undefined, 200)).body.result;
    const target = (await onOne('POST', '/infrastructure/targets', { hostname }, 201)).body.result;
    const joinToken = (await onOne('POST', `/infrastructure/targets/${target.id}/join_token`, {}, 200)).body.result.token as string;
    const enrolled = await enrollTestHost(postTo(one), joinToken);
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    return { app, caKey: ca.public_key as string, target, id: enrolled.body.result.id as string, credential: enrolled.body.result.credential as string };
  }

  it('removed through node 1, the host\'s credential is refused 403 9109 by node 2 on its very next request', async () => {
    const host = await enrolledOnOne('removal.example.com');
    // Both nodes serve the bundle, twice each: whatever either would remember of the host, it now holds.
    for (const node of [one, two, one, two]) {
      const b = await asHost(node, host.credential);
      assert.equal(b.status, 200, JSON.stringify(b.body));
      assert.equal(b.body.result.target_id, host.target.id);
      assert.deepEqual(b.body.result.keys.map((k: { public_key: string }) => k.public_key), [host.caKey]);
    }
    assert.equal((await asHost(two, host.credential, '/host/krl')).status, 200);
    assert.equal((await asHost(two, host.credential, '/host')).status, 200);

    const removed = await onOne('DELETE', `/infrastructure/hosts/${host.id}`, undefined, 200);
    assert.equal(removed.body.result.id, host.id);
    // No wait, no retry: the very next request to node 2.
    const refused = await asHost(two, host.credential);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.errors[0].code, 9109);
    assert.match(refused.body.errors[0].message, /Invalid host credential/);
    for (const [node, name, path] of [[two, 'node 2', '/host/krl'], [two, 'node 2', '/host'], [one, 'node 1', '/host/trust_bundle'], [one, 'node 1', '/host/krl']] as const) {
      const r = await asHost(node, host.credential, path);
      assert.equal(r.status, 403, `${name} ${path}`);
      assert.equal(r.body.errors[0].code, 9109, `${name} ${path}`);
    }
    // Removed from node 2's list as well.
    const onTwo = nodeApi(two, nodes.first.accountId, nodes.first.token);
    const listed = (await onTwo('GET', `/infrastructure/hosts?target_id=${host.target.id}`, undefined, 200)).body.result;
    assert.deepEqual(listed, []);
  });

  it('a CA deleted through node 1 leaves node 2\'s very next bundle at a higher version and without the key', async () => {
    const host = await enrolledOnOne('ca-delete.example.com');
    // A second app covering the host keeps the bundle non-empty, so "without the key" is not just "empty".
    const wildcard = (await onOne('POST', '/access/apps', { name: 'wildcard', domain: '*.example.com' }, 201)).body.result;
    const wildcardKey = (await onOne('POST', `/access/apps/${wildcard.id}/ca`, undefined, 200)).body.result.public_key as string;
    const keysOf = (b: { body: any }) => new Set(b.body.result.keys.map((k: { public_key: string }) => k.public_key));
    const first = await asHost(one, host.credential);
    const before = await asHost(two, host.credential);
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.deepEqual(keysOf(before), new Set([host.caKey, wildcardKey]));
    assert.equal(before.version, first.version, 'both nodes serve the same version');
    assert.equal(before.version, before.body.result.version);
    assert.equal((await asHost(two, host.credential, '/host/trust_bundle', before.etag)).status, 304, 'node 2 holds this bundle: a 304');

    await onOne('DELETE', `/access/apps/${host.app.id}/ca`, undefined, 202);
    // Node 2's next answer, even to a client that presents the old etag, is the new bundle.
    const afterDelete = await asHost(two, host.credential, '/host/trust_bundle', before.etag);
    assert.equal(afterDelete.status, 200, 'not a 304: the bundle changed');
    assert.ok(afterDelete.version > before.version, `version ${afterDelete.version} > ${before.version}`);
    assert.equal(afterDelete.body.result.version, afterDelete.version);
    assert.ok(!keysOf(afterDelete).has(host.caKey), 'the deleted CA\'s key is gone');
    assert.deepEqual(keysOf(afterDelete), new Set([wildcardKey]));
    assert.ok(!afterDelete.body.result.trusted_user_ca_keys.includes(host.caKey.split(' ')[1]), 'and gone from the TrustedUserCAKeys text');
    assert.notEqual(afterDelete.etag, before.etag);
    const fromOne = await asHost(one, host.credential);
    assert.equal(fromOne.version, afterDelete.version, 'node 1 agrees');
    await onOne('DELETE', `/access/apps/${wildcard.id}`, undefined, 202);
  });
});
