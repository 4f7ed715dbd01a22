import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import CloudflareV4 from 'cloudflare-v4';
import { startServer, cleanEnv, CLI_ARGS, ROOT, type ServerProcess } from '../helpers/server-process.ts';

const everyone = { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] } as const;

describe('contract: Access policies and groups through the official cloudflare SDK', () => {
  let server: ServerProcess;
  let zoneId: string;
  before(async () => {
    server = await startServer();
    const zone = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', server.dataDir, 'zone', 'create', '--account', server.accountId, '--name', 'policies-zone.example.com', '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    assert.equal(zone.status, 0, zone.stderr);
    zoneId = JSON.parse(zone.stdout).id;
  });
  after(() => server.stop());

  const v7 = () => new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 0 } as any);

  for (const form of ['account', 'zone'] as const) {
    const scope = () => (form === 'account' ? { account_id: server.accountId } : { zone_id: zoneId });

    it(`SDK v7 (${form}): application policies — create, list (auto-paging), get, update, delete`, async () => {
      const client = v7();
      const app = await client.zeroTrust.access.applications.create({ ...scope(), name: 'pol', domain: `${randomUUID()}.policies-zone.example.com`, type: 'self_hosted' } as any);
      const made = [];
      for (let i = 0; i < 5; i++) {
        made.push(await client.zeroTrust.access.applications.policies.create(app.id!, { ...scope(), ...everyone, name: `p${i}`, decision: i === 0 ? 'deny' : 'allow', include: [{ email_domain: { domain: `d${i}.example.com` } }] } as any));
      }
      assert.deepEqual(made.map((p) => (p as any).precedence), [1, 2, 3, 4, 5]);
      const listed = [];
      for await (const p of client.zeroTrust.access.applications.policies.list(app.id!, { ...scope(), per_page: 2 } as any)) listed.push(p);
      assert.deepEqual(listed.map((p) => p.name), ['p0', 'p1', 'p2', 'p3', 'p4'], 'three pages, in precedence order');
      const got = await client.zeroTrust.access.applications.policies.get(made[1]!.id!, { ...scope(), app_id: app.id! } as any);
      assert.deepEqual(got, made[1]);
      const updated = await client.zeroTrust.access.applications.policies.update(made[1]!.id!, { ...scope(), app_id: app.id!, name: 'renamed', decision: 'allow', include: [{ email: { email: 'a@example.com' } }] } as any);
      assert.equal(updated.name, 'renamed');
      assert.deepEqual(updated.include, [{ email: { email: 'a@example.com' } }]);
      const deleted = await client.zeroTrust.access.applications.policies.delete(made[1]!.id!, { ...scope(), app_id: app.id! } as any);
      assert.deepEqual(deleted, { id: made[1]!.id });
      await assert.rejects(client.zeroTrust.access.applications.policies.get(made[1]!.id!, { ...scope(), app_id: app.id! } as any), Cloudflare.NotFoundError);
      const refused = await client.zeroTrust.access.applications.policies.create(app.id!, { ...scope(), ...everyone, decision: 'bypass' } as any).catch((e) => e);
      assert.ok(refused instanceof Cloudflare.BadRequestError, String(refused));
    });

    it(`SDK v7 (${form}): groups — create, list (auto-paging), get, update, delete`, async () => {
      const client = v7();
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await client.zeroTrust.access.groups.create({ ...scope(), name: `g${i}`, include: [{ email: { email: `u${i}@example.com` } }] } as any));
      const listed = [];
      for await (const g of client.zeroTrust.access.groups.list({ ...scope(), per_page: 2 } as any)) listed.push(g.id);
      for (const g of made) assert.ok(listed.includes(g.id), 'every group is listed across pages');
      assert.deepEqual(await client.zeroTrust.access.groups.get(made[0]!.id!, scope() as any), made[0]);
      const updated = await client.zeroTrust.access.groups.update(made[0]!.id!, { ...scope(), name: 'admins', include: [{ email_domain: { domain: 'example.com' } }] } as any);
      assert.equal(updated.name, 'admins');
      assert.deepEqual(await client.zeroTrust.access.groups.delete(made[0]!.id!, scope() as any), { id: made[0]!.id });
      await assert.rejects(client.zeroTrust.access.groups.get(made[0]!.id!, scope() as any), Cloudflare.NotFoundError);
    });
  }

  it('SDK v7: reusable policies — create, list (auto-paging), get, update, delete; attached through the application', async () => {
    const client = v7();
    const account = { account_id: server.accountId };
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await client.zeroTrust.access.policies.create({ ...account, ...everyone, name: `r${i}` } as any));
    assert.equal(made[0]!.reusable, true);
    const listed = [];
    for await (const p of client.zeroTrust.access.policies.list({ ...account, per_page: 2 } as any)) listed.push(p.id);
    for (const p of made) assert.ok(listed.includes(p.id));
    const app = await client.zeroTrust.access.applications.create({ ...account, name: 'uses', domain: `${randomUUID()}.example.com`, type: 'self_hosted', policies: [made[0]!.id!, { id: made[1]!.id!, precedence: 5 }] } as any);
    assert.deepEqual((app as any).policies.map((p: any) => [p.id, p.precedence]), [[made[0]!.id, 1], [made[1]!.id, 5]]);
    assert.equal((await client.zeroTrust.access.policies.get(made[0]!.id!, account)).app_count, 1);
    const updated = await client.zeroTrust.access.policies.update(made[2]!.id!, { ...account, name: 'r2b', decision: 'deny', include: [{ email_domain: { domain: 'evil.example' } }] } as any);
    assert.equal(updated.decision, 'deny');
    assert.deepEqual(await client.zeroTrust.access.policies.delete(made[2]!.id!, account), { id: made[2]!.id });
    const inUse = await client.zeroTrust.access.policies.delete(made[0]!.id!, account).catch((e) => e);
    assert.ok(inUse instanceof Cloudflare.ConflictError, String(inUse));
  });

  it('SDK v4 (legacy core): creates and deletes application policies, reusable policies and groups', async () => {
    const client = new CloudflareV4({ apiToken: server.token, baseURL: server.base, maxRetries: 0 } as any);
    const account = { account_id: server.accountId };
    const app = await client.zeroTrust.access.applications.create({ ...account, name: 'v4pol', domain: `${randomUUID()}.example.com`, type: 'self_hosted' } as any);
    const appId = (app as any).id as string;
    const policy = await client.zeroTrust.access.applications.policies.create(appId, { ...account, ...everyone } as any);
    assert.equal((policy as any).name, 'everyone');
    assert.deepEqual(await client.zeroTrust.access.applications.policies.delete(appId, (policy as any).id, account as any), { id: (policy as any).id });
    const reusable = await client.zeroTrust.access.policies.create({ ...account, ...everyone } as any);
    assert.deepEqual(await client.zeroTrust.access.policies.delete((reusable as any).id, account as any), { id: (reusable as any).id });
    const group = await client.zeroTrust.access.groups.create({ ...account, name: 'v4g', include: [{ everyone: {} }] } as any);
    assert.deepEqual(await client.zeroTrust.access.groups.delete((group as any).id, account as any), { id: (group as any).id });
  });
});
