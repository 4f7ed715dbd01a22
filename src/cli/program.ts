import { Command, CommanderError } from 'commander';
import { MasterKeyError } from '../platform/crypto/key-vault.ts';
import { DatabaseOpenError } from '../platform/db/database.ts';
import { IdentityInputError } from '../identity/identity-service.ts';
import { ClientError, CliInputError, storeConfig, type Env, type GlobalOptions } from './cli-config.ts';
import { createOutput, type Streams } from './output.ts';
import { terminalJson, terminalText } from './terminal-text.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { withServices, type Run } from './cli-services.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerAuditCommands } from './audit-commands.ts';
import { registerSshAdminCommands } from './ssh-admin-commands.ts';
import { registerCaCommands } from './ca-commands.ts';
import { registerAccessCommands } from './access-commands.ts';
import { registerCertCommands } from './cert-commands.ts';
import { registerTransferCommands } from './transfer-commands.ts';
import { registerSshClientCommands, type RunClient } from './ssh-client-commands.ts';
import { registerSshdSyncCommand } from './sshd-sync.ts';

const HELP_FOOTER = `
Environment:
  ACCESS_CA_DATA_DIR          data directory (default ./.access-ca): the SQLite store and master.key
  ACCESS_CA_DATABASE_URL      store location: a SQLite path, sqlite: URL or postgres:// URL
  ACCESS_CA_MASTER_KEY_FILE   master key file (32 bytes, base64); by default <data-dir>/master.key, made on first use
  ACCESS_CA_LISTEN            serve: host:port (default 127.0.0.1:8787)
  ACCESS_CA_LOG_LEVEL         serve: pino log level (default info)
  ACCESS_CA_TRUST_PROXY       serve: addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed
  ACCESS_CA_ALLOW_PRIVATE_IDP serve, idp add: 1 lets JWKS URLs reach private, loopback and link-local addresses (development only)
  ACCESS_CA_GLOBAL_KEYS       serve: off refuses users' global API keys (X-Auth-Email/X-Auth-Key); only API tokens work (default on)
  ACCESS_CA_JWT               ssh-gen: your identity token, when --jwt-file is not given

Flags win over the environment. Every verb creates the store and runs migrations when needed.`;

/** Error classes whose message is meant for the operator as it is. */
const isUserError = (e: unknown) =>
  e instanceof IdentityInputError || e instanceof CliInputError || e instanceof MasterKeyError || e instanceof DatabaseOpenError;

/** Runs the `access-ca` command line; resolves to the exit code. */
export async function runCli(argv: string[], env: Env, streams: Streams, cwd = process.cwd()): Promise<number> {
  let exitCode = 0;
  const program = new Command();
  program.name('access-ca')
    .description('A self-hosted, Cloudflare-compatible authority for short-lived SSH certificates.')
    .option('--data-dir <dir>', 'data directory (env ACCESS_CA_DATA_DIR, default ./.access-ca)')
    .option('--database-url <url>', 'store: SQLite path, sqlite: URL or postgres:// URL (env ACCESS_CA_DATABASE_URL)')
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => streams.stdout.write(s), writeErr: (s) => streams.stderr.write(s) })
    .exitOverride();

  const globals = () => storeConfig(program.opts<GlobalOptions>(), env, cwd);

  /** Runs a verb's action; a failure becomes a message (and `{"error"}` with --json) and an exit code. */
  const attempt = async (json: boolean | undefined, action: (out: ReturnType<typeof createOutput>) => Promise<void>) => {
    const out = createOutput(json === true, streams);
    try {
      await action(out);
    } catch (error) {
      // Bad input is 2; the server's or network's refusal (ClientError) and faults are 1.
      exitCode = isUserError(error) ? 2 : 1;
      const known = isUserError(error) || error instanceof ClientError;
      const message = known ? (error as Error).message : `unexpected failure: ${(error as Error).message}`;
      if (json) streams.stdout.write(`${terminalJson({ error: message })}\n`);
      streams.stderr.write(`access-ca: ${terminalText(message)}\n`);
    }
  };
  const allowPrivateIdp = ['1', 'true'].includes(env['ACCESS_CA_ALLOW_PRIVATE_IDP'] ?? '');
  const run: Run = (json, action) =>
    attempt(json, (out) => withServices(globals(), (services) => action(services, out), { allowPrivateIdpAddresses: allowPrivateIdp, notice: (text) => streams.stderr.write(`${terminalText(text)}\n`) }));
  const runClient: RunClient = attempt;

  registerServeCommand(program, { env, streams, globals, allowPrivateIdp, isUserError, setExitCode: (code) => { exitCode = code; } });

  program.command('migrate').description('create the store or bring its schema up to date, then exit').option('--json', 'print JSON')
    .action((o) => run(o.json, async (_s, out) => out.result({ migrated: true }, 'store is up to date')));

  registerAdminCommands(program, run);
  registerSshAdminCommands(program, run, { runClient, streams });
  registerCaCommands(program, run);
  registerAccessCommands(program, run);
  registerAuditCommands(program, run);
  registerCertCommands(program, run);
  registerTransferCommands(program, run);

  registerSshClientCommands(program, runClient, env);
  registerSshdSyncCommand(program, runClient, streams);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode;
}
