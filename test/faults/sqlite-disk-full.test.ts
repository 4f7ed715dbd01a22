/**
 * SQLite's disk full: a real `serve` keeps its data directory on a small tmpfs that the test fills while
 * certificates are being signed. Writes are answered with the contract's 503 and retry-after (never a 500),
 * /readyz turns 503 naming store_writes, reads keep being served; once space is freed, the same server
 * process signs again; the file passes `PRAGMA integrity_check`, every acknowledged certificate is in it,
 * and no certificate is there without its audit event (nor the other way round).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { NO_ANSWER_MS, faults, figures, firstSuccessAfter, inventoryCheck, newTally, outageLog, signJudged, startSigningNode, steadyLoad, until, v4Judged } from '../helpers/fault-load.ts';
import { openDatabase } from '../../src/platform/db/database.ts';

const SIGNERS = 4;
/** The tmpfs: room for the store and a little growth, so that the filler, not the load, fills it. */
const TMPFS_SIZE = '32m';
const WARM_MS = 1_000;
/** How long the disk stays full once writes are refused. */
const FULL_MS = 2_000;

/** Writes `path` until the file system has no room left; the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    // Big chunks first, then small ones for the last pages.
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('SQLite disk full', () => {
  it('writes are 503 with retry-after, reads go on, /readyz says store_writes; signing resumes when space is freed; nothing half-written or lost', { timeout: 180_000 }, async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs for the store needs root');
    const mountPoint = mkdtempSync(join(tmpdir(), 'access-ca-full-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      rmdirSync(mountPoint);
      return t.skip(`cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || '').trim()}); a root run that may mount runs it`);
    }
    // One hook, in this order: the load, the server, then the mount (a busy mount point cannot be unmounted).
    const cleanups: (() => Promise<void>)[] = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      // Lazily if a file is still open (it should not be): the mount must not outlive the test.
      if (spawnSync('umount', [mountPoint]).status !== 0) spawnSync('umount', ['-l', mountPoint]);
      rmdirSync(mountPoint);
    });

    const dataDir = join(mountPoint, 'data');
    const { server, signing, appId, aud } = await startSigningNode((fn) => cleanups.push(fn), { dataDir });
    const { accountId, token, base, origin } = server;

    const signs = newTally();
    const acknowledged = new Map<string, string>();
    const jwts = await Promise.all(Array.from({ length: SIGNERS }, () => signing.jwtFor(aud)));
    const signers = steadyLoad(SIGNERS, (i) => signJudged(origin, jwts[i]!, signs, acknowledged));
    /** Reads through the v4 API: the CA, and the certificates listed; counted apart while the disk is full. */
    const reads = newTally();
    const readsWhileFull = newTally();
    let full = false;
    const readers = steadyLoad(1, async () => {
      const tally = full ? readsWhileFull : reads;
      const ca = await v4Judged(base, token, 'GET', `/accounts/${accountId}/access/apps/${appId}/ca`, tally);
      const listed = await v4Judged(base, token, 'GET', `/accounts/${accountId}/access/apps/${appId}/ca/certificates?per_page=5`, tally);
      return ca?.success === true && listed?.success === true;
    });
    const stopLoad = async () => {
      await Promise.all([signers.stop(), readers.stop()]);
    };
    cleanups.push(stopLoad);

    await new Promise((r) => setTimeout(r, WARM_MS));
    const filler = join(mountPoint, 'filler');
    const filledAt = Date.now();
    const bytes = fill(filler);
    full = true;
    const refused = await until(() => signs.timeline.some((a) => !a.ok && a.at >= filledAt));
    const firstRefusal = signs.timeline.find((a) => !a.ok && a.at >= filledAt)?.at;
    const acknowledgedWhenFull = signs.timeline.filter((a) => a.ok && a.at >= filledAt && a.at <= (firstRefusal ?? 0)).length;
    assert.ok(refused, `signing was refused once the disk was full: ${figures('cert_sign', signs)}`);
    // The readiness probe follows the failed writes.
    // The readiness probe follows the failed writes. Its own write is one small update: while SQLite still
    // finds room for that (frames a refused commit left in the WAL), it commits, /readyz answers 200 and
    // the outage ends, to begin again at the next refused certificate. Counted, not hidden.
    let ready = { status: 0, failed: [] as string[] };
    let readyWhileFull = 0;
    for (let i = 0; i < 100 && ready.status !== 503; i++) {
      const r = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
      ready = { status: r.status, failed: ((await r.json()) as { failed: string[] }).failed };
      if (ready.status === 200) readyWhileFull++;
      if (ready.status !== 503) await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, FULL_MS));
    const probeWhileFull = await signing.certSign(server, aud);

    unlinkSync(filler);
    const freedAt = Date.now();
    full = false;
    const recovered = await until(() => firstSuccessAfter(freedAt, signs) !== null);
    const recoveredMs = firstSuccessAfter(freedAt, signs);
    await new Promise((r) => setTimeout(r, 1_000));
    await stopLoad();
    const readyAfter = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });

    t.diagnostic(figures('cert_sign', signs));
    t.diagnostic(figures('v4 reads before and after', reads));
    t.diagnostic(figures('v4 reads while full', readsWhileFull));
    t.diagnostic(`filler ${bytes} bytes; first refusal ${firstRefusal === undefined ? 'never' : `${firstRefusal - filledAt} ms`} after the disk was full ` +
      `(${acknowledgedWhenFull} certificates acknowledged in between, in space SQLite had already); /readyz ${ready.status} ${JSON.stringify(ready.failed)}; ` +
      `first certificate ${recoveredMs} ms after space was freed; /readyz then ${readyAfter.status}`);
    t.diagnostic(`/readyz answered 200 ${readyWhileFull} time(s) while the disk was full, before its write probe failed too`);
    const between = signs.timeline.filter((a) => a.at > (firstRefusal ?? freedAt) && a.at < freedAt);
    t.diagnostic(`while full, after the first refusal: ${between.filter((a) => a.ok).length} certificates acknowledged, ${between.filter((a) => !a.ok).length} refused`);
    const log = outageLog(server.stdout());
    t.diagnostic(log.line);

    assert.equal(faults(signs), 0, `cert_sign: only 200 or the contract's 503: ${signs.wrong.join('; ')}`);
    assert.ok(signs.unavailable > 0, 'signing met 503s while the disk was full');
    assert.equal(probeWhileFull.status, 503, `a signing request while full: ${JSON.stringify(probeWhileFull.body)}`);
    assert.equal(ready.status, 503, '/readyz turned 503 while the disk was full');
    assert.ok(ready.failed.includes('store_writes'), `/readyz named store_writes: ${JSON.stringify(ready.failed)}`);
    assert.equal(faults(reads) + faults(readsWhileFull), 0, `reads: ${reads.wrong.concat(readsWhileFull.wrong).join('; ')}`);
    assert.ok(readsWhileFull.ok > 0 && readsWhileFull.unavailable === 0, `reads were served while the disk was full: ${figures('reads', readsWhileFull)}`);
    assert.ok(recovered, 'signing resumed once space was freed');
    assert.equal(readyAfter.status, 200, '/readyz is 200 again');
    assert.equal(server.child.exitCode, null, 'the same server process served throughout');
    // One error line per outage, not per request: the outage is one, but for each time /readyz's probe committed.
    const ackedWhileFull = between.filter((a) => a.ok).length;
    assert.deepEqual(Object.keys(log.unavailable), ['disk_full']);
    assert.deepEqual(log.repeated, [], 'one error line per outage');
    assert.ok(log.outages <= 1 + readyWhileFull + ackedWhileFull, `${log.line}; at most 1 + ${readyWhileFull} ended by /readyz's probe + ${ackedWhileFull} by a certificate`);

    // Stopped as an operator would, then the file itself.
    assert.equal(await server.stop('SIGTERM'), 0);
    const path = join(dataDir, 'access-ca.db');
    const sqlite = new SQLite(path, { readonly: true });
    try {
      assert.deepEqual(sqlite.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    } finally {
      sqlite.close();
    }
    const store = await openDatabase({ kind: 'sqlite', path });
    try {
      const inventory = await inventoryCheck(store.db, appId, acknowledged);
      t.diagnostic(`inventory: ${acknowledged.size} acknowledged certificates, ${inventory.stored} stored, missing ${inventory.missing}, written by halves ${inventory.halves}; integrity_check ok`);
      assert.equal(inventory.missing, 0, 'every acknowledged certificate is in the store');
      assert.equal(inventory.halves, 0, 'each certificate and its audit event committed together');
    } finally {
      await store.close();
    }
  });
});
