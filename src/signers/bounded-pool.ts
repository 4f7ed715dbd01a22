import { errors } from '../platform/http/errors.ts';

/** How many may wait for an item, and for how long, before they are turned away with a 503. */
export interface PoolLimits {
  maxWaiting: number;
  maxWaitMs: number;
}

interface Waiter<T> {
  take(item: T): void;
  timer: NodeJS.Timeout;
}

/**
 * A fixed set of items (a token's sessions) lent one caller at a time, with a bounded queue: past
 * `maxWaiting` waiters, or after `maxWaitMs` in the queue, the caller gets the catalog's signerBusy 503
 * (with retry-after) at once, so no request waits unbounded behind a slow token.
 */
export function createBoundedPool<T>(items: readonly T[], limits: PoolLimits, onBusy: () => void = () => {}) {
  const free = [...items];
  const queue: Waiter<T>[] = [];

  const release = (item: T) => {
    const next = queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.take(item);
    } else {
      free.push(item);
    }
  };

  const acquire = (): Promise<T> => {
    const item = free.pop();
    if (item !== undefined) return Promise.resolve(item);
    if (queue.length >= limits.maxWaiting) {
      onBusy();
      return Promise.reject(errors.signerBusy());
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        take: resolve,
        timer: setTimeout(() => {
          queue.splice(queue.indexOf(waiter), 1);
          onBusy();
          reject(errors.signerBusy());
        }, limits.maxWaitMs),
      };
      queue.push(waiter);
    });
  };

  return {
    /** Runs `work` with an item of its own, returned to the pool however the work ends. */
    async use<R>(work: (item: T) => Promise<R>): Promise<R> {
      const item = await acquire();
      try {
        return await work(item);
      } finally {
        release(item);
      }
    },
    /** Callers waiting for an item now. */
    waiting: () => queue.length,
    /** Items lent out now. */
    busy: () => items.length - free.length,
  };
}

export type BoundedPool<T> = ReturnType<typeof createBoundedPool<T>>;
