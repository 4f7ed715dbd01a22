import type { Command } from 'commander';
import type { Run } from './cli-services.ts';
import { registerAdminCommands, registerAppObjectCommands } from './admin-commands.ts';
import { registerServeCommand, type ServeCommandDeps } from './serve-command.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerSshAdminCommands } from './ssh-admin-commands.ts';
import { registerCaCommands } from './ca-commands.ts';
import { registerAccessCommands } from './access-commands.ts';
import { registerCertCommands } from './cert-commands.ts';
import { registerTransferCommands } from './transfer-commands.ts';
import { registerSshClientCommands, type RunClient } from './ssh-client-commands.ts';
import { registerSshdSyncCommand } from './sshd-sync.ts';
import { registerHostCommands } from './host-commands.ts';

/** What the verbs are given by program.ts: serve's own deps (its globals as serveGlobals), and how a verb runs. */
export interface VerbDeps extends Omit<ServeCommandDeps, 'globals'> {
  /** Runs an action with the store and the services. */
  run: Run;
  /** The same for init and migrate, which may create the store at the default location. */
  makeStore: Run;
  /** Runs an action that needs no store (a client of a server). */
  runClient: RunClient;
  serveGlobals: ServeCommandDeps['globals'];
}

/**
 * Every verb of `access-ca`, in the order --help lists them. Loaded by program.ts for any command line
 * but a client verb's (it pulls in the store, the schemas and the server).
 */
export function registerEveryVerb(program: Command, deps: VerbDeps): void {
  const { env, streams, run, makeStore, runClient } = deps;
  registerServeCommand(program, { env, streams, globals: deps.serveGlobals, allowPrivateIdp: deps.allowPrivateIdp, isUserError: deps.isUserError, setExitCode: deps.setExitCode });

  program.command('init').description('create the store and its master key here (or where --data-dir / --database-url say), then exit')
    .option('--json', 'print JSON')
    .action((o) => makeStore(o.json, async ({ runtime }, out) => {
      const made = { store: runtime.database.describe, master_key_file: runtime.masterKeyFile, master_key_created: runtime.masterKeyCreated };
      out.result(made, `store ready: ${made.store} (master key ${made.master_key_file}${made.master_key_created ? ', new: back it up' : ''})`, made.store);
    }));
  program.command('migrate').description('create the store or bring its schema up to date, then exit').option('--json', 'print JSON')
    .action((o) => makeStore(o.json, async ({ runtime }, out) => out.result({ migrated: true, store: runtime.database.describe }, `store is up to date: ${runtime.database.describe}`, runtime.database.describe)));

  registerAdminCommands(program, run);
  registerAppObjectCommands(program, run);
  registerSshAdminCommands(program, run, { runClient, streams });
  registerCaCommands(program, run);
  registerAccessCommands(program, run);
  registerAuditCommands(program, run);
  registerCertCommands(program, run);
  registerTransferCommands(program, run);

  registerSshClientCommands(program, runClient, env, run);
  registerSshdSyncCommand(program, runClient, streams);
  registerHostCommands(program, run, { runClient, streams });
}
