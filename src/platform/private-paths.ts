import type { Stats } from 'node:fs';

/**
 * POSIX permission bits are what protect the master key and the store. Windows reports synthetic modes
 * (0o666 for any writable file), so the checks built on these helpers are skipped there: out of scope.
 */
export const posixModes = process.platform !== 'win32';

/** A mode as `ls -l` and `chmod` spell it, e.g. `0644`. */
export function modeText(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** True when group or others hold any permission bit: what OpenSSH calls "too open" for a private key. */
export function openToOthers(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/** A path as one shell word, so the fix command in a message can be pasted as it is. */
export function shellWord(path: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/**
 * True when this process's effective user owns the file. Root is no exception: the checks look at modes,
 * not at who could bypass them, so they behave the same for root in CI as for a service account.
 */
export function ownedByUs(stats: Pick<Stats, 'uid'>): boolean {
  return process.geteuid !== undefined && stats.uid === process.geteuid();
}
