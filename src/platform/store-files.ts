// The names of a store's files, apart from the code that opens a store (database drivers, migrations),
// so that client verbs (ssh-gen, login) can tell a data directory without loading any of it.

/** The SQLite store's file in a data directory. */
export const STORE_FILE = 'access-ca.db';

/**
 * The files `access-ca ssh-gen` and `login` keep for a person (cloudflared's layout, by default in
 * ~/.access-ca): a key, its certificate and a sign-in per host. A server's data directory must not hold
 * them, and ssh-gen's directory must not hold a store: run from $HOME, the server's default ./.access-ca
 * and ssh-gen's ~/.access-ca are one folder, and each side refuses the other's files instead of mixing
 * a person's keys with the master key.
 */
export const isSshGenFile = (name: string): boolean => /-cf_key(\.pub|-cert\.pub)?$|-token\.json$/.test(name);

/** The files that make a directory a server's data directory (see isSshGenFile for why it matters). */
export const isStoreFile = (name: string): boolean => name === 'master.key' || name === STORE_FILE;
