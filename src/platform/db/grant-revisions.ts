import { sql, type Kysely } from 'kysely';
import type { Db, DbKind } from './schema.ts';
import { StoreTimeoutError } from './db-errors.ts';

/**
 * The tables whose rows decide whether a certificate is granted, and how a row names its account: its
 * own `account_id`, or through its application (or its CA's application). Anything cached from these
 * tables is valid only at the revision of that account it was read at.
 */
const GRANT_TABLES: Record<string, 'account' | 'app' | 'ca'> = {
  access_apps: 'account',
  identity_providers: 'account',
  access_policies: 'account',
  access_groups: 'account',
  access_app_policies: 'app',
  ssh_cas: 'app',
  ssh_ca_keys: 'ca',
  ssh_cert_policies: 'app',
  ssh_revoked_keys: 'app',
};

/** How a row names its account: its own `account_id`, through its application, or through its CA's application. */
export type AccountVia = 'account' | 'app' | 'ca';

/** A per-account counter bumped by triggers: its table, the names its triggers take, and the tables it watches. */
export interface RevisionCounter {
  table: string;
  /** Trigger names start with this (SQLite: `<prefix>_<table>_<op>`; PostgreSQL: `<prefix>_<table>`). */
  triggerPrefix: string;
  /** PostgreSQL's trigger function. */
  functionName: string;
  tables: Record<string, AccountVia>;
}

const GRANTS: RevisionCounter = {
  table: 'grant_revisions', triggerPrefix: 'grant_revision', functionName: 'access_ca_bump_grant_revision', tables: GRANT_TABLES,
};

function accountOf(row: 'NEW' | 'OLD', via: AccountVia): string {
  if (via === 'account') return `${row}.account_id`;
  if (via === 'app') return `(SELECT account_id FROM access_apps WHERE id = ${row}.app_id)`;
  return `(SELECT a.account_id FROM ssh_cas c JOIN access_apps a ON a.id = c.app_id WHERE c.id = ${row}.ca_id)`;
}

/**
 * SQLite: one trigger per table and operation. A row whose application is already gone (a cascade from
 * the app's own delete) bumps nothing: the app's delete bumped its account in the same transaction. No
 * conflict clause inside: an outer statement's (an upsert's) would override it.
 */
function sqliteTriggers(counter: RevisionCounter): string[] {
  const statements: string[] = [];
  for (const [table, via] of Object.entries(counter.tables)) {
    for (const op of ['INSERT', 'UPDATE', 'DELETE'] as const) {
      const account = accountOf(op === 'DELETE' ? 'OLD' : 'NEW', via);
      statements.push(`CREATE TRIGGER ${counter.triggerPrefix}_${table}_${op.toLowerCase()} AFTER ${op} ON ${table} BEGIN
  INSERT INTO ${counter.table} (account_id, revision) SELECT x, 0 FROM (SELECT ${account} AS x)
    WHERE x IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${counter.table} WHERE account_id = x);
  UPDATE ${counter.table} SET revision = revision + 1 WHERE account_id = ${account};
END`);
    }
  }
  return statements;
}

/** PostgreSQL: one function reads the row as JSON and finds its account the same three ways. */
function postgresTriggers(counter: RevisionCounter): string[] {
  const fn = `CREATE FUNCTION ${counter.functionName}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  acct text := r->>'account_id';
BEGIN
  IF acct IS NULL AND r ? 'app_id' THEN
    SELECT account_id INTO acct FROM access_apps WHERE id = r->>'app_id';
  ELSIF acct IS NULL AND r ? 'ca_id' THEN
    SELECT a.account_id INTO acct FROM ssh_cas c JOIN access_apps a ON a.id = c.app_id WHERE c.id = r->>'ca_id';
  END IF;
  IF acct IS NOT NULL THEN
    INSERT INTO ${counter.table} (account_id, revision) VALUES (acct, 1)
      ON CONFLICT (account_id) DO UPDATE SET revision = ${counter.table}.revision + 1;
  END IF;
  RETURN NULL;
END $$`;
  return [fn, ...Object.keys(counter.tables).map((table) =>
    `CREATE TRIGGER ${counter.triggerPrefix}_${table} AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${counter.functionName}()`)];
}

/**
 * A counter's table and its triggers: bumped in the same transaction as any change to a watched table,
 * whichever node, CLI verb or import made it. Triggers rather than code, so that no write path can forget.
 */
export async function createRevisionCounter(db: Kysely<any>, kind: DbKind, counter: RevisionCounter): Promise<void> {
  await db.schema.createTable(counter.table)
    .addColumn('account_id', 'text', (c) => c.primaryKey())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .execute();
  for (const statement of kind === 'postgres' ? postgresTriggers(counter) : sqliteTriggers(counter)) await sql.raw(statement).execute(db);
}

/**
 * Triggers for tables a later migration adds to a counter that exists already (PostgreSQL's function reads
 * any row, so only the triggers are new).
 */
export async function watchTables(db: Kysely<any>, kind: DbKind, counter: RevisionCounter, tables: Record<string, AccountVia>): Promise<void> {
  const more: RevisionCounter = { ...counter, tables };
  const statements = kind === 'postgres' ? postgresTriggers(more).slice(1) : sqliteTriggers(more);
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/**
 * What grants a certificate that migrations after 0006 added: revocations that block (a person's sign-ins
 * before a time, an application's tokens, a principal), migration 0010.
 */
export async function watchWithdrawals(db: Kysely<any>, kind: DbKind): Promise<void> {
  await watchTables(db, kind, GRANTS, { ssh_revocations: 'account' });
}

/** Migration 0014: the gateway CA's keys sign certificates, so a change to them moves what is granted. */
export async function watchGatewayCa(db: Kysely<any>, kind: DbKind): Promise<void> {
  await watchTables(db, kind, GRANTS, { gateway_cas: 'account', gateway_ca_keys: 'account' });
}

/** Migration 0006: the grant revision, bumped with every change to what grants a certificate. */
export async function createGrantRevisions(db: Kysely<any>, kind: DbKind): Promise<void> {
  await createRevisionCounter(db, kind, GRANTS);
}

/** The counters a reader can read: what grants a certificate, and what a host enforces (migration 0009). */
export type RevisionTable = 'grant_revisions' | 'fleet_revisions';

/** Reads an account's grant revision: one primary-key lookup, made once per request that uses a cache. */
export interface GrantRevisionReader {
  current(accountId: string): Promise<number>;
}

/** How long one revision read may take before its requests are answered 503 (a primary-key lookup). */
export const REVISION_READ_BOUND_MS = 10_000;

/** Each asked account's revision (an account with none yet is at 0). */
export type FetchRevisions = (accountIds: string[]) => Promise<Map<string, number>>;

/** Through the query builder, in bounded statements (a turn can hold many accounts' requests). */
function queryFetch(db: Db, table: RevisionTable): FetchRevisions {
  return async (ids) => {
    const found = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await db.selectFrom(table).select(['account_id', 'revision']).where('account_id', 'in', ids.slice(i, i + 500)).execute();
      for (const r of rows) found.set(r.account_id, Number(r.revision));
    }
    return found;
  };
}

/**
 * Reads share fetches, as commits share a group commit: at most one fetch is under way, and everything
 * asked meanwhile waits for the next, made at the end of the turn in which the last one answered. A fetch
 * already under way is never shared, as it may have started before the request arrived: each read still
 * sees every change acknowledged before its request arrived. Under load this is one read (PostgreSQL: one
 * round trip) per round trip, not one per request. A fetch that has not answered within `boundMs` fails
 * its reads (their requests are answered 503), and the next starts: a connection that went silent must
 * not hold every later read behind it. Its late answer is dropped.
 */
export function coalescing(fetch: FetchRevisions, boundMs = REVISION_READ_BOUND_MS): GrantRevisionReader {
  let asked = new Map<string, { resolve: (revision: number) => void; reject: (error: unknown) => void }[]>();
  let reading = false;
  let scheduled = false;

  function schedule(): void {
    if (reading || scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void read();
    });
  }

  async function read(): Promise<void> {
    const batch = asked;
    asked = new Map();
    reading = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreTimeoutError(`the store did not answer a revision read within ${boundMs} ms`)), boundMs);
    });
    try {
      const found = await Promise.race([(async () => fetch([...batch.keys()]))(), late]);
      for (const [accountId, waiters] of batch) for (const w of waiters) w.resolve(found.get(accountId) ?? 0);
    } catch (error) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
    } finally {
      clearTimeout(timer);
      reading = false;
      if (asked.size > 0) schedule();
    }
  }

  return {
    current(accountId) {
      return new Promise((resolve, reject) => {
        const waiters = asked.get(accountId);
        if (waiters) waiters.push({ resolve, reject });
        else asked.set(accountId, [{ resolve, reject }]);
        schedule();
      });
    },
  };
}

/** Through the query builder: PostgreSQL, and any store given only as a `Db`. */
export function createGrantRevisionReader(db: Db, table: RevisionTable = 'grant_revisions'): GrantRevisionReader {
  return coalescing(queryFetch(db, table));
}

/**
 * SQLite: one statement prepared once on the store's own connection, per account asked in the turn. The
 * read is made for every cached request, and each commit of the writer thread empties this connection's
 * page cache, so the first read after one costs ~20 µs: one read per turn, not per request. While the
 * connection is inside a transaction (another request's, between its awaits) the statement would see that
 * transaction's uncommitted bump — and a rollback would then reuse the number for different data — so
 * then it goes through the query builder, which waits for the transaction to end.
 */
export function createSqliteGrantRevisionReader(
  connection: { prepare(sql: string): { get(...params: unknown[]): unknown }; readonly inTransaction: boolean },
  db: Db,
  table: RevisionTable = 'grant_revisions',
): GrantRevisionReader {
  const statement = connection.prepare(`SELECT revision FROM ${table} WHERE account_id = ?`);
  return coalescing(async (ids) => {
    const inTransaction = connection.inTransaction;
    const found = new Map<string, number>();
    for (const id of ids) {
      // Through the query builder one account at a time: one statement text, whatever the turn's size.
      const row = inTransaction
        ? await db.selectFrom(table).select('revision').where('account_id', '=', id).executeTakeFirst()
        : statement.get(id) as { revision: number | bigint } | undefined;
      if (row) found.set(id, Number(row.revision));
    }
    return found;
  });
}
