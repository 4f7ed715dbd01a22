import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SERVE_LOCK_SUFFIX } from './serve-lock.ts';
import { storeLocation, type StoreConfig } from './store-runtime.ts';

/** What a start noted before it touched the disk, so that a start that fails can take back what it made. */
export interface StoreFootprint {
  /**
   * Removes the files of the store (the SQLite file and its -wal, -shm and -journal, master.key) and the
   * data directory that were missing when the footprint was noted; anything that existed then is left as
   * it was. Nothing is removed while another server holds the store's lock: it made them, not us. Call it
   * after the store is closed and this run's own lock released. Returns what it removed.
   */
  removeWhatThisRunMade(): string[];
}

/**
 * Notes which of a store's files are missing now. `serve` on a busy port, a bad TLS key or a refused
 * audit log used to leave a new, empty store and a new master key behind, which the next start then
 * took for the operator's; a failed first start now leaves the disk as it found it.
 */
export function noteStoreFootprint(config: StoreConfig): StoreFootprint {
  const dataDir = resolve(config.dataDir);
  let sqlite: string | undefined;
  try {
    const location = storeLocation(config);
    if (location.kind === 'sqlite' && location.path !== ':memory:') sqlite = resolve(location.path);
  } catch {
    // A malformed URL makes nothing on disk; opening the store reports it.
  }
  const files = [
    ...(sqlite ? [sqlite, `${sqlite}-wal`, `${sqlite}-shm`, `${sqlite}-journal`] : []),
    resolve(config.masterKeyFile ?? join(dataDir, 'master.key')),
  ];
  const missing = files.filter((file) => !existsSync(file));
  const dataDirMissing = !existsSync(dataDir);
  return {
    removeWhatThisRunMade() {
      if (sqlite && existsSync(`${sqlite}${SERVE_LOCK_SUFFIX}`)) return [];
      const removed = missing.filter((file) => existsSync(file));
      for (const file of removed) rmSync(file, { force: true });
      if (dataDirMissing && existsSync(dataDir)) {
        try {
          // rmdir, never a recursive remove: a directory someone put a file in meanwhile stays.
          rmdirSync(dataDir);
          removed.push(dataDir);
        } catch {
          // Not empty: what is left is not ours to remove.
        }
      }
      return removed;
    },
  };
}
