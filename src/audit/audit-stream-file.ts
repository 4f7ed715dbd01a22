import { closeSync, constants, fdatasync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

/** The acknowledged record of `serve --audit-log`: lines appended to one file, reopened on SIGHUP. */
export interface AuditFile {
  readonly path: string;
  /**
   * Appends `text` (whole lines). Resolves once it is written (write(2): it survives the process being
   * killed) and, with `fsync`, on disk (fdatasync: it survives a power loss); rejects otherwise, leaving
   * no partial line behind. The write is made on the calling thread, as the server's log lines are: into
   * the page cache it takes microseconds, where handing it to libuv's pool cost ten times that; the
   * fdatasync, which waits for the disk, runs in the pool.
   */
  append(text: string): Promise<void>;
  /** Closes the file and opens `path` again (after logrotate renamed it); the next append goes there. */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT;

const datasync = promisify(fdatasync);

/** A new file's name is durable only once its directory is synced too. */
function syncDirectory(path: string): void {
  const fd = openSync(dirname(path), constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function openForAppend(path: string, fsync: boolean): number {
  const fd = openSync(path, APPEND, 0o600);
  if (fsync) {
    try {
      fsyncSync(fd);
      syncDirectory(path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }
  return fd;
}

/** Closes `fd`, ignoring failure: it is being replaced or given up. */
function closeQuietly(fd: number | null): void {
  try {
    if (fd !== null) closeSync(fd);
  } catch {
    // nothing more to do with it
  }
}

/**
 * Opens `path` for appending (made 0600 if new; the events name people and hosts). Appends, reopens and
 * the close run one at a time, in the order asked. A reopen that fails leaves no file open: appends then
 * try to open `path` themselves, and fail (so requests are refused) until one succeeds.
 */
export async function openAuditFile(path: string, options: { fsync: boolean }): Promise<AuditFile> {
  let fd: number | null = openForAppend(path, options.fsync);
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const done = queue.then(work);
    queue = done.catch(() => {});
    return done;
  };

  async function append(text: string): Promise<void> {
    const out = (fd ??= openForAppend(path, options.fsync));
    const bytes = Buffer.from(text);
    let written = 0;
    try {
      // write(2) may take part of a buffer (a full disk takes what fits, then refuses the rest).
      while (written < bytes.length) written += writeSync(out, bytes, written);
      if (options.fsync) await datasync(out);
    } catch (error) {
      // O_APPEND and one writer at a time: what landed is the file's last `written` bytes; a reader
      // (Vector, Fluent Bit) must never see half an event, nor the event twice once it is retried.
      if (written > 0) {
        try {
          ftruncateSync(out, fstatSync(out).size - written);
        } catch {
          // the line stays torn; the retry writes it whole after it
        }
      }
      throw error;
    }
  }

  return {
    path,
    append: (text) => serially(() => append(text)),
    reopen: () => serially(async () => {
      closeQuietly(fd);
      fd = null;
      fd = openForAppend(path, options.fsync);
    }),
    close: () => serially(async () => {
      closeQuietly(fd);
      fd = null;
    }),
  };
}
