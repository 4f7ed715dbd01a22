import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, Migrator, TransactionBuilder, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type SqliteDatabase, type TransactionSettings } from 'kysely';
import { migrationProvider } from './migrations.ts';
import { lruMemo } from '../lru-memo.ts';
import type { Database, Db, DbKind } from './schema.ts';
import { createSqliteAppendWriter, type AppendWriter } from './sqlite-append-writer.ts';
import { createWriteLock, type WriteLock } from './sqlite-write-lock.ts';
import { createGrantRevisionReader, createSqliteGrantRevisionReader, type GrantRevisionReader, type RevisionTable } from './grant-revisions.ts';
import { isRetryableConflict, isStoreTimeout, StoreTimeoutError } from './db-errors.ts';
import { OperatorError } from '../operator-error.ts';

/** An open store: the query builder, which engine it runs on, and how to close it. */
export interface OpenDatabase {
  db: Db;
  kind: DbKind;
  /** Where it lives, without any password: safe to print. */
  describe: string;
  /**
   * Runs start-up work (migrations, the first account) so that concurrent starts of several nodes are
   * safe: under a PostgreSQL advisory lock, or for SQLite retried while another process holds the file.
   */
  withStartupLock<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /**
   * SQLite only: where the hot path's append-only rows are committed off the main thread (see
   * sqlite-append-writer.ts). PostgreSQL's driver never holds the event loop, so it needs none.
   */
  appendWriter?: AppendWriter;
  /** Each account's grant revision (or another per-account counter), read the fastest way the engine allows (grant-revisions.ts). */
  grantRevisions(table?: RevisionTable): GrantRevisionReader;
  close(): Promise<void>;
}

const STARTUP_LOCK = 0x61636361; // "acca": one lock id for every access-ca start-up step

const isBusy = (e: unknown) => /^SQLITE_BUSY/.test(String((e as { code?: unknown })?.code ?? ''));

async function retryWhileBusy<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      // A deferred transaction that lost the race for the write lock fails at once (SQLITE_BUSY_SNAPSHOT).
      if (!isBusy(error) || attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
    }
  }
}

export type DatabaseLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Reads a `--database-url`: a SQLite path, a `sqlite:` URL, or a `postgres://` URL. */
export function parseDatabaseUrl(value: string, cwd = process.cwd()): DatabaseLocation {
  if (/^postgres(ql)?:\/\//i.test(value)) return { kind: 'postgres', url: value };
  if (/^sqlite:/i.test(value)) {
    const rest = value.replace(/^sqlite:(\/\/)?/i, '');
    if (rest === '') throw new Error('a sqlite: URL needs a file path, e.g. sqlite:./data/access-ca.db');
    return { kind: 'sqlite', path: resolve(cwd, rest) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new Error(`unsupported database URL scheme in ${value.split(':')[0]}:… (use a file path, sqlite: or postgres://)`);
  }
  return { kind: 'sqlite', path: resolve(cwd, value) };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/**
 * The main thread's SQLite driver: its one connection is used only while this process's write lock is
 * held (sqlite-write-lock.ts), so it never waits on SQLite's busy handler for the writer thread; and its
 * transactions begin IMMEDIATE, taking SQLite's write lock at once, so a transaction that reads and then
 * writes cannot fail (SQLITE_BUSY_SNAPSHOT) because another process committed in between. A transaction
 * that asks to be read only (an export) begins DEFERRED: it must then not write.
 */
class LockedSqliteDialect extends SqliteDialect {
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0], private readonly lock: WriteLock) {
    super(config);
  }

  override createDriver() {
    const driver = super.createDriver() as SqliteDriver;
    const acquire = driver.acquireConnection.bind(driver);
    const release = driver.releaseConnection.bind(driver);
    driver.acquireConnection = async () => {
      const connection = await acquire();
      await this.lock.acquire();
      return connection;
    };
    driver.releaseConnection = async () => {
      this.lock.release();
      await release();
    };
    // A writing transaction takes the write lock at once (no lock upgrade to deadlock on). One that asks
    // to be read only (an export) begins deferred: a snapshot from its first read, taking no write lock,
    // so servers writing the same file are never held up by it (WAL: readers do not block writers).
    driver.beginTransaction = async (connection: DatabaseConnection, settings?: TransactionSettings) => {
      await connection.executeQuery(CompiledQuery.raw(settings?.accessMode === 'read only' ? 'begin deferred' : 'begin immediate'));
    };
    return driver;
  }
}

/**
 * The connection as Kysely sees it, with its prepared statements kept by their SQL text: Kysely's SQLite
 * driver prepares every query it runs, and preparing cost as much as running the query (half of a token
 * lookup). Only statements of a fixed shape are kept (at most 32 parameters): an IN list's length can
 * follow a client's input, and each length would be another statement, taking memory and pushing out
 * everyone else's. Bounded, least recently used out; SQLite prepares a kept statement again by itself
 * after a schema change. Kysely holds its one connection for the whole of a query, so a kept statement
 * is never in use twice at once.
 */
function keepingStatements(sqlite: SQLite.Database): SqliteDatabase {
  const kept = lruMemo((text: string) => sqlite.prepare(text), { maxEntries: 500, maxInputLength: 4_096 });
  const fixedShape = (text: string) => text.length <= 4_096 && text.split('?').length - 1 <= 32;
  return { prepare: (text) => (fixedShape(text) ? kept(text) : sqlite.prepare(text)), close: () => sqlite.close() };
}

function openSqlite(path: string): OpenDatabase {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Made 0600 before SQLite opens it: the WAL and shm files take the database file's mode.
  closeSync(openSync(path, 'a', 0o600));
  const sqlite = new SQLite(path);
  // WAL with synchronous=FULL: a commit is on disk before the answer that acknowledges it.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const lock = createWriteLock();
  const db = new Kysely<Database>({ dialect: new LockedSqliteDialect({ database: keepingStatements(sqlite) }, lock) });
  const appendWriter = createSqliteAppendWriter(path, lock.buffer);
  const close = async () => {
    await appendWriter.close();
    await db.destroy();
  };
  // Prepared on first use: the table exists only once migrations have run.
  const grantRevisions = (table?: RevisionTable) => createSqliteGrantRevisionReader(sqlite, db, table);
  return { db, kind: 'sqlite', describe: path, withStartupLock: (work) => retryWhileBusy(() => work(db)), appendWriter, grantRevisions, close };
}

/**
 * Bounds on every PostgreSQL connection: a server that does not answer a connect is given up on; TCP
 * keepalives find a peer that vanished; a query not answered in time ends its connection (a peer cut off
 * without a reset never answers, and TCP alone would wait many minutes); and a session
 * left idle inside a transaction (a node frozen or cut off between two statements) is ended by the server,
 * so the row and advisory locks it holds — host claims take one for every node — do not stop every node.
 */
export interface PostgresBounds {
  connectMs: number;
  /** Below the HTTP request timeout (30 s), so that a request cut off from the store still gets its 503; 10 s when left out. */
  queryMs?: number;
  idleInTransactionMs: number;
}

export const POSTGRES_BOUNDS: PostgresBounds = { connectMs: 10_000, queryMs: 10_000, idleInTransactionMs: 60_000 };

/** Times a transaction is run when PostgreSQL ends it for a serialization failure or a deadlock (then 503). */
export const CONFLICT_ATTEMPTS = 3;

/** A transaction builder whose `execute` runs the whole transaction again after a retryable conflict. */
function retryingConflicts<T extends object>(builder: T): T {
  return new Proxy(builder, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'execute' && typeof value === 'function') {
        return async (work: unknown) => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await (value as (w: unknown) => Promise<unknown>).call(target, work);
            } catch (error) {
              if (!isRetryableConflict(error) || attempt >= CONFLICT_ATTEMPTS) throw error;
              // The other transaction is finishing: a short, jittered pause, longer each time.
              await new Promise((r) => setTimeout(r, attempt * (5 + Math.random() * 20)));
            }
          }
        };
      }
      // setIsolationLevel and the like return a new builder: it retries too.
      if (typeof value === 'function') {
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result instanceof TransactionBuilder ? retryingConflicts(result) : result;
        };
      }
      return value;
    },
  });
}

/**
 * PostgreSQL's query builder: every transaction is retried, as a whole, a bounded number of times when
 * the server aborts it for a serialization failure (40001) or a deadlock (40P01); the work inside is the
 * same again, and what it did the first time was rolled back.
 */
class ConflictRetryingKysely extends Kysely<Database> {
  override transaction(): TransactionBuilder<Database> {
    return retryingConflicts(super.transaction());
  }
}

function openPostgres(url: string, bounds: PostgresBounds): OpenDatabase {
  // The connect bound is the client's own (it ends the socket and fails the connect), not pg-pool's
  // connectionTimeoutMillis, whose timer is known to leave a checkout hanging and a late connection leaked
  // under load (brianc/node-postgres#3197, #3543, PR #3721). A wait for a free connection is not bounded
  // here; the grant-revision read is (grant-revisions.ts).
  //
  // A query (the promise form, which Kysely uses) not answered within queryMs fails with StoreTimeoutError
  // and destroys its connection: what follows it on that connection fails at once, and the pool drops it.
  // pg's own query_timeout would leave the connection in the pool with the silent query still in front of
  // every later one. Start-up work under the lock (migrations may be long) is not bounded.
  let unbounded = 0;
  const queryMs = bounds.queryMs ?? POSTGRES_BOUNDS.queryMs!;
  class BoundedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: bounds.connectMs });
    }

    override query(...args: unknown[]): never {
      const result = (super.query as (...a: unknown[]) => unknown).apply(this, args);
      if (unbounded > 0 || !(result instanceof Promise)) return result as never;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new StoreTimeoutError(`PostgreSQL did not answer a query within ${queryMs} ms`));
          this.connection.stream.destroy();
        }, queryMs);
      });
      // Its own failure, once the connection is destroyed, is already answered by the timeout's.
      result.catch(() => {});
      return Promise.race([result, late]).finally(() => clearTimeout(timer)) as never;
    }
  }
  const pool = new pg.Pool({
    connectionString: url, max: 10, keepAlive: true, keepAliveInitialDelayMillis: 30_000, Client: BoundedClient,
    // On the session, not as a startup parameter (which a pooler such as PgBouncer refuses), before the
    // client is handed out; if it fails, so does the connect.
    onConnect: async (client) => {
      await client.query(`set idle_in_transaction_session_timeout = ${Math.floor(bounds.idleInTransactionMs)}`);
    },
  });
  // A client whose connection drops (a restart, a failover, an administrator, the idle-in-transaction
  // bound) must not end the process with an unheard 'error' event: an idle one is the pool's to hear, one
  // checked out between two statements its own. Its transaction then fails, and the pool drops it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new ConflictRetryingKysely({ dialect: new PostgresDialect({ pool }) });
  const withStartupLock = <T>(work: (db: Db) => Promise<T>) =>
    db.connection().execute(async (conn) => {
      unbounded++;
      try {
        await sql`select pg_advisory_lock(${STARTUP_LOCK})`.execute(conn);
        try {
          return await work(conn);
        } finally {
          await sql`select pg_advisory_unlock(${STARTUP_LOCK})`.execute(conn);
        }
      } finally {
        unbounded--;
      }
    });
  return { db, kind: 'postgres', describe: redact(url), withStartupLock, grantRevisions: (table?: RevisionTable) => createGrantRevisionReader(db, table), close: () => db.destroy() };
}

/** The store could not be opened; the message says where and why, without any password. */
export class DatabaseOpenError extends OperatorError {
  override name = 'DatabaseOpenError';
}

/** Opens the store and runs pending migrations. */
export async function openDatabase(location: DatabaseLocation, options: { postgres?: PostgresBounds } = {}): Promise<OpenDatabase> {
  const opened = location.kind === 'sqlite' ? openSqlite(location.path) : openPostgres(location.url, options.postgres ?? POSTGRES_BOUNDS);
  try {
    await migrate(opened);
    return opened;
  } catch (error) {
    await opened.close();
    const code = String((error as { code?: unknown })?.code ?? '');
    // Connection and authentication failures are the operator's to fix; anything else is a fault.
    if (/^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|28P01|28000|3D000)$/.test(code) || isStoreTimeout(error)) {
      throw new DatabaseOpenError(`cannot open the store at ${opened.describe}: ${(error as Error).message}`);
    }
    throw error;
  }
}

/** Applies every pending migration; fails with the migration's own error. */
export async function migrate(opened: OpenDatabase): Promise<string[]> {
  return opened.withStartupLock(async (db) => {
    // Migrations are numbered by when they were planned, and capabilities land in another order: a store
    // that ran a later number first still takes an earlier one that arrives after it. Each is independent
    // of the numbers beside it, and each runs once (Kysely records it by name).
    const migrator = new Migrator({ db, provider: migrationProvider(opened.kind), allowUnorderedMigrations: true });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  });
}
