import { accessSync, chmodSync, constants, existsSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DatabaseOpenError, openDatabase, parseDatabaseUrl, type DatabaseLocation, type OpenDatabase } from './db/database.ts';
import { createKeyVault, loadMasterKey, MasterKeyError, type KeyVault } from './crypto/key-vault.ts';
import { SERVE_LOCK_SUFFIX } from './serve-lock.ts';
import { STORE_FILE, isSshGenFile } from './store-files.ts';
import { modeText, openToOthers, ownedByUs, posixModes, shellWord } from './private-paths.ts';

/** Where a deployment's state lives, as parsed once from flags and environment. */
export interface StoreConfig {
  dataDir: string;
  databaseUrl: string | undefined;
  masterKeyFile: string | undefined;
  /**
   * False when nobody chose this location (the implicit default, ./.access-ca) and the verb is not one
   * that makes stores (`serve`, `init`, `migrate`): a missing store is then refused, naming the path
   * looked at, instead of a new empty store and master key appearing wherever the command was run.
   * Absent or true: a missing store is created.
   */
  mayCreate?: boolean;
  /** How the operator would choose another location, for that refusal (the flags and variables). */
  chosenBy?: string;
}

/** How opening the store tells the operator what it changed on disk (a mode it tightened). */
export interface StoreRuntimeOptions {
  /** One line for the operator; stderr when not given. */
  notice?: (text: string) => void;
}

export interface StoreRuntime {
  database: OpenDatabase;
  vault: KeyVault;
  masterKeyFile: string;
  masterKeyCreated: boolean;
}

/** The default SQLite file name inside the data directory. */
export { STORE_FILE, isSshGenFile, isStoreFile } from './store-files.ts';

/**
 * A store that is not where the operator said, or not there yet at the default location, or a data
 * directory that cannot hold one: refused with what to run, never with a stack trace.
 */
export class StoreLocationError extends DatabaseOpenError {
  override name = 'StoreLocationError';
}


/** Where the store of a config lives; a malformed URL is the operator's to fix, not a fault. */
export function storeLocation(config: StoreConfig): DatabaseLocation {
  try {
    return parseDatabaseUrl(config.databaseUrl ?? join(config.dataDir, STORE_FILE));
  } catch (error) {
    throw new StoreLocationError(`--database-url / ACCESS_CA_DATABASE_URL: ${(error as Error).message}`);
  }
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * Makes the data directory (0700) when it is missing and proves it can be written, so that an
 * unwritable place is one sentence naming the directory and the flag that moves it, not an EACCES
 * stack from deep inside SQLite or the key file.
 */
function prepareDataDir(dir: string, chosenBy: string): void {
  const fix = `choose a directory you can write with ${chosenBy}, or change its permissions`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR' || code === 'EEXIST') {
      throw new StoreLocationError(`data directory ${dir} cannot be created (${code}): ${fix}`);
    }
    throw error;
  }
  const stats = statSync(dir);
  if (!stats.isDirectory()) throw new StoreLocationError(`data directory ${dir} is not a directory: ${fix}`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new StoreLocationError(`data directory ${dir} cannot be written: ${fix}`);
  }
  const sshGen = readdirSync(dir).filter(isSshGenFile);
  if (sshGen.length > 0) {
    throw new StoreLocationError(
      `data directory ${dir} holds access-ca ssh-gen's files (${sshGen.slice(0, 3).join(', ')}${sshGen.length > 3 ? ', …' : ''}): ` +
      `it is a person's ~/.access-ca, not a server's. Give the server a directory of its own with ${chosenBy}`,
    );
  }
}

const CHECK_NAME = 'master_key_check';
const CHECK_AAD = 'access-ca/settings/master_key_check';
const CHECK_TEXT = 'access-ca master key check v1';

/** True when a store's master key check value opens under this vault: both were sealed under one key. */
export function masterKeyMatches(vault: Pick<KeyVault, 'open'>, checkValue: string): boolean {
  try {
    vault.open(Buffer.from(checkValue, 'base64'), CHECK_AAD);
    return true;
  } catch {
    return false;
  }
}

async function holdsSealedData(database: OpenDatabase): Promise<boolean> {
  const key = await database.db.selectFrom('ssh_ca_keys').select('id').limit(1).executeTakeFirst();
  const secret = await database.db.selectFrom('identity_providers').select('id')
    .where((eb) => eb.or([eb('client_secret_sealed', 'is not', null), eb('trial_key_sealed', 'is not', null)])).limit(1).executeTakeFirst();
  return key !== undefined || secret !== undefined;
}

function statIfPresent(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * The data directory holds the master key and the store, so it must be closed to other users. We tighten
 * rather than refuse when it is plainly ours: this user owns it, it is not a shared sticky directory, and
 * it holds nothing but access-ca's files (`ours`). That is a directory made by `mkdir` under umask 022
 * or by an older access-ca, and refusing would only make the operator type the chmod we know is right;
 * the change is said on stderr, never made silently. Any other directory (another user's, /tmp, or one
 * holding other files, such as /var/lib given by mistake) is refused with the command to run, since
 * changing its mode could break whatever else lives there. A new data directory is made 0700.
 */
function secureDataDir(dir: string, ours: ReadonlySet<string>, notice: (text: string) => void): void {
  const stats = statIfPresent(dir);
  if (!stats) return;
  if (!stats.isDirectory()) throw new DatabaseOpenError(`data directory ${dir} is not a directory`);
  if (!openToOthers(stats.mode)) return;
  const mine = ownedByUs(stats);
  const sticky = (stats.mode & 0o1000) !== 0;
  const foreign = mine && !sticky ? readdirSync(dir).filter((name) => !ours.has(name)) : [];
  if (mine && !sticky && foreign.length === 0) {
    chmodSync(dir, 0o700);
    notice(`access-ca: data directory ${dir} was mode ${modeText(stats.mode)}, open to other users; changed it to 0700`);
    return;
  }
  const why = !mine ? 'it belongs to another user'
    : sticky ? 'it is a shared (sticky) directory'
    : `it holds files access-ca did not make (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`;
  throw new DatabaseOpenError(
    `data directory ${dir} is mode ${modeText(stats.mode)}, open to other users, and access-ca leaves it as it is ` +
    `because ${why}. It holds the master key and the store: run chmod 700 ${shellWord(dir)}, ` +
    'or give access-ca a directory of its own (--data-dir)',
  );
}

/**
 * The SQLite file holds sealed CA keys and token hashes, and its -wal and -shm files take its mode when
 * SQLite makes them. One open to other users is tightened to 0600 when this user owns it (said on
 * stderr), and refused with the command to run when another user does. A path that is not a regular
 * file is left for SQLite to report.
 */
function secureSqliteFiles(path: string, notice: (text: string) => void): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    const stats = statIfPresent(file);
    if (!stats || !stats.isFile() || !openToOthers(stats.mode)) continue;
    if (ownedByUs(stats)) {
      chmodSync(file, 0o600);
      notice(`access-ca: store file ${file} was mode ${modeText(stats.mode)}, open to other users; changed it to 0600`);
      continue;
    }
    throw new DatabaseOpenError(
      `permissions ${modeText(stats.mode)} for store file ${file} are too open: it holds sealed keys and token hashes ` +
      `and belongs to another user. Run: chmod 600 ${shellWord(file)}`,
    );
  }
}

const stderrNotice = (text: string) => {
  process.stderr.write(`${text}\n`);
};

/**
 * Opens the store (creating it and running migrations when needed) and the master key, and proves the
 * key is the one this store was sealed under, so a wrong key fails at start and not at first sign. File
 * modes are checked first: a master key open to others is refused; the data dir and SQLite files are
 * tightened when plainly ours (told through `options.notice`) and refused otherwise.
 */
export async function openStoreRuntime(config: StoreConfig, options: StoreRuntimeOptions = {}): Promise<StoreRuntime> {
  const notice = options.notice ?? stderrNotice;
  const location = storeLocation(config);
  const masterKeyFile = config.masterKeyFile ?? join(config.dataDir, 'master.key');
  const chosenBy = config.chosenBy ?? '--data-dir or ACCESS_CA_DATA_DIR';
  // Nothing is made on disk before this: not the directory, not the master key.
  if (config.mayCreate === false && location.kind === 'sqlite' && !existsSync(location.path)) {
    throw new StoreLocationError(
      `no access-ca store at ${location.path}. Point at yours with ${chosenBy}, ` +
      'or create one there with access-ca init (or access-ca serve)',
    );
  }
  const dataDirUsed = config.masterKeyFile === undefined || (location.kind === 'sqlite' && dirname(location.path) === resolve(config.dataDir));
  if (dataDirUsed) prepareDataDir(resolve(config.dataDir), chosenBy);
  // Modes are checked before anything is read from these files or the store is opened.
  if (posixModes) {
    const dataDir = resolve(config.dataDir);
    const sqliteInDataDir = location.kind === 'sqlite' && dirname(location.path) === dataDir;
    // The data dir matters only when something of ours lives in it: with a key given by file and the
    // store on PostgreSQL or elsewhere on disk, it is not used and not looked at.
    if (config.masterKeyFile === undefined || sqliteInDataDir) {
      const base = location.kind === 'sqlite' ? basename(location.path) : undefined;
      const ours = new Set(['master.key', ...(sqliteInDataDir && base ? [base, `${base}-wal`, `${base}-shm`, `${base}-journal`, `${base}${SERVE_LOCK_SUFFIX}`] : [])]);
      secureDataDir(dataDir, ours, notice);
    }
  }
  // A key given by file is the operator's: never make one up in its place.
  const { key, created } = loadMasterKey(masterKeyFile, config.masterKeyFile === undefined);
  const vault = createKeyVault(key);
  if (posixModes && location.kind === 'sqlite') secureSqliteFiles(location.path, notice);
  const database = await openDatabase(location);
  try {
    const seal = vault.seal(Buffer.from(CHECK_TEXT), CHECK_AAD).toString('base64');
    await database.db.insertInto('settings').values({ name: CHECK_NAME, value: seal })
      .onConflict((oc) => oc.column('name').doNothing()).execute();
    const row = await database.db.selectFrom('settings').select('value').where('name', '=', CHECK_NAME).executeTakeFirstOrThrow();
    if (!masterKeyMatches(vault, row.value)) {
      // A store with nothing sealed in it has nothing to protect: it takes the key it is opened with
      // (say, after an import attempt with the wrong key). Any sealed value makes the mismatch fatal.
      if (!(await holdsSealedData(database))) {
        await database.db.updateTable('settings').set({ value: seal }).where('name', '=', CHECK_NAME).execute();
      } else {
        throw new MasterKeyError(`the master key in ${masterKeyFile} is not the one this store was created with`);
      }
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  return { database, vault, masterKeyFile, masterKeyCreated: created };
}
