/**
 * SIGKILL mid-write, on SQLite and on PostgreSQL: a real `serve` killed at a random moment while CA
 * rotation steps and a bulk revocation (one person's hundreds of certificates) are in flight restarts on
 * the same store with exactly one active key, a key list the API and the store agree on, every
 * acknowledged step in place (a step and its audit event commit together or not at all), and the
 * revocation whole or absent, never half, with the KRL it serves agreeing with the inventory.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../helpers/server-process.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { nodeApi, prepareSigning, sharedMasterKey, userKey, type Signing } from '../helpers/deployment.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { openDatabase, parseDatabaseUrl, type OpenDatabase } from '../../src/platform/db/database.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { decodeKrl } from '../../src/openssh/krl.ts';

const pgSkip = await postgresUnavailable();

/** Kills per engine, each at a different moment. */
const ROUNDS = 3;
/** One person's certificates, revoked at once in each round. */
const CERTS_PER_PERSON = 300;

interface Deployment {
  server: ServerProcess;
  env: Record<string, string>;
  dataDir: string;
  pg: TestDatabase | null;
  signing: Signing;
  /** The account and admin token the first start printed (a restart prints no banner). */
  accountId: string;
  token: string;
}

/** What one round saw of its requests before the kill. */
interface RoundFigures {
  steps: { ok: number; conflict: number; s500: number; s503: number; other: number; cut: number };
  revocation: 'acknowledged' | 'cut' | `status ${number}`;
  /** What the store held after the restart. */
  outcome?: 'whole' | 'absent';
  killAfterMs: number;
}

const blobOf = (line: string) => line.split(' ')[1]!;

function storeOf(d: Deployment): Promise<OpenDatabase> {
  return openDatabase(d.pg ? { kind: 'postgres', url: d.pg.url } : parseDatabaseUrl(join(d.dataDir, 'access-ca.db')));
}

/** `count` certificates for `email` through cloudflared's cert_sign, eight at a time; their ids and serials. */
async function issueFor(d: Deployment, aud: string, email: string, count: number): Promise<Map<string, string>> {
  const issued = new Map<string, string>();
  const jwt = await d.signing.idp.sign({ aud: [aud], email }, { expiresIn: '1h' });
  const one = async () => {
    const r = await fetch(`${d.server.origin}/cdn-cgi/access/cert_sign`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: userKey(), jwt }),
    });
    const body = (await r.json()) as any;
    assert.equal(r.status, 200, JSON.stringify(body));
    issued.set(body.id, parseCertificate(Buffer.from(blobOf(body.certificate), 'base64')).serial.toString());
  };
  for (let i = 0; i < count; i += 8) await Promise.all(Array.from({ length: Math.min(8, count - i) }, one));
  return issued;
}

async function crashRounds(t: TestContext, engine: 'sqlite' | 'postgres') {
  const pg = engine === 'postgres' ? await postgresTestDatabase() : null;
  const dataDir = testTempDir('access-ca-sigkill-');
  const env: Record<string, string> = pg ? { ACCESS_CA_DATABASE_URL: pg.url, ACCESS_CA_MASTER_KEY_FILE: sharedMasterKey() } : {};
  let server = await startServer({ env, dataDir });
  const { accountId, token } = server;
  const d: Deployment = { server, env, dataDir, pg, accountId, token, signing: await prepareSigning(server, env) };
  t.after(async () => {
    await d.server.stop('SIGKILL');
    await d.signing.idp.close();
    await pg?.drop();
  });
  const api = () => nodeApi(d.server, accountId, token);

  // Two applications: one whose CA keeps rotating, one whose certificates are revoked (its KRL stays about revocation alone).
  const rotating = (await api()('POST', '/access/apps', { name: 'rot', domain: 'rot.example.com', policies: [d.signing.everyone] }, 201)).body.result;
  const signingApp = (await api()('POST', '/access/apps', { name: 'rev', domain: 'rev.example.com', policies: [d.signing.everyone] }, 201)).body.result;
  const rotCa = (await api()('POST', `/access/apps/${rotating.id}/ca`, undefined, 200)).body.result;
  await api()('POST', `/access/apps/${signingApp.id}/ca`, undefined, 200);

  // Every person's certificates first: the kills below interrupt revocations, not issuance.
  const people = Array.from({ length: ROUNDS }, (_, i) => `person-${i}@example.com`);
  const issued = new Map<string, Map<string, string>>();
  for (const email of people) issued.set(email, await issueFor(d, signingApp.aud, email, CERTS_PER_PERSON));

  /** Rotation steps the API acknowledged (200), by kind, with what they named. */
  const acknowledged = { rotated: new Set<string>(), activated: new Set<string>(), retired: new Set<string>() };
  const rounds: RoundFigures[] = [];
  const recoveries: number[] = [];

  for (const [round, email] of people.entries()) {
    const figures: RoundFigures = { steps: { ok: 0, conflict: 0, s500: 0, s503: 0, other: 0, cut: 0 }, revocation: 'cut', killAfterMs: 0 };
    let killed = false;
    // Three clients, each stepping the CA through rotate → activate → retire, concurrently: most steps race
    // one another and are refused 409, and the kill lands wherever one is.
    const stepper = async (offset: number) => {
      const steps = ['rotate', 'rotate/activate', 'rotate/retire'] as const;
      for (let i = offset; !killed; i++) {
        const step = steps[i % 3]!;
        try {
          const r = await api()('POST', `/access/apps/${rotating.id}/ca/${step}`);
          if (killed) break;
          if (r.status === 200) {
            figures.steps.ok++;
            if (step === 'rotate') acknowledged.rotated.add(r.body.result.id);
            else if (step === 'rotate/activate') acknowledged.activated.add(r.body.result.id);
            else acknowledged.retired.add(r.body.result.id);
          } else if (r.status === 409) figures.steps.conflict++;
          else if (r.status === 500) figures.steps.s500++;
          else if (r.status === 503) figures.steps.s503++;
          else figures.steps.other++;
        } catch {
          // The node died under this request: it was never acknowledged.
          figures.steps.cut++;
          break;
        }
      }
    };
    const load = Promise.all([0, 1, 2].map(stepper));
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));

    // The bulk revocation, and the kill at a random moment after it was sent: before, during or after its transaction.
    const revoke = api()('POST', `/access/apps/${signingApp.id}/ca/certificates/revoke`, { identity: email, reason: `sigkill round ${round}` })
      .then((r) => { if (!killed) figures.revocation = r.status === 200 ? 'acknowledged' : `status ${r.status}`; }, () => {});
    // Wider each round: the first kills tend to land inside the transaction, the last after its answer.
    figures.killAfterMs = Math.round(Math.random() * (10 + 25 * round));
    await new Promise((r) => setTimeout(r, figures.killAfterMs));
    d.server.child.kill('SIGKILL');
    killed = true;
    await d.server.stop();
    await Promise.all([load, revoke]);
    rounds.push(figures);

    const restarted = Date.now();
    server = await startServer({ env, dataDir });
    d.server = server;
    const ready = await fetch(`${server.origin}/readyz`);
    assert.equal(ready.status, 200, `round ${round}: ready after the restart`);
    recoveries.push(Date.now() - restarted);

    await checkRotation(d, api(), rotating, rotCa.id, acknowledged, `round ${round}`);
    figures.outcome = await checkRevocation(d, api(), signingApp.id, email, issued.get(email)!, figures.revocation === 'acknowledged', `round ${round}`);
    await checkKrl(d, api(), signingApp.id, `round ${round}`);
  }

  for (const [i, f] of rounds.entries()) {
    t.diagnostic(`${engine} round ${i}: kill ${f.killAfterMs} ms after the revocation was sent; revocation ${f.revocation} and ${f.outcome} after the restart; rotation steps acknowledged ${f.steps.ok}, ` +
      `409 ${f.steps.conflict}, 500 ${f.steps.s500}, 503 ${f.steps.s503}, other ${f.steps.other}, cut by the kill ${f.steps.cut}; ready again ${recoveries[i]} ms after the restart began`);
  }
  t.diagnostic(`${engine}: rotation steps acknowledged ${acknowledged.rotated.size + acknowledged.activated.size + acknowledged.retired.size}, missing 0; ` +
    `certificates issued ${ROUNDS * CERTS_PER_PERSON}, missing 0`);
  const all500 = rounds.reduce((n, f) => n + f.steps.s500 + f.steps.other, 0);
  assert.equal(all500, 0, 'no rotation step answered 500 or anything but 200, 409 and 503');
}

/**
 * After a restart: exactly one active key, at most one of next or previous beside it, the API's list the
 * store's rows, the CA signing with its active key, every acknowledged step still in place, and as many
 * keys as the audited steps account for (a step and its event commit together).
 */
async function checkRotation(d: Deployment, api: ReturnType<typeof nodeApi>, app: { id: string; aud: string }, caId: string,
  acknowledged: { rotated: Set<string>; activated: Set<string>; retired: Set<string> }, when: string) {
  const store = await storeOf(d);
  try {
    const rows = await store.db.selectFrom('ssh_ca_keys').select(['id', 'state', 'public_key']).where('ca_id', '=', caId).execute();
    const states = rows.map((r) => r.state).sort();
    assert.ok([['active'], ['active', 'next'], ['active', 'previous']].some((s) => JSON.stringify(s) === JSON.stringify(states)), `${when}: the CA's keys are ${JSON.stringify(states)}`);
    const listed = (await api('GET', `/access/apps/${app.id}/ca/trusted_keys`, undefined, 200)).body.result.keys as { id: string; state: string; public_key: string }[];
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    assert.deepEqual(listed.map(({ id, state, public_key }) => ({ id, state, public_key: blobOf(public_key) })).sort(byId), rows.map((r) => ({ ...r })).sort(byId), `${when}: the API lists the store's keys`);
    const active = rows.find((r) => r.state === 'active')!;
    assert.equal(blobOf((await api('GET', `/access/apps/${app.id}/ca`, undefined, 200)).body.result.public_key), active.public_key, `${when}: the CA shows its active key`);

    const events = await store.db.selectFrom('audit_events').select(['type', 'data']).where('subject', '=', caId).execute();
    const count = (type: string) => events.filter((e) => e.type === type).length;
    assert.equal(rows.length, 1 + count('ssh_ca.rotated') - count('ssh_ca.retired'), `${when}: every key is accounted for by an audited step`);
    const ids = new Set(rows.map((r) => r.id));
    const retiredIds = new Set(events.filter((e) => e.type === 'ssh_ca.retired').map((e) => JSON.parse(e.data).key_id as string));
    for (const id of acknowledged.rotated) assert.ok(ids.has(id) || retiredIds.has(id), `${when}: rotated key ${id} was acknowledged`);
    for (const id of acknowledged.retired) assert.ok(!ids.has(id) && retiredIds.has(id), `${when}: retired key ${id} was acknowledged`);
    for (const id of acknowledged.activated) {
      assert.ok(events.some((e) => e.type === 'ssh_ca.activated' && JSON.parse(e.data).key_id === id), `${when}: activation of ${id} was acknowledged`);
    }
  } finally {
    await store.close();
  }
  // The CA signs, with the key it shows.
  const signed = await d.signing.certSign(d.server, app.aud);
  assert.equal(signed.status, 200, `${when}: ${JSON.stringify(signed.body)}`);
  const shown = (await api('GET', `/access/apps/${app.id}/ca`, undefined, 200)).body.result.public_key as string;
  assert.equal(parseCertificate(Buffer.from(blobOf(signed.body.certificate), 'base64')).signatureKey.toString('base64'), blobOf(shown));
}

/** The person's revocation is whole (one row; every certificate revoked by it) or absent (no row; none revoked). */
async function checkRevocation(d: Deployment, api: ReturnType<typeof nodeApi>, appId: string, email: string, issued: Map<string, string>, wasAcknowledged: boolean, when: string): Promise<'whole' | 'absent'> {
  const store = await storeOf(d);
  try {
    const certs = await store.db.selectFrom('ssh_certificates').select(['id', 'serial', 'revoked_at', 'revocation_id']).where('identity', '=', email).execute();
    assert.equal(certs.length, issued.size, `${when}: every certificate issued to ${email} is in the store`);
    for (const c of certs) assert.equal(issued.get(c.id), c.serial, `${when}: certificate ${c.id} has the serial it was issued with`);
    const rows = await store.db.selectFrom('ssh_revocations').selectAll().where('kind', '=', 'identity').where('value', '=', email).execute();
    const revoked = certs.filter((c) => c.revoked_at !== null);
    if (rows.length === 0) {
      assert.equal(wasAcknowledged, false, `${when}: an acknowledged revocation is in the store`);
      assert.equal(revoked.length, 0, `${when}: no revocation row, so no certificate of ${email} is revoked`);
    } else {
      assert.equal(rows.length, 1, `${when}: one revocation of ${email}`);
      assert.equal(rows[0]!.certificates, issued.size, `${when}: the revocation counts every certificate`);
      assert.equal(revoked.length, issued.size, `${when}: the revocation row is there, so every certificate of ${email} is revoked`);
      assert.ok(revoked.every((c) => c.revocation_id === rows[0]!.id), `${when}: each names the revocation`);
    }
    const listed = await api('GET', `/access/apps/${appId}/ca/certificates?identity=${encodeURIComponent(email)}&status=revoked&per_page=1000`, undefined, 200);
    assert.equal(listed.body.result_info.total_count, revoked.length, `${when}: the API lists what the store holds`);
    return rows.length === 0 ? 'absent' : 'whole';
  } finally {
    await store.close();
  }
}

/** The KRL the node serves names exactly the unexpired revoked serials of the inventory, under the CA's key. */
async function checkKrl(d: Deployment, api: ReturnType<typeof nodeApi>, appId: string, when: string) {
  const res = await fetch(`${d.server.base}/accounts/${d.accountId}/access/apps/${appId}/ca/krl`, { headers: { authorization: `Bearer ${d.token}` } });
  assert.equal(res.status, 200);
  const krl = decodeKrl(Buffer.from(await res.arrayBuffer()));
  const ca = (await api('GET', `/access/apps/${appId}/ca`, undefined, 200)).body.result;
  const store = await storeOf(d);
  try {
    const revoked = await store.db.selectFrom('ssh_certificates').select('serial').where('app_id', '=', appId).where('revoked_at', 'is not', null)
      .where('valid_before', '>', new Date().toISOString()).execute();
    const inKrl = krl.certificates.flatMap((s) => {
      assert.equal(s.caKeyBlob?.toString('base64'), blobOf(ca.public_key), `${when}: the KRL's section is the CA's key`);
      return s.serials.map(String);
    });
    assert.deepEqual(inKrl.sort(), revoked.map((r) => r.serial).sort(), `${when}: the KRL names the inventory's revoked serials`);
    assert.equal(String(krl.version), res.headers.get('x-krl-version'));
  } finally {
    await store.close();
  }
}

describe('SIGKILL during CA rotation steps and a bulk revocation', () => {
  it('on SQLite: one active key, each revocation whole or absent, the KRL agrees', { timeout: 180_000 }, (t) => crashRounds(t, 'sqlite'));
  it('on PostgreSQL: one active key, each revocation whole or absent, the KRL agrees', { timeout: 180_000, skip: pgSkip ?? false }, (t) => crashRounds(t, 'postgres'));
});
