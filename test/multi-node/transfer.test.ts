import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import { runCliInProcess, startServer } from '../helpers/server-process.ts';
import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';
import { nodeApi, prepareSigning } from '../helpers/deployment.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const skip = await postgresUnavailable();

describe('export from SQLite, import into PostgreSQL', { skip: skip ?? false }, () => {
  it('the official SDK lists the same CAs with the same public keys, and they sign', async () => {
    const dir = testTempDir('access-ca-transfer-');
    const sqliteDir = join(dir, 'sqlite');
    const source = await startServer({ dataDir: sqliteDir });
    const signing = await prepareSigning(source, {});
    const api = nodeApi(source, source.accountId, source.token);
    const apps = [];
    for (let i = 0; i < 12; i++) {
      const app = (await api('POST', '/access/apps', { name: `t${i}`, domain: `t${i}.example.com`, policies: [signing.everyone] }, 201)).body.result;
      await api('POST', `/access/apps/${app.id}/ca`, undefined, 200);
      apps.push(app);
    }
    await api('PUT', `/access/apps/${apps[0].id}/ca/policy`, { ttl: '7m' }, 200);
    assert.equal((await signing.certSign(source, apps[1].aud)).status, 200);
    const sdk = (base: string) => new Cloudflare({ apiToken: source.token, baseURL: base } as never);
    const list = async (base: string) => {
      const out: { id?: string; aud?: string; public_key?: string }[] = [];
      for await (const ca of sdk(base).zeroTrust.access.applications.cas.list({ account_id: source.accountId, per_page: 5 })) out.push(ca);
      return out.sort((x, y) => String(x.id).localeCompare(String(y.id)));
    };
    const before = await list(source.base);
    // A target whose bundle version hosts would hold: it must not go down across the move.
    const tg = (await api('POST', '/infrastructure/targets', { hostname: 't1.example.com' }, 201)).body.result;
    const heldVersion = Number((await api('GET', `/infrastructure/targets/${tg.id}/trust_bundle`, undefined, 200)).body.result.version);
    assert.ok(heldVersion > 12, `${heldVersion}`);
    await source.stop();

    const file = join(dir, 'export.json');
    const exported = await runCliInProcess(['--data-dir', sqliteDir, 'export', '--out', file, '--json']);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(JSON.parse(exported.stdout).tables.ssh_ca_keys, 12);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').includes(source.token), false, 'tokens travel as hashes only');

    const pg = await postgresTestDatabase();
    try {
      const env = { ACCESS_CA_DATABASE_URL: pg.url, ACCESS_CA_MASTER_KEY_FILE: join(sqliteDir, 'master.key') };
      const otherKey = join(dir, 'other.key');
      writeFileSync(otherKey, randomBytes(32).toString('base64'), { mode: 0o600 });
      const wrongKey = await runCliInProcess(['--data-dir', join(dir, 'x'), 'import', '--in', file], { ...env, ACCESS_CA_MASTER_KEY_FILE: otherKey });
      assert.equal(wrongKey.code, 2);
      assert.match(wrongKey.stderr, /sealed under another master key|not the one this store was created with/);

      const imported = await runCliInProcess(['--data-dir', join(dir, 'pg'), 'import', '--in', file, '--json'], env);
      assert.equal(imported.code, 0, imported.stderr);
      assert.equal(JSON.parse(imported.stdout).tables.ssh_cas, 12);
      const again = await runCliInProcess(['--data-dir', join(dir, 'pg'), 'import', '--in', file], env);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already holds accounts/);
      const clash = await runCliInProcess(['--data-dir', join(dir, 'pg'), 'import', '--in', file, '--allow-non-empty'], env);
      assert.equal(clash.code, 2);
      assert.match(clash.stderr, /nothing was written/);

      const target = await startServer({ dataDir: join(dir, 'pg'), env });
      try {
        assert.equal(target.token, '', 'an imported store is not empty: no new first account');
        assert.deepEqual(await list(target.base), before);
        const policy = await nodeApi(target, source.accountId, source.token)('GET', `/access/apps/${apps[0].id}/ca/policy`, undefined, 200);
        assert.equal(policy.body.result.ttl, '7m');
        const signed = await signing.certSign(target, apps[5].aud);
        assert.equal(signed.status, 200, 'an imported key opens and signs');
        const moved = await nodeApi(target, source.accountId, source.token)('GET', `/infrastructure/targets/${tg.id}/trust_bundle`, undefined, 200);
        assert.ok(Number(moved.body.result.version) > heldVersion, `the fleet version grows across an import: ${moved.body.result.version} > ${heldVersion}`);
        assert.equal(moved.body.result.keys.length, 1, 't1.example.com is covered by its application');
      } finally {
        await target.stop();
      }
    } finally {
      await signing.idp.close();
      await pg.drop();
    }
  });
});
