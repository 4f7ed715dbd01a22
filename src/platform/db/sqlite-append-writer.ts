import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../worker-spawn.ts';
import { APPEND_MESSAGE_MAX as MESSAGE_MAX, type AppendMessage, type AppendReply, type AppendRequest } from './sqlite-append-protocol.ts';

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

/** The writer's thread (sqlite-append-worker), from source or compiled (platform/worker-spawn.ts). */
const spawn = (path: string, lock: SharedArrayBuffer): Worker => spawnModuleWorker(import.meta.url, 'sqlite-append-worker', { path, lock });

/**
 * SQLite's hot-path commits (issued certificates, decisions) in a worker thread with its own connection:
 * better-sqlite3 is synchronous, so a commit's fsync on the main thread would stop every request for its
 * length. WAL lets this connection write while the main one reads. The inserts of one turn of the event
 * loop travel together as one message at its end, and while a commit is in flight the next ones wait for
 * it: the thread gets one message per group commit and answers each with one. The thread starts on the
 * first write (or at `start`) and keeps the process alive only while a write is pending; if it dies, its
 * pending writes fail and the next write starts a new one.
 */
export function createSqliteAppendWriter(path: string, lock: SharedArrayBuffer, options: { spawn?: typeof spawn } = {}): AppendWriter {
  const spawnWorker = options.spawn ?? spawn;
  let worker: Worker | null = null;
  let nextId = 1;
  let closed = false;
  let onCommit: ((size: number, seconds: number) => void) | undefined;
  /** Inserts not sent yet: those of this turn of the event loop, and any made while a commit is in flight. */
  let outbox: AppendRequest[] = [];
  /** A send is due at the end of this turn. */
  let scheduled = false;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void; worker: Worker }>();

  /** A message is with the thread and its commit not answered yet: what arrives meanwhile waits in the outbox. */
  let inFlight = false;

  /**
   * Sends the outbox's pending inserts (those of a thread that died have failed with it) as the thread's
   * next commit, unless a commit is still in flight: then they go together when it is answered. One
   * message per commit is one wake-up of the thread per commit, and the batch is everything that arrived
   * while the last one flushed (group commit without polling).
   */
  function send(): void {
    if (inFlight || !worker) return;
    const waiting = outbox.filter((r) => pending.has(r.id));
    // At most one commit's worth (the thread's bound); the rest go with the next.
    const part = waiting.slice(0, MESSAGE_MAX);
    outbox = waiting.slice(MESSAGE_MAX);
    if (part.length === 0) return;
    let message: string;
    try {
      message = JSON.stringify(part) satisfies AppendMessage;
    } catch {
      // A value JSON cannot carry (the types allow none): that write fails, its neighbours do not.
      const sendable = part.filter((r) => {
        try {
          JSON.stringify(r);
          return true;
        } catch (error) {
          reject(r.id, new AppendWriteError(`a row could not be sent to the writer: ${(error as Error).message}`, 'WRITER_ENCODING'));
          return false;
        }
      });
      if (sendable.length === 0) return send();
      message = JSON.stringify(sendable);
    }
    inFlight = true;
    worker.postMessage(message);
  }

  function reject(id: number, error: Error): void {
    pending.get(id)?.reject(error);
    pending.delete(id);
  }

  function failAll(w: Worker, error: Error): void {
    for (const [id, p] of pending) {
      if (p.worker !== w) continue;
      pending.delete(id);
      p.reject(error);
    }
  }

  function settled(): Promise<void> {
    return Promise.allSettled([...pending.values()].map((p) => new Promise<void>((done) => {
      const { resolve, reject } = p;
      p.resolve = () => { resolve(); done(); };
      p.reject = (e) => { reject(e); done(); };
    }))).then(() => undefined);
  }

  function start(): Worker {
    const w = spawnWorker(path, lock);
    w.unref();
    w.on('message', (reply: AppendReply) => {
      for (const id of reply.ids) pending.get(id)?.resolve();
      for (const { id, error } of reply.failed) pending.get(id)?.reject(new AppendWriteError(error.message, error.code));
      for (const id of reply.ids) pending.delete(id);
      for (const { id } of reply.failed) pending.delete(id);
      if (pending.size === 0) w.unref();
      if (worker === w) {
        inFlight = false;
        send();
      }
      // After the answers: a metrics callback that throws must not leave a commit's requests waiting. A
      // commit that wrote nothing (a full disk fails every insert) is not one: the store's health would
      // take it for a recovery and begin a new outage, and log it, at the next failure.
      try {
        if (reply.ids.length > 0) onCommit?.(reply.commit.size, reply.commit.seconds);
      } catch {
        // Metrics only.
      }
    });
    const lost = (error: Error) => {
      if (worker === w) [worker, inFlight] = [null, false];
      failAll(w, error);
      // Its inserts that were still waiting failed with it; the outbox keeps only a newer thread's.
      outbox = outbox.filter((r) => pending.has(r.id));
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
        pending.set(id, { resolve, reject, worker: w });
        // Held while a write is pending, so a short-lived process cannot exit before its commit.
        w.ref();
        outbox.push({ id, rows });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            send();
          });
        }
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
