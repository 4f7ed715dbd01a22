import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { DatabaseOpenError, type DatabaseLocation } from './db/database.ts';

/** The lock file sits beside the SQLite file: `<store>.serve.lock`, holding the server's pid. */
export const SERVE_LOCK_SUFFIX = '.serve.lock';

/** A held lock; `release` removes it (it is also removed when the process exits). */
export interface ServeLock {
  /** The lock file, or null when the store needs none (PostgreSQL takes several nodes). */
  path: string | null;
  release(): void;
}

/** A second `serve` on one SQLite store: refused, naming the running one. */
export class ServeLockError extends DatabaseOpenError {
  override name = 'ServeLockError';
}

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
function running(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return NaN;
  }
}

/**
 * Takes the one-server lock of a SQLite store. Two servers on one SQLite file would each believe they
 * own its first start, its group commits and its port plan; the second is refused with the first one's
 * pid. The lock is a file made with O_EXCL holding the pid: a file left by a server that died (SIGKILL,
 * power loss) names a pid that no longer runs, or this very pid after a container restart, and is taken
 * over. PostgreSQL stores take several nodes by design and need no lock.
 */
export function acquireServeLock(location: DatabaseLocation): ServeLock {
  if (location.kind !== 'sqlite' || location.path === ':memory:') return { path: null, release() {} };
  const path = `${location.path}${SERVE_LOCK_SUFFIX}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ServeLockError(`cannot make the lock file ${path} (${(error as NodeJS.ErrnoException).code}): check the data directory's permissions`);
      }
      const pid = holderOf(path);
      if (pid !== process.pid && running(pid)) {
        throw new ServeLockError(
          `another access-ca serve (pid ${pid}) is already running on the store ${location.path}. ` +
          `Stop it first, or give this server its own store with --data-dir or ACCESS_CA_DATA_DIR ` +
          `(if no such server runs, remove ${path})`,
        );
      }
      try {
        unlinkSync(path); // left by a server that is gone
      } catch {
        // another starter removed it first; try again
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    const remove = () => {
      if (holderOf(path) !== process.pid) return;
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    };
    process.once('exit', remove);
    return {
      path,
      release() {
        process.removeListener('exit', remove);
        remove();
      },
    };
  }
  throw new ServeLockError(`could not take the lock file ${path}: another server is starting on the same store`);
}
