/**
 * Group commit for hot-path writes: items submitted while a commit is under way, or in the same turn of
 * the event loop, are written in one transaction. Each submit resolves only after its commit, so an
 * answer never gets ahead of durability. A failed batch is retried one item at a time, so one bad item
 * does not fail its neighbours.
 */
export function createBatchWriter<T>(
  write: (items: T[]) => Promise<void>,
  options: { maxBatch?: number; onCommit?: (size: number, seconds: number) => void } = {},
) {
  const maxBatch = options.maxBatch ?? 200;
  let queue: { item: T; resolve: () => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;
  let idle: (() => void)[] = [];

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        const started = performance.now();
        await write(batch.map((b) => b.item));
        options.onCommit?.(batch.length, (performance.now() - started) / 1000);
        for (const b of batch) b.resolve();
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        else {
          for (const b of batch) {
            try {
              await write([b.item]);
              b.resolve();
            } catch (e) {
              b.reject(e);
            }
          }
        }
      }
    }
    scheduled = false;
    for (const done of idle) done();
    idle = [];
  }

  return {
    /** Resolves once everything submitted so far has been written (or refused): for a clean shutdown. */
    drain(): Promise<void> {
      return scheduled ? new Promise((resolve) => idle.push(resolve)) : Promise.resolve();
    },
    submit(item: T): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
    },
  };
}
