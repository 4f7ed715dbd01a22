/**
 * The official SDK v7's `zeroTrust.access.gatewayCA` against a real server process: create, list (with
 * the SDK's paging), delete, and a second create refused with Cloudflare's code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';

describe('contract: SDK v7 gatewayCA against a real server process', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });
  const client = () => new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 0 } as any);

  it('create, list, a second create refused (409 12131), delete, list empty', async () => {
    const cf = client();
    const account_id = server.accountId;
    const made = await cf.zeroTrust.access.gatewayCA.create({ account_id });
    assert.match(made.id!, /^[0-9a-f-]{36}$/);
    assert.match(made.public_key!, /^ecdsa-sha2-nistp256 AAAA[A-Za-z0-9+/]+=* open-ssh-ca@cloudflareaccess\.org$/);
    const listed = [];
    for await (const ca of cf.zeroTrust.access.gatewayCA.list({ account_id })) listed.push(ca);
    assert.deepEqual(listed.map((c) => [c.id, c.public_key]), [[made.id, made.public_key]]);
    await assert.rejects(cf.zeroTrust.access.gatewayCA.create({ account_id }), (error: any) => {
      assert.equal(error.status, 409);
      assert.equal(error.errors?.[0]?.code, 12131);
      return true;
    });
    const gone = await cf.zeroTrust.access.gatewayCA.delete(made.id!, { account_id });
    assert.deepEqual(gone, { id: made.id });
    const after = [];
    for await (const ca of cf.zeroTrust.access.gatewayCA.list({ account_id })) after.push(ca);
    assert.deepEqual(after, []);
    await assert.rejects(cf.zeroTrust.access.gatewayCA.delete(made.id!, { account_id }), (error: any) => error.status === 404);
  });
});
