// The SQLite append writer's thread (sqlite-append-writer.ts): its own connection to the store, so each
// commit's fsync stops this thread, not the one that answers requests and signs certificates.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { APPEND_TABLES, type AppendMessage, type AppendReply, type AppendRequest } from './sqlite-append-protocol.ts';
import { holdWriteLock } from './sqlite-write-lock.ts';

const port = parentPort as MessagePort;
const { path, lock } = workerData as { path: string; lock: SharedArrayBuffer };
const db = new SQLite(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');

const statements = new Map<string, SQLite.Statement>();
const COLUMN = /^[a-z_]{1,64}$/;

function insertFor(table: string, columns: string[]): SQLite.Statement {
  const key = `${table}(${columns.join(',')})`;
  let statement = statements.get(key);
  if (!statement) {
    // Table and column names are checked against what this writer is for; values are always bound.
    if (!APPEND_TABLES.includes(table) || !columns.every((c) => COLUMN.test(c))) throw new Error(`not an append row: ${key}`);
    statement = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    statements.set(key, statement);
  }
  return statement;
}

const writeAll = db.transaction((requests: AppendRequest[]) => {
  for (const request of requests) {
    for (const { table, row } of request.rows) {
      const columns = Object.keys(row);
      insertFor(table, columns).run(...columns.map((c) => row[c]));
    }
  }
});

const failure = (error: unknown) => ({ message: (error as Error).message, code: String((error as { code?: unknown }).code ?? '') });

/**
 * One message is one group commit: the main thread sends the next only once this one is answered, with
 * everything that arrived meanwhile. If the commit fails, each request is written alone, so one bad request
 * does not fail its neighbours.
 */
function flush(message: AppendMessage): void {
  const batch = JSON.parse(message) as AppendRequest[];
  const started = performance.now();
  const reply: AppendReply = { ids: [], failed: [], commit: { size: batch.length, seconds: 0 } };
  try {
    // The process's write lock, then SQLite's (IMMEDIATE) before anything is read: see sqlite-write-lock.ts.
    holdWriteLock(lock, () => writeAll.immediate(batch));
    reply.ids = batch.map((r) => r.id);
  } catch {
    for (const request of batch) {
      try {
        holdWriteLock(lock, () => writeAll.immediate([request]));
        reply.ids.push(request.id);
      } catch (error) {
        reply.failed.push({ id: request.id, error: failure(error) });
      }
    }
  }
  reply.commit.seconds = (performance.now() - started) / 1000;
  port.postMessage(reply);
}

port.on('message', (message: AppendMessage) => flush(message));
