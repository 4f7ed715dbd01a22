import { join } from 'node:path';
import { openDatabase, parseDatabaseUrl, type OpenDatabase } from './db/database.ts';
import { createKeyVault, loadMasterKey, MasterKeyError, type KeyVault } from './crypto/key-vault.ts';

/** Where a deployment's state lives, as parsed once from flags and environment. */
export interface StoreConfig {
  dataDir: string;
  databaseUrl: string | undefined;
  masterKeyFile: string | undefined;
}

export interface StoreRuntime {
  database: OpenDatabase;
  vault: KeyVault;
  masterKeyFile: string;
  masterKeyCreated: boolean;
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
  const secret = await database.db.selectFrom('identity_providers').select('id').where('client_secret_sealed', 'is not', null).limit(1).executeTakeFirst();
  return key !== undefined || secret !== undefined;
}

/**
 * Opens the store (creating it and running migrations when needed) and the master key, and proves the
 * key is the one this store was sealed under, so a wrong key fails at start and not at first sign.
 */
export async function openStoreRuntime(config: StoreConfig): Promise<StoreRuntime> {
  const location = parseDatabaseUrl(config.databaseUrl ?? join(config.dataDir, 'access-ca.db'));
  const masterKeyFile = config.masterKeyFile ?? join(config.dataDir, 'master.key');
  // A key given by file is the operator's: never make one up in its place.
  const { key, created } = loadMasterKey(masterKeyFile, config.masterKeyFile === undefined);
  const vault = createKeyVault(key);
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
