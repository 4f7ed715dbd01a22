import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import CloudflareV4 from 'cloudflare-v4';
import { startServer, cleanEnv, CLI_ARGS, ROOT, type ServerProcess } from '../helpers/server-process.ts';
import { missingTool } from '../helpers/system-tools.ts';
import { createKeyVault, loadMasterKey } from '../../src/platform/crypto/key-vault.ts';
import { caKeyAad } from '../../src/access-cas/ca-key-material.ts';
import { createPrivateKey } from 'node:crypto';
import SQLite from 'better-sqlite3';
import { testTempDir } from '../helpers/temp-dir.ts';

/** Counts the SDK's HTTP requests, so retries and pagination can be asserted. */
function countingFetch() {
  const seen: { method: string; url: string; status: number }[] = [];
  const fetchFn = async (input: any, init?: any) => {
    const res = await fetch(input, init);
    seen.push({ method: init?.method ?? 'GET', url: String(input), status: res.status });
    return res;
  };
  return { seen, fetchFn };
}

/** Runs the CLI on the server's data directory and returns its JSON output; fails on a non-zero exit. */
function cliJson(dataDir: string, ...args: string[]): any {
  const r = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', dataDir, ...args, '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('contract: the official cloudflare SDK against a real server process', () => {
  let server: ServerProcess;
  const publicKeys: string[] = [];
  /** The first account's zone: once a second account exists, its apps' hosts must be in a zone of its own (identity/host-delegation.ts). */
  const MAIN_ZONE = 'contract.example.com';
  before(async () => {
    server = await startServer();
    assert.match(server.accountId, /^[0-9a-f]{32}$/);
    assert.ok(server.token.length >= 20);
    cliJson(server.dataDir, 'zone', 'create', '--account', server.accountId, '--name', MAIN_ZONE);
  });
  after(async () => {
    await server.stop();
  });

  const v7 = (extra: Record<string, unknown> = {}) =>
    new Cloudflare({ apiToken: server.token, apiEmail: null, apiKey: null, baseURL: server.base, maxRetries: 2, ...extra } as any);

  it('SDK v7: create/get/list/delete in the account form', async () => {
    const client = v7();
    const app = await client.zeroTrust.access.applications.create({ account_id: server.accountId, name: 'sdk7', domain: `sdk7.${MAIN_ZONE}`, type: 'self_hosted' } as any);
    const ca = await client.zeroTrust.access.applications.cas.create(app.id!, { account_id: server.accountId });
    assert.match(ca.id!, /^[0-9a-f]{48}$/);
    assert.equal(ca.aud, (app as any).aud);
    publicKeys.push(ca.public_key!);
    const got = await client.zeroTrust.access.applications.cas.get(app.id!, { account_id: server.accountId });
    assert.deepEqual(got, ca);
    const listed = [];
    for await (const c of client.zeroTrust.access.applications.cas.list({ account_id: server.accountId })) listed.push(c);
    assert.ok(listed.some((c) => c.id === ca.id));
    const deleted = await client.zeroTrust.access.applications.cas.delete(app.id!, { account_id: server.accountId });
    assert.deepEqual(deleted, { id: ca.id });
    await assert.rejects(client.zeroTrust.access.applications.cas.get(app.id!, { account_id: server.accountId }), Cloudflare.NotFoundError);
  });

  it('SDK v7: accounts.list() finds the account the token works in, zones.list() the names delegated to it', async () => {
    const client = v7();
    const accounts = [];
    for await (const a of client.accounts.list()) accounts.push(a);
    assert.deepEqual(accounts.map((a) => a.id), [server.accountId]);
    assert.equal(accounts[0]!.type, 'standard');
    const one = await client.accounts.get({ account_id: server.accountId });
    assert.equal(one.id, server.accountId);
    assert.equal(one.name, accounts[0]!.name);
    const zones = [];
    for await (const z of client.zones.list({ name: MAIN_ZONE })) zones.push(z);
    assert.deepEqual(zones.map((z) => [z.name, z.account.id]), [[MAIN_ZONE, server.accountId]]);
    assert.equal((await client.zones.get({ zone_id: zones[0]!.id })).name, MAIN_ZONE);
  });

  it('SDK v7: the zone form, with a zone made by the CLI', async () => {
    const zone = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', server.dataDir, 'zone', 'create', '--account', server.accountId, '--name', 'sdk-zone.example.com', '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    assert.equal(zone.status, 0, zone.stderr);
    const zoneId = JSON.parse(zone.stdout).id;
    const client = v7();
    const app = await client.zeroTrust.access.applications.create({ zone_id: zoneId, name: 'zoned', domain: 'a.sdk-zone.example.com', type: 'self_hosted' } as any);
    const ca = await client.zeroTrust.access.applications.cas.create(app.id!, { zone_id: zoneId });
    publicKeys.push(ca.public_key!);
    assert.deepEqual(await client.zeroTrust.access.applications.cas.get(app.id!, { zone_id: zoneId }), ca);
    const listed = [];
    for await (const c of client.zeroTrust.access.applications.cas.list({ zone_id: zoneId })) listed.push(c);
    assert.deepEqual(listed, [ca]);
    const accountLevel = [];
    for await (const c of client.zeroTrust.access.applications.cas.list({ account_id: server.accountId })) accountLevel.push(c.id);
    assert.ok(!accountLevel.includes(ca.id));
    assert.deepEqual(await client.zeroTrust.access.applications.cas.delete(app.id!, { zone_id: zoneId }), { id: ca.id });
  });

  it('SDK v7: error classes; a 409 is not retried', async () => {
    const { seen, fetchFn } = countingFetch();
    const client = v7({ fetch: fetchFn });
    const app = await client.zeroTrust.access.applications.create({ account_id: server.accountId, name: 'errs', domain: `e.${MAIN_ZONE}`, type: 'self_hosted' } as any);
    const ca = await client.zeroTrust.access.applications.cas.create(app.id!, { account_id: server.accountId });
    publicKeys.push(ca.public_key!);
    const before = seen.length;
    const conflict = await client.zeroTrust.access.applications.cas.create(app.id!, { account_id: server.accountId }).catch((e) => e);
    assert.ok(conflict instanceof Cloudflare.ConflictError, String(conflict));
    assert.equal(conflict.status, 409);
    assert.equal(seen.length - before, 1, 'the SDK sent the conflicting create once');
    await assert.rejects(client.zeroTrust.access.applications.cas.get('f174e90a-fafe-4643-bbbc-4a0ed4fc8415', { account_id: server.accountId }), Cloudflare.NotFoundError);
    await assert.rejects(client.zeroTrust.access.applications.cas.get('not-a-uuid', { account_id: server.accountId }), Cloudflare.BadRequestError);
    await assert.rejects(client.zeroTrust.access.applications.cas.list({ account_id: '0'.repeat(32) }), Cloudflare.PermissionDeniedError);
    const stranger = new Cloudflare({ apiToken: 'x'.repeat(40), baseURL: server.base, maxRetries: 0 } as any);
    await assert.rejects(stranger.zeroTrust.access.applications.cas.get(app.id!, { account_id: server.accountId }), Cloudflare.PermissionDeniedError);
    const verified = await client.user.tokens.verify();
    assert.equal(verified.status, 'active');
  });

  it('SDK v7: auto-pagination over 250 CAs with per_page 100 ends after the empty page', async () => {
    const zone = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', server.dataDir, 'account', 'create', '--name', 'paging', '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    const accountId = JSON.parse(zone.stdout).id;
    // A second account: its apps' hosts must be in a zone of its own.
    cliJson(server.dataDir, 'zone', 'create', '--account', accountId, '--name', 'paging.example.com');
    const tok = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', server.dataDir, 'token', 'create', '--account', accountId, '--permission', 'Access: Apps and Policies Write', '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    const { seen, fetchFn } = countingFetch();
    const client = v7({ apiToken: JSON.parse(tok.stdout).value, fetch: fetchFn });
    const made = new Set<string>();
    for (let i = 0; i < 250; i += 10) {
      await Promise.all(Array.from({ length: 10 }, async (_, j) => {
        const app = await client.zeroTrust.access.applications.create({ account_id: accountId, name: `p${i + j}`, domain: `p${i + j}.paging.example.com`, type: 'self_hosted' } as any);
        const ca = await client.zeroTrust.access.applications.cas.create(app.id!, { account_id: accountId });
        made.add(ca.id!);
        publicKeys.push(ca.public_key!);
      }));
    }
    const before = seen.length;
    const listed: string[] = [];
    for await (const ca of client.zeroTrust.access.applications.cas.list({ account_id: accountId, per_page: 100 })) listed.push(ca.id!);
    assert.equal(listed.length, 250);
    assert.deepEqual(new Set(listed), made);
    const pages = seen.slice(before).map((s) => new URL(s.url).searchParams.get('page'));
    assert.deepEqual(pages, [null, '2', '3', '4'], 'pages 1–3 and then one empty page');
  });

  it('SDK v4 (legacy core, empty JSON bodies): create/get/list/delete in both forms', async () => {
    const { seen, fetchFn } = countingFetch();
    const client = new CloudflareV4({ apiToken: server.token, baseURL: server.base, fetch: fetchFn } as any);
    const app = await client.zeroTrust.access.applications.create({ account_id: server.accountId, name: 'v4', domain: `v4.${MAIN_ZONE}`, type: 'self_hosted' } as any);
    const appId = (app as any).id as string;
    const ca = await client.zeroTrust.access.applications.cas.create(appId, { account_id: server.accountId });
    publicKeys.push(ca.public_key!);
    assert.deepEqual(await client.zeroTrust.access.applications.cas.get(appId, { account_id: server.accountId }), ca);
    const listed = [];
    for await (const c of client.zeroTrust.access.applications.cas.list({ account_id: server.accountId })) listed.push(c.id);
    assert.ok(listed.includes(ca.id));
    assert.deepEqual(await client.zeroTrust.access.applications.cas.delete(appId, { account_id: server.accountId }), { id: ca.id });
    const err = await client.zeroTrust.access.applications.cas.get(appId, { account_id: server.accountId }).catch((e) => e);
    assert.ok(err instanceof CloudflareV4.NotFoundError, String(err));
    const created = await client.zeroTrust.access.applications.cas.create(appId, { account_id: server.accountId });
    const conflict = await client.zeroTrust.access.applications.cas.create(appId, { account_id: server.accountId }).catch((e) => e);
    assert.ok(conflict instanceof CloudflareV4.ConflictError);
    assert.equal(seen.filter((s) => s.status === 409).length, 1, 'v4 did not retry the 409 either');
    publicKeys.push(created.public_key!);

    const zone = spawnSync(process.execPath, [...CLI_ARGS, '--data-dir', server.dataDir, 'zone', 'create', '--account', server.accountId, '--name', 'v4-zone.example.com', '--json'], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
    const zoneId = JSON.parse(zone.stdout).id as string;
    const zoneApp = await client.zeroTrust.access.applications.create({ zone_id: zoneId, name: 'v4z', domain: 'a.v4-zone.example.com', type: 'self_hosted' } as any);
    const zoneAppId = (zoneApp as any).id as string;
    const zoneCa = await client.zeroTrust.access.applications.cas.create(zoneAppId, { zone_id: zoneId });
    publicKeys.push(zoneCa.public_key!);
    assert.deepEqual(await client.zeroTrust.access.applications.cas.get(zoneAppId, { zone_id: zoneId }), zoneCa);
    const zoneListed = [];
    for await (const c of client.zeroTrust.access.applications.cas.list({ zone_id: zoneId })) zoneListed.push(c);
    assert.deepEqual(zoneListed, [zoneCa]);
    assert.deepEqual(await client.zeroTrust.access.applications.cas.delete(zoneAppId, { zone_id: zoneId }), { id: zoneCa.id });
    const sent = seen.filter((s) => s.method === 'POST' && s.url.endsWith('/ca'));
    assert.ok(sent.length >= 3, 'v4 created CAs with its empty-JSON-body POST');
  });

  it('the seed\'s SDK snippet, as printed in the docs, with a real app id and account id', async () => {
    const client = v7();
    const app = await client.zeroTrust.access.applications.create({ account_id: server.accountId, name: 'seed', domain: `seed.${MAIN_ZONE}`, type: 'self_hosted' } as any);
    const snippet = `import Cloudflare from 'cloudflare';

const client = new Cloudflare({
  apiToken: process.env['CLOUDFLARE_API_TOKEN'], // This is the default and can be omitted
  baseURL: '${server.base}',
});

const ca = await client.zeroTrust.access.applications.cas.create(
  '${app.id}',
  { account_id: '${server.accountId}' },
);

console.log(ca.id);
`;
    // Inside node_modules/ so that `import 'cloudflare'` resolves as it would in a user's project.
    const file = join(ROOT, 'node_modules', `.seed-snippet-${process.pid}.mjs`);
    writeFileSync(file, snippet);
    const run = spawnSync(process.execPath, [file], { env: cleanEnv({ CLOUDFLARE_API_TOKEN: server.token }), encoding: 'utf8' });
    rmSync(file, { force: true });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout.trim(), /^[0-9a-f]{48}$/);
  });

  it('ssh-keygen -l accepts every public_key returned, with our fingerprint', (t) => {
    const missing = missingTool('ssh-keygen', ['-?']);
    if (missing) return t.skip(missing);
    assert.ok(publicKeys.length >= 255, `collected ${publicKeys.length}`);
    const file = join(testTempDir('access-ca-keys-'), 'keys.pub');
    writeFileSync(file, `${publicKeys.join('\n')}\n`);
    const r = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, publicKeys.length);
    lines.forEach((line, i) => {
      const blob = Buffer.from(publicKeys[i]!.split(' ')[1]!, 'base64');
      const ours = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
      assert.equal(line, `256 ${ours} open-ssh-ca@cloudflareaccess.org (ECDSA)`);
    });
  });

  it('the database holds no CA private key in clear', async () => {
    const sqlite = new SQLite(join(server.dataDir, 'access-ca.db'), { readonly: true });
    const rows = sqlite.prepare('select id, ca_id, private_key_sealed from ssh_ca_keys').all() as { id: string; ca_id: string; private_key_sealed: Buffer }[];
    sqlite.close();
    assert.ok(rows.length >= 250);
    const vault = createKeyVault(loadMasterKey(join(server.dataDir, 'master.key'), false).key);
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith('access-ca.db')).map((f) => readFileSync(join(server.dataDir, f)));
    assert.ok(files.length >= 1);
    for (const row of rows) {
      const pkcs8 = vault.open(row.private_key_sealed, caKeyAad(row.ca_id, row.id));
      const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
      const sec1 = key.export({ format: 'der', type: 'sec1' });
      const d = Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
      for (const needle of [pkcs8, sec1, d]) {
        for (const bytes of files) assert.equal(bytes.indexOf(needle), -1, `key ${row.id} found in clear`);
      }
    }
  });
});
