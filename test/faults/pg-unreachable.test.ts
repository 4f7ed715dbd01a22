/**
 * PostgreSQL unreachable: a real `serve` reaches its database through a loopback TCP proxy that the test
 * cuts. Black-holed (connections accepted, nothing answered, existing ones frozen), every request still
 * gets an answer, the contract's 503 with retry-after, never a 500 and never a hang; refused (nothing
 * listens, existing connections closed), the same, at once. When the proxy forwards again, the same
 * server process signs again, and every certificate it acknowledged is in the store.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postgresTestDatabase, postgresUnavailable } from '../helpers/databases.ts';
import { sharedMasterKey } from '../helpers/deployment.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { NO_ANSWER_MS, faults, figures, firstSuccessAfter, inventoryCheck, newTally, outageLog, signJudged, startSigningNode, steadyLoad, until, v4Judged, type Tally } from '../helpers/fault-load.ts';

const pgSkip = await postgresUnavailable();

const SIGNERS = 3;
/** Requests sent at once into each cut, each awaited to its answer. */
const PROBES = 4;
/** The least time each cut lasts. */
const CUT_MS = 2_000;

describe('PostgreSQL unreachable behind a proxy that stops forwarding', () => {
  it('black-holed and refused: every request answered 503 with retry-after, none 500, none hangs; recovery when it forwards again', { timeout: 240_000, skip: pgSkip ?? false }, async (t) => {
    const pg = await postgresTestDatabase();
    t.after(() => pg.drop());
    const target = new URL(pg.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    t.after(() => proxy.close());
    const viaProxy = new URL(pg.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const env = { ACCESS_CA_DATABASE_URL: viaProxy.toString(), ACCESS_CA_MASTER_KEY_FILE: sharedMasterKey() };
    const { server, signing, appId, aud } = await startSigningNode((fn) => t.after(fn), { env });
    const { accountId, token, base } = server;
    const jwt = await signing.jwtFor(aud);

    // A steady load throughout, beside the probes below.
    const signs = newTally();
    const acknowledged = new Map<string, string>();
    const load = steadyLoad(SIGNERS, () => signJudged(server.origin, jwt, signs, acknowledged));
    t.after(() => load.stop());
    const readCa = (tally: Tally) => v4Judged(base, token, 'GET', `/accounts/${accountId}/access/apps/${appId}/ca`, tally);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(signs.ok > 0 && faults(signs) === 0 && signs.unavailable === 0, `signing works through the proxy: ${figures('cert_sign', signs)}`);

    const cut = async (mode: 'blackhole' | 'refuse') => {
      proxy[mode]();
      const cutAt = Date.now();
      // Fresh requests into the cut, each awaited to its answer (or NO_ANSWER_MS, which fails the test).
      const probes = newTally();
      const slowest = { ms: 0 };
      const timed = async (work: () => Promise<unknown>) => {
        const sent = Date.now();
        await work();
        slowest.ms = Math.max(slowest.ms, Date.now() - sent);
      };
      const ready = { status: 0, body: undefined as any };
      await Promise.all([
        ...Array.from({ length: PROBES }, () => timed(() => signJudged(server.origin, jwt, probes, new Map()))),
        ...Array.from({ length: PROBES }, () => timed(() => readCa(probes))),
        timed(async () => {
          const r = await fetch(`${server.origin}/readyz`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
          ready.status = r.status;
          ready.body = await r.json();
        }),
      ]);
      t.diagnostic(figures(`${mode}: probes`, probes) + `; the slowest answered after ${slowest.ms} ms; /readyz ${ready.status} ${JSON.stringify(ready.body?.failed)}`);
      assert.equal(faults(probes), 0, `${mode}: every probe answered 200 or the contract's 503: ${probes.wrong.join('; ')}`);
      assert.equal(probes.ok, 0, `${mode}: nothing needing the store succeeded while it was cut off`);
      assert.equal(ready.status, 503, `${mode}: /readyz tells the load balancer`);

      // Long enough for the steady load to meet the cut too.
      await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CUT_MS - Date.now())));
      await proxy.forward();
      const backAt = Date.now();
      await until(() => firstSuccessAfter(backAt, signs) !== null);
      const recoveredMs = firstSuccessAfter(backAt, signs);
      t.diagnostic(`${mode}: cut for ${backAt - cutAt} ms; first certificate ${recoveredMs} ms after the proxy forwarded again`);
      assert.notEqual(recoveredMs, null, `${mode}: the node signed again once the path was back`);
      const readyAgain = await fetch(`${server.origin}/readyz`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
      assert.equal(readyAgain.status, 200, `${mode}: ready again`);
    };

    await cut('blackhole');
    await cut('refuse');
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();

    t.diagnostic(figures('cert_sign under load', signs));
    const log = outageLog(server.stdout());
    t.diagnostic(log.line);
    assert.deepEqual(log.repeated, [], 'one error line per class of failure in an outage, not one per request');
    t.diagnostic(`proxy: ${proxy.counts().accepted} connections accepted, ${proxy.counts().held} of them held unanswered`);
    assert.equal(faults(signs), 0, `cert_sign: only 200 or the contract's 503: ${signs.wrong.join('; ')}`);
    assert.equal(server.child.exitCode, null, 'the same server process served throughout');

    const store = await pg.open();
    try {
      const inventory = await inventoryCheck(store.db, appId, acknowledged);
      t.diagnostic(`inventory: ${acknowledged.size} acknowledged certificates, ${inventory.stored} stored, missing ${inventory.missing}, written by halves ${inventory.halves}`);
      assert.equal(inventory.missing, 0, 'every acknowledged certificate is in the inventory');
      assert.equal(inventory.halves, 0, 'each certificate and its audit event committed together');
    } finally {
      await store.close();
    }
    assert.doesNotMatch(server.stdout(), /unexpected fault/, 'no request was logged as an unexpected fault');
  });
});

