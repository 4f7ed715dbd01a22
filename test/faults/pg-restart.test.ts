/**
 * PostgreSQL restarted under load: a real `serve` on a private cluster keeps taking certificate requests
 * (cloudflared's cert_sign) and admin calls (raw v4 and the official SDK v7 with its default retries)
 * while the cluster is stopped and started again. No answer is a 500; every failure is the contract's 503
 * with retry-after; the SDK's calls all get through by its own retries; every acknowledged certificate,
 * application and CA is in the store afterwards; and the same server process serves again by itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import { sharedMasterKey } from '../helpers/deployment.ts';
import { privatePostgresUnavailable, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { faults, figures, firstSuccessAfter, inventoryCheck, newTally, outageLog, signJudged, startSigningNode, steadyLoad, until, v4Judged } from '../helpers/fault-load.ts';
import { openDatabase } from '../../src/platform/db/database.ts';

const skip = privatePostgresUnavailable();

/** Clients signing through cert_sign, and clients driving the admin API through the SDK. */
const SIGNERS = 4;
const SDK_CLIENTS = 2;
/** Load before the stop, and how long the cluster stays down (a restart by an operator or a package upgrade). */
const WARM_MS = 1_500;
const DOWN_MS = 2_000;
/** Load kept up after the first success, to see that the node stays recovered. */
const AFTER_MS = 1_500;

describe('PostgreSQL restarted under load', () => {
  it('no 500, every failure a 503 with retry-after, the SDK gets through, nothing acknowledged is lost, the node recovers by itself', { timeout: 180_000, skip: skip ?? false }, async (t) => {
    const cluster = await startPrivatePostgres((fn) => t.after(fn));
    const env = { ACCESS_CA_DATABASE_URL: cluster.url, ACCESS_CA_MASTER_KEY_FILE: sharedMasterKey() };
    const { server, signing, appId, aud } = await startSigningNode((fn) => t.after(fn), { env });
    const { accountId, token, base } = server;

    // cloudflared's signing, and raw v4 reads whose 503 must be the envelope.
    const signs = newTally();
    const reads = newTally();
    const acknowledged = new Map<string, string>();
    const jwts = await Promise.all(Array.from({ length: SIGNERS }, () => signing.jwtFor(aud)));
    const signers = steadyLoad(SIGNERS, (i) => signJudged(server.origin, jwts[i]!, signs, acknowledged));
    const readers = steadyLoad(1, async () => (await v4Judged(base, token, 'GET', `/accounts/${accountId}/access/apps/${appId}/ca`, reads))?.success === true);

    // The SDK, as shipped: default retries (2), which honour retry-after. Its HTTP answers are counted beneath it.
    const sdkAnswers = { total: 0, s503: 0, s500: 0 };
    const countingFetch = async (input: any, init?: any) => {
      const res = await fetch(input, init);
      sdkAnswers.total++;
      if (res.status === 503) sdkAnswers.s503++;
      if (res.status === 500) sdkAnswers.s500++;
      return res;
    };
    const sdk = new Cloudflare({ apiToken: token, apiEmail: null, apiKey: null, baseURL: base, fetch: countingFetch } as never);
    const sdkErrors: string[] = [];
    /** Applications the SDK made, with the CA it made for each. */
    const sdkCas = new Map<string, string>();
    let sdkCalls = 0;
    const sdkLoad = steadyLoad(SDK_CLIENTS, async (i) => {
      try {
        const n = sdkCalls;
        sdkCalls += 4;
        const made = await sdk.zeroTrust.access.applications.create({ account_id: accountId, name: `sdk ${i}-${n}`, domain: `sdk-${i}-${n}.example.com`, type: 'self_hosted' } as never);
        const ca = await sdk.zeroTrust.access.applications.cas.create(made.id!, { account_id: accountId });
        sdkCas.set(made.id!, ca.id!);
        const got = await sdk.zeroTrust.access.applications.cas.get(made.id!, { account_id: accountId });
        assert.equal(got.id, ca.id);
        await sdk.zeroTrust.access.applications.list({ account_id: accountId, per_page: 5 } as never);
        return true;
      } catch (error) {
        sdkErrors.push(String(error));
        return false;
      }
    });
    t.after(() => Promise.all([signers.stop(), readers.stop(), sdkLoad.stop()]));

    await new Promise((r) => setTimeout(r, WARM_MS));
    const stoppedAt = Date.now();
    await cluster.stop('fast');
    await new Promise((r) => setTimeout(r, DOWN_MS));
    await cluster.start();
    const backAt = Date.now();
    // Until the node answers 200 again: a bound only on how long the test waits, not asserted as a time.
    await until(() => firstSuccessAfter(backAt, signs) !== null);
    const recoveredMs = firstSuccessAfter(backAt, signs);
    await new Promise((r) => setTimeout(r, AFTER_MS));
    await Promise.all([signers.stop(), readers.stop(), sdkLoad.stop()]);
    const sawOutage = signs.timeline.some((a) => !a.ok && a.at >= stoppedAt);

    t.diagnostic(figures('cert_sign', signs));
    t.diagnostic(figures('v4 reads', reads));
    t.diagnostic(`SDK v7: ${sdkCalls / 4} rounds of 4 calls (create app, create CA, get CA, list apps), ${sdkErrors.length} surfaced an error; beneath it ${sdkAnswers.total} HTTP answers, ${sdkAnswers.s503} of them 503 (retried), ${sdkAnswers.s500} 500`);
    const firstFailure = signs.timeline.find((a) => !a.ok && a.at >= stoppedAt)?.at ?? stoppedAt;
    t.diagnostic(`PostgreSQL down ${backAt - stoppedAt} ms (stop -m fast, ${DOWN_MS} ms gap, start); first certificate ${recoveredMs} ms after it was back, ` +
      `${backAt + (recoveredMs ?? 0) - firstFailure} ms after the first refusal`);
    const log = outageLog(server.stdout());
    t.diagnostic(log.line);

    assert.ok(sawOutage, 'the load met the outage');
    assert.equal(faults(signs), 0, `cert_sign: only 200 or the contract's 503: ${signs.wrong.join('; ')}`);
    assert.equal(faults(reads), 0, `v4 reads: only 200 or the envelope's 503: ${reads.wrong.join('; ')}`);
    assert.ok(signs.unavailable > 0, 'cert_sign met 503s during the outage');
    assert.deepEqual(sdkErrors, [], 'every SDK call got through by its own retries');
    assert.ok(sdkAnswers.s503 > 0, 'the SDK met 503s and retried them');
    assert.equal(sdkAnswers.s500, 0);
    assert.notEqual(recoveredMs, null, 'the node signed again after PostgreSQL came back');
    assert.equal(server.child.exitCode, null, 'the same server process served throughout');
    assert.deepEqual(log.repeated, [], 'one error line per class of failure in an outage, not one per request');

    const store = await openDatabase({ kind: 'postgres', url: cluster.url });
    try {
      const inventory = await inventoryCheck(store.db, appId, acknowledged);
      t.diagnostic(`inventory: ${acknowledged.size} acknowledged certificates, ${inventory.stored} stored, missing ${inventory.missing}, written by halves ${inventory.halves}`);
      assert.equal(inventory.missing, 0, 'every acknowledged certificate is in the inventory');
      assert.equal(inventory.halves, 0, 'each certificate and its audit event committed together');
      const cas = await store.db.selectFrom('ssh_cas').select(['id', 'app_id']).execute();
      const caOf = new Map(cas.map((c) => [c.app_id, c.id]));
      const lost = [...sdkCas].filter(([made, ca]) => caOf.get(made) !== ca);
      t.diagnostic(`SDK: ${sdkCas.size} applications and CAs acknowledged, missing ${lost.length}`);
      assert.deepEqual(lost, [], 'every acknowledged application and CA is in the store');
    } finally {
      await store.close();
    }
    assert.doesNotMatch(server.stdout(), /unexpected fault/, 'no request was logged as an unexpected fault');
  });
});
