import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { nodeApi, prepareSigning, startTwoNodes, type Signing, type TwoNodes } from '../helpers/deployment.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const skip = await postgresUnavailable();

describe('two nodes on one PostgreSQL database', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let pg: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let signing: Signing;
  let env: Record<string, string>;
  let token: string;
  let accountId: string;

  before(async () => {
    // Both start at once on the empty database: migrations and the first account happen exactly once.
    nodes = await startTwoNodes();
    ({ pg, a, b, env } = nodes);
    token = nodes.first.token;
    accountId = nodes.first.accountId;
    signing = await prepareSigning(nodes.first, env);
  });
  after(async () => {
    await nodes?.stop();
    await signing?.idp.close();
  });

  it('a CA created through A is listed by B and signs through B at once; deleted on B, A stops signing at once', async () => {
    const onA = nodeApi(a, accountId, token);
    const onB = nodeApi(b, accountId, token);
    const app = (await onA('POST', '/access/apps', { name: 'x', domain: 'x.example.com', policies: [signing.everyone] }, 201)).body.result;
    const ca = (await onA('POST', `/access/apps/${app.id}/ca`, undefined, 200)).body.result;
    const listed = (await onB('GET', '/access/apps/ca', undefined, 200)).body.result;
    assert.ok(listed.some((c: { id: string; public_key: string }) => c.id === ca.id && c.public_key === ca.public_key));
    const viaB = await signing.certSign(b, app.aud);
    assert.equal(viaB.status, 200, JSON.stringify(viaB.body));
    assert.equal(parseCertificate(Buffer.from(viaB.body.certificate.split(' ')[1], 'base64')).signatureKey.toString('base64'), ca.public_key.split(' ')[1]);
    assert.equal((await signing.certSign(a, app.aud)).status, 200, 'A has the key cached now');
    await onB('DELETE', `/access/apps/${app.id}/ca`, undefined, 202);
    const afterDelete = await signing.certSign(a, app.aud);
    assert.equal(afterDelete.status, 404);
    assert.match(afterDelete.body.message, /no CA for this application/);
  });

  it('a policy changed on A applies on B at once', async () => {
    const onA = nodeApi(a, accountId, token);
    const app = (await onA('POST', '/access/apps', { name: 'p', domain: 'p.example.com', policies: [signing.everyone] }, 201)).body.result;
    await onA('POST', `/access/apps/${app.id}/ca`, undefined, 200);
    assert.equal((await signing.certSign(b, app.aud)).status, 200);
    await onA('PUT', `/access/apps/${app.id}/ca/policy`, { key_types: ['ecdsa-sha2-nistp256'] }, 200);
    const refused = await signing.certSign(b, app.aud);
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /key type ssh-ed25519 is not allowed/);
  });

  it('50 concurrent creates for one app over both nodes: one 200, 49 × 409 with x-should-retry: false, one row, one key', async () => {
    const onA = nodeApi(a, accountId, token);
    const onB = nodeApi(b, accountId, token);
    const app = (await onA('POST', '/access/apps', { name: 'race', domain: 'race.example.com', policies: [signing.everyone] }, 201)).body.result;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? onA : onB)('POST', `/access/apps/${app.id}/ca`)));
    assert.equal(replies.filter((r) => r.status === 200).length, 1);
    const conflicts = replies.filter((r) => r.status === 409);
    assert.equal(conflicts.length, 49);
    for (const c of conflicts) {
      assert.equal(c.headers.get('x-should-retry'), 'false');
      assert.equal(c.body.errors[0].code, 12131);
    }
    const { openDatabase } = await import('../../src/platform/db/database.ts');
    const db = await openDatabase({ kind: 'postgres', url: pg.url });
    try {
      const cas = await db.db.selectFrom('ssh_cas').select('id').where('app_id', '=', app.id).execute();
      assert.equal(cas.length, 1);
      assert.equal((await db.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', '=', cas[0]!.id).execute()).length, 1);
    } finally {
      await db.close();
    }
  });
});
