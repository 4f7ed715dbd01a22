import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { systemClock } from '../platform/clock.ts';
import { masterKeyMatches } from '../platform/store-runtime.ts';
import { checkExport, exportStore, importStore, storeIsEmpty, TransferError } from '../platform/db/store-transfer.ts';
import { IdentityInputError } from '../identity/identity-service.ts';
import type { Run } from './cli-services.ts';

const summary = (counts: Record<string, number>) => Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ');

/** `export` and `import`: move a deployment between SQLite and PostgreSQL, keys still sealed. */
export function registerTransferCommands(program: Command, run: Run): void {
  program.command('export').description('write the whole store to a file (keys stay sealed under the master key)')
    .requiredOption('--out <file>', 'the export file (written 0600: it holds sealed keys and secret hashes)')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ runtime }, out) => {
      const doc = await exportStore(runtime.database.db, systemClock.now());
      writeFileSync(o.out, JSON.stringify(doc), { mode: 0o600, flag: 'w' });
      const counts = Object.fromEntries(Object.entries(doc.tables).map(([t, rows]) => [t, rows.length]));
      out.result({ file: o.out, tables: counts }, `exported ${runtime.database.describe} to ${o.out}: ${summary(counts)}`);
    }));

  program.command('import').description('load an export into this store (refused when the store is not empty unless --allow-non-empty)')
    .requiredOption('--in <file>', 'an export file from access-ca export')
    .option('--allow-non-empty', 'add to a store that already holds accounts (any clash aborts the whole import)')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ runtime }, out) => {
      let doc;
      try {
        doc = checkExport(JSON.parse(readFileSync(o.in, 'utf8')));
      } catch (error) {
        throw new IdentityInputError(`--in ${o.in}: ${(error as Error).message}`);
      }
      if (!masterKeyMatches(runtime.vault, doc.master_key_check)) {
        throw new IdentityInputError('the export was sealed under another master key: give this store the source\'s key (ACCESS_CA_MASTER_KEY_FILE)');
      }
      const { db } = runtime.database;
      if (!o.allowNonEmpty && !(await storeIsEmpty(db))) {
        throw new IdentityInputError(`${runtime.database.describe} already holds accounts; import into an empty store, or pass --allow-non-empty`);
      }
      let counts: Record<string, number>;
      try {
        counts = await importStore(db, doc);
      } catch (error) {
        if (error instanceof TransferError) throw new IdentityInputError(error.message);
        throw new IdentityInputError(`the import clashed with what the store holds, and nothing was written (${(error as Error).message})`);
      }
      out.result({ tables: counts }, `imported into ${runtime.database.describe}: ${summary(counts)}`);
    }));
}
