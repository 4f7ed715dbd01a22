/**
 * One lock shared by this process's two SQLite connections: the main thread's (admin writes, reads) and
 * the writer thread's (issued certificates). SQLite's own busy handler would make a loser sleep with a
 * growing backoff (up to 100 ms) — on the main thread that stops every request — and can starve the
 * writer thread while admin writes follow one another. Both take this lock instead: the writer thread
 * blocks on it (its only work is writing), the main thread waits for it asynchronously. Other processes
 * (a CLI verb) still meet busy_timeout.
 */
export interface WriteLock {
  /** The memory the other thread needs to take the same lock. */
  readonly buffer: SharedArrayBuffer;
  /** Main thread: resolves once held; never blocks the event loop. */
  acquire(): Promise<void>;
  release(): void;
}

// Node ≥ 16 has it; TypeScript's lib declares it from ES2024 on.
type WaitAsync = (cell: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: Promise<unknown> | string };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const FREE = 0;
const HELD = 1;

export function createWriteLock(buffer = new SharedArrayBuffer(4)): WriteLock {
  const cell = new Int32Array(buffer);
  return {
    buffer,
    async acquire() {
      while (Atomics.compareExchange(cell, 0, FREE, HELD) !== FREE) {
        const wait = waitAsync(cell, 0, HELD, 50);
        if (wait.async) await wait.value;
      }
    },
    release() {
      Atomics.store(cell, 0, FREE);
      Atomics.notify(cell, 0);
    },
  };
}

/** The writer thread's side: blocks until held (it has nothing else to do meanwhile). */
export function holdWriteLock<T>(buffer: SharedArrayBuffer, work: () => T): T {
  const cell = new Int32Array(buffer);
  while (Atomics.compareExchange(cell, 0, FREE, HELD) !== FREE) Atomics.wait(cell, 0, HELD, 50);
  try {
    return work();
  } finally {
    Atomics.store(cell, 0, FREE);
    Atomics.notify(cell, 0);
  }
}
