import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KyselyPlugin } from 'kysely';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { eventually } from '../helpers/eventually.ts';
import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { auditRow, type AuditRow } from '../../src/audit/audit-log.ts';
import { auditLine, createAuditStream, registerAuditStream } from '../../src/audit/audit-stream.ts';
import { openAuditFile, type AuditFile } from '../../src/audit/audit-stream-file.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { cryptoRandom } from '../../src/platform/random.ts';
import type { Db } from '../../src/platform/db/schema.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const LINE_FIELDS = ['account_id', 'actor', 'created_at', 'data', 'id', 'stream', 'subject', 'type'];

/**
 * A real app with the stream registered (as app.ts does for `serve --audit-log`) over a real file; the
 * file can be made to fail, and inserts into one table can be made to fail (a transaction rolled back).
 */
async function streamedApp(opts: { databaseUrl?: string } = {}) {
  const path = join(testTempDir('access-ca-stream-'), 'audit.log');
  const file: AuditFile = await openAuditFile(path, { fsync: false });
  const state = { broken: false, appends: 0, failInsertsInto: null as string | null };
  const failing: KyselyPlugin = {
    transformQuery(args) {
      const node = args.node as { kind: string; into?: { table: { identifier: { name: string } } } };
      if (node.kind === 'InsertQueryNode' && node.into?.table.identifier.name === state.failInsertsInto) throw new Error('injected store failure');
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  let db!: Db;
  const metrics = createMetrics();
  const t = await makeTestApp({
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    db: (d) => (db = d.withPlugin(failing)),
    instrument: (app) => registerAuditStream(app, {
      db, metrics, outputs: {
        file: {
          append: async (text) => {
            if (state.broken) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
            state.appends++;
            await file.append(text);
          },
        },
      },
    }),
  });
  const tenant = await t.tenant();
  const admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: [...PERMISSION_GROUPS] })).value;
  const lines = () => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  return {
    t, tenant, admin, state, lines, metrics, path,
    at: (rest: string) => scoped('account', tenant.accountId, rest),
    async close() {
      await t.close();
      await file.close();
    },
  };
}
type Streamed = Awaited<ReturnType<typeof streamedApp>>;

/** An app with a CA, an identity provider and a policy that lets everyone in: ready for cert_sign. */
async function signing(s: Streamed, idp: TestIdp) {
  assert.equal((await s.t.call('POST', s.at('/access/identity_providers'), { token: s.admin, body: { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } } })).status, 201);
  const app = (await s.t.call('POST', s.at('/access/apps'), { token: s.admin, body: { name: 'app', domain: `app-${randomUUID()}.example.com` } })).body.result;
  assert.equal((await s.t.call('POST', s.at(`/access/apps/${app.id}/ca`), { token: s.admin })).status, 200);
  return app as { id: string; aud: string };
}

describe('audit stream: every committed audit row is in the file before the answer that reports it', () => {
  const open: Streamed[] = [];
  const idps: TestIdp[] = [];
  after(async () => {
    for (const s of open) await s.close();
    for (const idp of idps) await idp.close();
  });
  const make = async (opts: { databaseUrl?: string } = {}) => {
    const s = await streamedApp(opts);
    open.push(s);
    return s;
  };

  it('an API change: its line is there when the answer arrives, the row\'s fields and the stream version, no secret', async () => {
    const s = await make();
    const secret = `cs-${randomUUID()}`;
    const idp = await makeTestIdp('https://stream.example');
    idps.push(idp);
    const r = await s.t.call('POST', s.at('/access/identity_providers'), { token: s.admin, body: { name: 'corp', config: { issuer: idp.issuer, jwks: idp.jwks, client_id: 'c', client_secret: secret } } });
    assert.equal(r.status, 201, r.raw);
    const line = s.lines().find((l) => l['subject'] === r.body.result.id);
    assert.ok(line, 'the event was written before the answer');
    assert.deepEqual(Object.keys(line).sort(), LINE_FIELDS);
    const row = await s.t.db.selectFrom('audit_events').selectAll().where('subject', '=', r.body.result.id).executeTakeFirstOrThrow();
    assert.deepEqual(line, { stream: 1, ...row, data: JSON.parse(row.data) });
    assert.equal(line['type'], 'identity_provider.created');
    assert.ok(!readFileSync(s.path, 'utf8').includes(secret), 'no client secret in the stream');
    assert.ok(!readFileSync(s.path, 'utf8').includes(s.admin), 'no token in the stream');
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`cert_sign, issued and refused: both lines are written before the answers (${kind})`, async (t) => {
      let s: Streamed;
      if (kind === 'postgres') {
        const why = await postgresUnavailable();
        if (why) return t.skip(why);
        const pg = await postgresTestDatabase();
        s = await streamedApp({ databaseUrl: pg.url });
        t.after(async () => {
          await s.close();
          await pg.drop();
        });
      } else s = await make();
      const idp = await makeTestIdp(`https://sign-${kind}.example`);
      idps.push(idp);
      const app = await signing(s, idp);
      // No policy yet: a verified person is refused, and that refusal is an event too.
      const refused = await s.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'eve@example.com' }) } });
      assert.equal(refused.status, 403, refused.raw);
      const refusal = s.lines().find((l) => l['type'] === 'ssh_certificate.refused' && l['subject'] === app.id);
      assert.equal(refusal?.['actor'], 'eve@example.com');
      await allowEveryone(s.t, s.tenant.accountId, app.id, s.admin);
      const issued = await s.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'alice@example.com' }) } });
      assert.equal(issued.status, 200, issued.raw);
      const line = s.lines().find((l) => l['type'] === 'ssh_certificate.issued' && l['subject'] === issued.body.id);
      assert.equal(line?.['actor'], 'alice@example.com');
      assert.equal(line?.['data'].app_id, app.id);
    });
  }

  it('a row made in a transaction that did not commit is never streamed; the failed answer goes as it was', async () => {
    const s = await make();
    const app = (await s.t.call('POST', s.at('/access/apps'), { token: s.admin, body: { name: 'app', domain: `app-${randomUUID()}.example.com` } })).body.result;
    const caEvents = () => s.lines().filter((l) => l['type'] === 'ssh_ca.created');
    s.state.failInsertsInto = 'ssh_ca_keys';
    const r = await s.t.call('POST', s.at(`/access/apps/${app.id}/ca`), { token: s.admin });
    s.state.failInsertsInto = null;
    assert.equal(r.status, 500, r.raw);
    assert.equal(r.body.errors[0].code, 10001);
    // Rows not yet seen committed are looked for again every second: still nothing after that.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(caEvents(), []);
    assert.equal(await s.t.db.selectFrom('audit_events').select('id').where('type', '=', 'ssh_ca.created').where('account_id', '=', s.tenant.accountId).executeTakeFirst(), undefined);
    const ok = await s.t.call('POST', s.at(`/access/apps/${app.id}/ca`), { token: s.admin });
    assert.equal(ok.status, 200, ok.raw);
    assert.deepEqual(caEvents().map((l) => l['subject']), [ok.body.result.id]);
  });

  it('the stream checks the store: of rows it is given, only the committed are written (unit)', async () => {
    const s = await make();
    const row = (type: string): AuditRow => auditRow({ accountId: s.tenant.accountId, type, actor: 'cli', subject: randomUUID() }, { clock: systemClock, random: cryptoRandom });
    const [kept, undone] = [row('test.kept'), row('test.undone')];
    await s.t.db.insertInto('audit_events').values(kept).execute();
    await assert.rejects(s.t.db.transaction().execute(async (trx) => {
      await trx.insertInto('audit_events').values(undone).execute();
      throw new Error('rolled back');
    }), /rolled back/);
    const written: string[] = [];
    const stream = createAuditStream({ db: s.t.db, outputs: { file: { append: async (text) => void written.push(text) } }, metrics: createMetrics(), log: s.t.app.log });
    await stream.publish([kept, undone]);
    await stream.close();
    assert.deepEqual(written, [auditLine(kept)]);
  });

  it('a file that cannot be written: the answer is 503 with retry-after (v4 and cdn-cgi shapes), and the events follow once it can', async () => {
    const s = await make();
    const idp = await makeTestIdp('https://broken.example');
    idps.push(idp);
    const app = await signing(s, idp);
    await allowEveryone(s.t, s.tenant.accountId, app.id, s.admin);
    s.state.broken = true;
    const policy = await s.t.call('POST', s.at('/access/policies'), { token: s.admin, body: { name: 'staff', decision: 'allow', include: [{ everyone: {} }] } });
    assert.equal(policy.status, 503, policy.raw);
    assert.equal(policy.headers['retry-after'], '5');
    assert.deepEqual(policy.body, { success: false, errors: [{ code: 10503, message: 'The audit log could not be written; retry the request' }], messages: [], result: null });
    const cert = await s.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'bob@example.com' }) } });
    assert.equal(cert.status, 503, cert.raw);
    assert.equal(cert.headers['retry-after'], '5');
    assert.deepEqual(cert.body, { status: 503, message: 'The audit log could not be written; retry the request' });
    // A request that makes no event is not affected.
    assert.equal((await s.t.call('GET', s.at('/access/policies'), { token: s.admin })).status, 200);
    const exposition = await s.metrics.exposition();
    assert.match(exposition, /access_ca_audit_stream_write_errors_total\{output="file"\} [1-9]/);

    // The changes were committed (the answer did not acknowledge them): once the file takes lines, they are written, once each.
    s.state.broken = false;
    const types = await eventually('the refused answers\' events', () => {
      const found = s.lines().filter((l) => (l['type'] === 'access_policy.created' && l['data'].name === 'staff') || (l['type'] === 'ssh_certificate.issued' && l['actor'] === 'bob@example.com'));
      return found.length === 2 ? found.map((l) => l['type']).sort() : undefined;
    });
    assert.deepEqual(types, ['access_policy.created', 'ssh_certificate.issued']);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const ids = s.lines().map((l) => l['id']);
    assert.equal(new Set(ids).size, ids.length, 'no event is written twice');
  });

  it('rows made outside any request (the operator\'s, at start-up) are written within seconds', async () => {
    const s = await make();
    const token = await s.t.identity.createToken({ accountId: s.tenant.accountId, name: 'made outside a request', permissions: ['Access: Apps and Policies Read'] });
    const line = await eventually('the stray event', () => s.lines().find((l) => l['type'] === 'api_token.created' && l['subject'] === token.id));
    assert.equal(line['actor'], 'cli');
    assert.ok(!readFileSync(s.path, 'utf8').includes(token.value));
  });

  it('answers given together share one append (group commit), and every one of their events is written', async () => {
    const s = await make();
    const before = { appends: s.state.appends, lines: s.lines().length };
    const n = 30;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
      s.t.call('POST', s.at('/access/policies'), { token: s.admin, body: { name: `p${i}`, decision: 'allow', include: [{ everyone: {} }] } })));
    for (const r of answers) assert.equal(r.status, 201, r.raw);
    // The set-up's own rows (tokens made outside a request) may still arrive by the sweep: only the policies' events are counted.
    const written = s.lines().slice(before.lines).filter((l) => l['type'] === 'access_policy.created');
    assert.deepEqual(new Set(written.map((l) => l['subject'])), new Set(answers.map((r) => r.body.result.id)));
    assert.ok(s.state.appends - before.appends < n, `${s.state.appends - before.appends} appends for ${n} answers`);
    assert.match(await s.metrics.exposition(), /access_ca_audit_stream_lines_total\{output="file"\} \d+/);
  });
});
