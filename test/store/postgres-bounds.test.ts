import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { DatabaseOpenError, openDatabase, type OpenDatabase } from '../../src/platform/db/database.ts';
import { takeHostTurn } from '../../src/identity/host-delegation.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';

const unavailable = await postgresUnavailable();

describe('PostgreSQL connections are bounded', { skip: unavailable ?? false }, () => {
  let pg: TestDatabase;
  let frozen: OpenDatabase;
  let other: OpenDatabase;
  before(async () => {
    pg = await postgresTestDatabase();
    // Two nodes on one database; the first freezes between two statements of a transaction.
    frozen = await openDatabase({ kind: 'postgres', url: pg.url }, { postgres: { connectMs: 10_000, idleInTransactionMs: 400 } });
    other = await openDatabase({ kind: 'postgres', url: pg.url });
  });
  after(async () => {
    await frozen.close();
    await other.close();
    await pg.drop();
  });

  it('a transaction PostgreSQL aborts for a deadlock is run again as a whole, and both writers get through', async () => {
    await sql`create table deadlock_probe (id int primary key, v int not null)`.execute(other.db);
    await sql`insert into deadlock_probe values (1, 0), (2, 0)`.execute(other.db);
    let runs = 0;
    const meet = () => {
      let arrive!: () => void;
      const all = new Promise<void>((r) => (arrive = r));
      let count = 0;
      return async () => { if (++count === 2) arrive(); await all; };
    };
    const bothHoldOne = meet();
    // Each takes one row, waits for the other to take its own, then wants the other's: PostgreSQL ends one.
    const writer = (db: OpenDatabase, first: number, second: number) => db.db.transaction().execute(async (trx) => {
      const run = ++runs;
      await sql`update deadlock_probe set v = v + 1 where id = ${first}`.execute(trx);
      if (run <= 2) await bothHoldOne();
      await sql`update deadlock_probe set v = v + 1 where id = ${second}`.execute(trx);
    });
    await Promise.all([writer(other, 1, 2), writer(frozen, 2, 1)]);
    assert.equal(runs, 3, 'one of the two ran again');
    const rows = await sql<{ v: number }>`select v from deadlock_probe order by id`.execute(other.db);
    assert.deepEqual(rows.rows.map((r) => r.v), [2, 2], 'both committed once');
  });

  it('a node frozen inside a transaction loses its session: the host-claim lock it held is free for the other nodes again', async () => {
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const stuck = frozen.db.transaction().execute(async (trx) => {
      await takeHostTurn(trx);
      held();
      // Frozen (a stopped process, a cut network) past the bound, then wakes up and goes on.
      await new Promise((r) => setTimeout(r, 1_500));
      await sql`select 1`.execute(trx);
    });
    await holding;
    const started = Date.now();
    await other.db.transaction().execute(async (trx) => takeHostTurn(trx));
    const waited = Date.now() - started;
    assert.ok(waited < 1_400, `the other node takes the lock once the frozen session is ended, not when it wakes (${waited} ms)`);
    await assert.rejects(stuck, 'the frozen transaction is not committed when it wakes');
    // The pool let the ended connection go: the frozen node's next statements work.
    assert.deepEqual((await sql<{ n: number }>`select 1 as n`.execute(frozen.db)).rows, [{ n: 1 }]);
  });

  it('a server that never answers a connect is given up on within the bound', async () => {
    // A listening socket that accepts and then says nothing, as a half-dead server or a black hole would.
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    try {
      await assert.rejects(openDatabase({ kind: 'postgres', url: `postgres://nobody@127.0.0.1:${port}/none` }, { postgres: { connectMs: 500, idleInTransactionMs: 60_000 } }), DatabaseOpenError);
      assert.ok(Date.now() - started < 5_000, `given up after ${Date.now() - started} ms`);
    } finally {
      silent.close();
    }
  });
});
