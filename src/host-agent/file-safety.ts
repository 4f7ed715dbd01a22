import { randomBytes } from 'node:crypto';
import {
  closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync,
  type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { OperatorError } from '../platform/operator-error.ts';

// The host agent runs as root and writes the files sshd trusts (TrustedUserCAKeys, RevokedKeys, host
// certificates), so it holds itself to OpenSSH's StrictModes (safe_path() in openssh-portable's misc.c):
// every component owned by root or the user, none writable by group or others. Unlike safe_path() it
// resolves no symbolic link: a link anywhere is refused, so the path checked is the path written.

const DEFAULT_MAX_SECRET_BYTES = 64 * 1024;
const WRITABLE_BY_GROUP_OR_OTHERS = 0o022;

/** Every refusal of a path the host agent will not trust; the message names the offending path and the fix. */
export class UnsafePathError extends OperatorError {
  override name = 'UnsafePathError';
}

/** What a refusal is about, and where the user should move things when a chmod is not the right fix. */
interface Subject {
  what: string;
  elsewhere: string;
}

const effectiveUid = (): number => {
  if (!process.geteuid) throw new Error('file ownership checks need a POSIX system');
  return process.geteuid();
};
const who = (uid: number) => (uid === 0 ? 'root' : `uid ${uid}`);
const chownTo = (uid: number) => (uid === 0 ? 'root:root' : String(uid));
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');
const isErrno = (error: unknown, code: string) => (error as NodeJS.ErrnoException | null)?.code === code;

function refuse(subject: Subject, problem: string): never {
  throw new UnsafePathError(`refusing ${subject.what}: ${problem}`);
}

/** The path's components, after refusing a relative path or a `.`/`..` that would make the walk check one path and the kernel open another. */
function components(path: string, subject: Subject): string[] {
  if (!path.startsWith('/')) refuse(subject, `${JSON.stringify(path)} is not an absolute path: give the full path from /`);
  const parts = path.split('/').filter((part) => part !== '');
  if (parts.some((part) => part === '.' || part === '..')) refuse(subject, `${path} has a . or .. component: give the real path`);
  return parts;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
}

/** Makes one missing directory with mode 0755 whatever the umask; its parent has passed the checks, so nobody else can have raced a link in. */
function makeDirectory(path: string): void {
  try {
    mkdirSync(path, 0o755);
  } catch (error) {
    if (!isErrno(error, 'EEXIST')) throw error; // made concurrently: it is checked like any other
    return;
  }
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchmodSync(fd, 0o755);
  } finally {
    closeSync(fd);
  }
}

function checkComponent(path: string, st: Stats, isFinal: boolean, uid: number, subject: Subject): void {
  if (st.isSymbolicLink()) refuse(subject, `${path} is a symbolic link: give the real path`);
  if (!st.isDirectory()) refuse(subject, `${path} is not a directory`);
  // An ancestor may belong to root or the user; the directory itself only to the user who writes into it.
  const ownerOk = isFinal ? st.uid === uid : st.uid === 0 || st.uid === uid;
  if (!ownerOk) {
    const expected = isFinal || uid === 0 ? who(uid) : `root or uid ${uid}`;
    refuse(subject, `${path} is owned by uid ${st.uid}, not ${expected}: chown ${chownTo(isFinal ? uid : 0)} ${path}`);
  }
  // The sticky bit does not excuse a writable directory: another user may still create any name that is
  // not taken yet, and so win races on the names the agent is about to create or look up.
  const writable = st.mode & WRITABLE_BY_GROUP_OR_OTHERS;
  if (writable !== 0) {
    const by = writable === WRITABLE_BY_GROUP_OR_OTHERS ? 'group and others' : writable & 0o020 ? 'group' : 'others';
    refuse(subject, `${path} is writable by ${by} (mode ${octal(st.mode)}): chmod go-w ${path}, or ${subject.elsewhere}`);
  }
}

/** Walks from / down to `dir`, checking each component with lstat before looking below it, and making missing ones when asked. */
function checkChain(dir: string, uid: number, create: boolean, subject: Subject): void {
  const parts = components(dir, subject);
  for (let depth = 0; depth <= parts.length; depth++) {
    const path = `/${parts.slice(0, depth).join('/')}`;
    let st = lstatOrNull(path);
    if (st === null) {
      if (!create) refuse(subject, `${path} does not exist: mkdir -m 0755 ${path}`);
      makeDirectory(path);
      st = lstatSync(path);
    }
    checkComponent(path, st, depth === parts.length, uid, subject);
  }
}

/**
 * Refuses a directory that sshd-sync must not write into: not absolute, a symbolic link anywhere in it,
 * not owned by `uid`, or with any component writable by group or others or owned by someone but root or `uid`.
 */
export function checkTrustedDir(dir: string, opts: { uid?: number; create?: boolean } = {}): void {
  const subject = { what: `directory ${dir}`, elsewhere: 'choose a --dir under a root-owned path such as /etc/ssh/access-ca' };
  checkChain(dir, opts.uid ?? effectiveUid(), opts.create ?? false, subject);
}

/**
 * Reads a credential or join-token file only when no other user could have read, replaced or planted it:
 * the checks are made on the open descriptor, so the file checked is the file read.
 */
export function readSecretFile(path: string, opts: { uid?: number; maxBytes?: number } = {}): Buffer {
  const uid = opts.uid ?? effectiveUid();
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_SECRET_BYTES;
  const subject = { what: `secret file ${path}`, elsewhere: 'keep the file in a directory only root can write, such as /etc/ssh/access-ca' };
  components(path, subject);
  checkChain(dirname(path), uid, false, subject);
  let fd: number;
  try {
    // O_NONBLOCK so that a FIFO planted in the file's place fails the fstat check instead of hanging the open.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    if (isErrno(error, 'ELOOP')) refuse(subject, `${path} is a symbolic link: give the real path`);
    if (isErrno(error, 'ENOENT')) refuse(subject, `${path} does not exist`);
    throw error;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) refuse(subject, `${path} is not a regular file`);
    if (st.uid !== uid) refuse(subject, `${path} is owned by uid ${st.uid}, not ${who(uid)}: chown ${chownTo(uid)} ${path}`);
    // Like OpenSSH's private keys: no permission bit at all for group or others, not even read.
    if ((st.mode & 0o077) !== 0) refuse(subject, `${path} is open to other users (mode ${octal(st.mode)}): chmod 600 ${path}`);
    const tooLarge = `${path} is larger than ${maxBytes} bytes, too large for a secret: give the right file`;
    if (st.size > maxBytes) refuse(subject, tooLarge);
    // One byte more than allowed, so a file that grew after the fstat is caught rather than cut short.
    const scratch = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < scratch.length;) length += n = readSync(fd, scratch, length, scratch.length - length, null);
    const secret = Buffer.from(scratch.subarray(0, Math.min(length, maxBytes)));
    scratch.fill(0);
    if (length > maxBytes) refuse(subject, tooLarge);
    return secret;
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `dir/name` so that a reader (sshd) sees the old file or the new one, never a part, and the
 * replacement survives a crash; `dir` should have passed checkTrustedDir.
 */
export function writeFileAtomic(dir: string, name: string, data: Buffer | string, mode: number): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new Error(`writeFileAtomic: ${JSON.stringify(name)} is not a file name`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode); // O_EXCL: never write through a name someone else made
  try {
    try {
      fchmodSync(fd, mode); // the umask may have narrowed the mode given to open
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(dir, name));
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw error;
  }
  // The rename lives in the directory: flush it too, or a crash can bring back the old file.
  const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
