import { Worker } from 'node:worker_threads';
import type { AppendReply, AppendRequest } from './sqlite-append-protocol.ts';

/** Writes append-only rows in one transaction each, resolving once they are committed. */
export interface AppendWriter {
  /** Starts the thread now rather than at the first insert (a server does, so no request waits for it). */
  start(): void;
  insert(rows: AppendRequest['rows']): Promise<void>;
  /** Told of every group commit: how many inserts shared it and how long it took (for the metrics). */
  observe(onCommit: (size: number, seconds: number) => void): void;
  /** Resolves once every insert made so far has been committed or refused. */
  settled(): Promise<void>;
  /** Waits for what was sent, then stops the thread. */
  close(): Promise<void>;
}

/** The failure of a write in the writer's thread, with SQLite's error code as better-sqlite3 gives it. */
export class AppendWriteError extends Error {
  override name = 'AppendWriteError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/**
 * Compiled, this module is .js beside a .js worker. Run from source (tsx, as the tests and `npm run dev`
 * do), the worker is .ts, and Node 20 does not carry tsx's loader into a worker: a two-line bootstrap
 * registers it there first.
 */
function spawn(path: string, lock: SharedArrayBuffer): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-append-worker.js', import.meta.url), { workerData: { path, lock } });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sqlite-append-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: { path, lock } });
}

/**
 * SQLite's hot-path commits (issued certificates, decisions) in a worker thread with its own connection:
 * better-sqlite3 is synchronous, so a commit's fsync on the main thread would stop every request for its
 * length. WAL lets this connection write while the main one reads. Each insert is sent at once; the
 * thread group-commits whatever arrived during its previous commit, so the pipeline never waits on a
 * round trip between the threads. The thread starts on the first write
 * and keeps the process alive only while a write is pending; if it dies, pending writes fail and the next
 * write starts a new one.
 */
export function createSqliteAppendWriter(path: string, lock: SharedArrayBuffer): AppendWriter {
  let worker: Worker | null = null;
  let nextId = 1;
  let closed = false;
  let onCommit: ((size: number, seconds: number) => void) | undefined;
  let lastCommit = 0;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  function failAll(error: Error): void {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  }

  function settled(): Promise<void> {
    return Promise.allSettled([...pending.values()].map((p) => new Promise<void>((done) => {
      const { resolve, reject } = p;
      p.resolve = () => { resolve(); done(); };
      p.reject = (e) => { reject(e); done(); };
    }))).then(() => undefined);
  }

  function start(): Worker {
    const w = spawn(path, lock);
    w.unref();
    w.on('message', (reply: AppendReply) => {
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if (reply.commit && reply.commit.id !== lastCommit) {
        lastCommit = reply.commit.id;
        onCommit?.(reply.commit.size, reply.commit.seconds);
      }
      if (reply.error) waiter.reject(new AppendWriteError(reply.error.message, reply.error.code));
      else waiter.resolve();
    });
    const lost = (error: Error) => {
      if (worker === w) worker = null;
      failAll(error);
    };
    w.on('error', (error) => lost(new AppendWriteError(`the store's writer thread failed: ${error.message}`, 'WRITER_FAILED')));
    w.on('exit', (code) => lost(new AppendWriteError(`the store's writer thread stopped (exit ${code})`, 'WRITER_STOPPED')));
    return w;
  }

  return {
    start() {
      if (!closed) worker ??= start();
    },
    insert(rows) {
      if (closed) return Promise.reject(new AppendWriteError('the store is closed', 'STORE_CLOSED'));
      worker ??= start();
      const w = worker;
      const id = nextId++;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Held while a write is pending, so a short-lived process cannot exit before its commit.
        w.ref();
        w.postMessage({ id, rows } satisfies AppendRequest);
      });
    },
    observe(callback) {
      onCommit = callback;
    },
    settled,
    async close() {
      closed = true;
      const w = worker;
      if (!w) return;
      await settled();
      worker = null;
      await w.terminate();
    },
  };
}
