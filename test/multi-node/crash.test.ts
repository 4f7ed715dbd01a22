import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sql } from 'kysely';
import { startServer } from '../helpers/server-process.ts';
import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';
import { nodeApi, prepareSigning, sharedMasterKey } from '../helpers/deployment.ts';
import { openDatabase, parseDatabaseUrl } from '../../src/platform/db/database.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const pgSkip = await postgresUnavailable();

async function crashUnderLoad(engine: 'sqlite' | 'postgres') {
  const pg = engine === 'postgres' ? await postgresTestDatabase() : null;
  const dataDir = testTempDir('access-ca-crash-');
  const env: Record<string, string> = pg ? { ACCESS_CA_DATABASE_URL: pg.url, ACCESS_CA_MASTER_KEY_FILE: sharedMasterKey() } : {};
  const first = await startServer({ env, dataDir });
  const signing = await prepareSigning(first, env);
  try {
    const api = nodeApi(first, first.accountId, first.token);
    const apps: { id: string; aud: string }[] = [];
    for (let i = 0; i < 160; i += 8) {
      apps.push(...(await Promise.all(Array.from({ length: 8 }, (_, j) => api('POST', '/access/apps', { name: `a${i + j}`, domain: `a${i + j}.example.com`, policies: [signing.everyone] }, 201)))).map((r) => r.body.result));
    }
    const signer = apps.pop()!;
    await api('POST', `/access/apps/${signer.id}/ca`, undefined, 200);

    // The load: CA creates and certificate issues, eight at a time, until the node is killed.
    const acknowledgedCas: { app: { id: string; aud: string }; ca: { id: string; public_key: string } }[] = [];
    const acknowledgedCerts: string[] = [];
    let next = 0;
    let killed = false;
    const worker = async (w: number) => {
      while (!killed) {
        try {
          if (w % 2 === 0 && next < apps.length) {
            const app = apps[next++]!;
            const r = await api('POST', `/access/apps/${app.id}/ca`);
            if (r.status === 200) acknowledgedCas.push({ app, ca: r.body.result });
          } else {
            const r = await signing.certSign(first, signer.aud);
            if (r.status === 200) acknowledgedCerts.push(r.body.id);
          }
        } catch {
          // the node died under this request: it was never acknowledged
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await new Promise((r) => setTimeout(r, 1500));
    first.child.kill('SIGKILL');
    killed = true;
    await first.stop();
    await load;
    assert.ok(acknowledgedCas.length >= 5 && acknowledgedCerts.length >= 5, `load made ${acknowledgedCas.length} CAs and ${acknowledgedCerts.length} certificates`);

    const second = await startServer({ env, dataDir });
    try {
      const again = nodeApi(second, first.accountId, first.token);
      const check = async ({ app, ca }: (typeof acknowledgedCas)[number]) => {
        const got = await again('GET', `/access/apps/${app.id}/ca`, undefined, 200);
        assert.deepEqual(got.body.result, { ...ca, aud: app.aud });
        const signed = await signing.certSign(second, app.aud);
        assert.equal(signed.status, 200, `CA ${ca.id} signs after the crash: ${JSON.stringify(signed.body)}`);
        const key = parseCertificate(Buffer.from(signed.body.certificate.split(' ')[1], 'base64')).signatureKey.toString('base64');
        assert.equal(key, ca.public_key.split(' ')[1]);
      };
      for (let i = 0; i < acknowledgedCas.length; i += 8) await Promise.all(acknowledgedCas.slice(i, i + 8).map(check));
      const store = await openDatabase(pg ? { kind: 'postgres', url: pg.url } : parseDatabaseUrl(join(dataDir, 'access-ca.db')));
      try {
        const ids = new Set((await store.db.selectFrom('ssh_certificates').select('id').execute()).map((r) => r.id));
        for (const id of acknowledgedCerts) assert.ok(ids.has(id), `certificate ${id} was acknowledged and must be recorded`);
        const keyless = await sql<{ n: number }>`select count(*) as n from ssh_cas c where not exists (select 1 from ssh_ca_keys k where k.ca_id = c.id and k.state = 'active')`.execute(store.db);
        assert.equal(Number(keyless.rows[0]!.n), 0, 'no CA without its key');
        const unaudited = await sql<{ n: number }>`select count(*) as n from ssh_certificates c where not exists (select 1 from audit_events e where e.subject = c.id)`.execute(store.db);
        assert.equal(Number(unaudited.rows[0]!.n), 0, 'no certificate without its audit event');
      } finally {
        await store.close();
      }
    } finally {
      await second.stop();
    }
  } finally {
    await signing.idp.close();
    await pg?.drop();
  }
}

describe('durability: a node killed with SIGKILL mid-load loses nothing it acknowledged', () => {
  it('on SQLite (WAL, synchronous=FULL)', () => crashUnderLoad('sqlite'));
  it('on PostgreSQL', { skip: pgSkip ?? false }, () => crashUnderLoad('postgres'));
});
