import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { MasterKeyError } from '../platform/crypto/key-vault.ts';
import { DatabaseOpenError } from '../platform/db/database.ts';
import { IdentityInputError } from '../identity/identity-service.ts';
import { ClientError, CliInputError, DEFAULT_DATA_DIR, storeConfig, type Env, type GlobalOptions } from './cli-config.ts';
import { createOutput, type Output, type Streams } from './output.ts';
import { terminalJson, terminalText } from './terminal-text.ts';
import { registerAdminCommands, registerAppObjectCommands } from './admin-commands.ts';
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
import { registerHostCommands } from './host-commands.ts';
import { AgentError, AgentInputError } from '../host-agent/agent-http.ts';
import { UnsafePathError } from '../host-agent/file-safety.ts';
import { parsePkcs11 } from './serve-options.ts';

const HELP_FOOTER = `
Results go to stdout (a table or text; one JSON object with --json; only the value with --quiet), so
TOKEN=$(access-ca token create … --quiet) and access-ca ssh-config … >> ~/.ssh/config work; diagnostics and
progress go to stderr.

Exit codes:
  0  done
  1  refused by a server or the network, or an unexpected fault
  2  bad usage or input: an unknown verb or flag, a missing required option, a value refused, no store here

Where the store is: --data-dir, else ACCESS_CA_DATA_DIR, else ./${DEFAULT_DATA_DIR} (in the working directory).
A store is created only where you said so (--data-dir, ACCESS_CA_DATA_DIR, --database-url or
ACCESS_CA_DATABASE_URL) or by init, migrate and serve; other verbs refuse a missing store at the default.

Environment:
  ACCESS_CA_DATA_DIR          data directory (default ./${DEFAULT_DATA_DIR}): the SQLite store and master.key
  ACCESS_CA_DATABASE_URL      store location: a SQLite path, sqlite: URL or postgres:// URL
  ACCESS_CA_MASTER_KEY_FILE   master key file (32 bytes, base64); by default <data-dir>/master.key, made with the store
  ACCESS_CA_LISTEN            serve: host:port (default 127.0.0.1:8787)
  ACCESS_CA_LOG_LEVEL         serve: pino log level (default info)
  ACCESS_CA_TRUST_PROXY       serve: addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed
  ACCESS_CA_ALLOW_PRIVATE_IDP serve, idp create: 1 lets JWKS URLs reach private, loopback and link-local addresses (development only)
  ACCESS_CA_GLOBAL_KEYS       serve: off refuses users' global API keys (X-Auth-Email/X-Auth-Key); only API tokens work (default on)
  ACCESS_CA_JWT               ssh-gen: your identity token, when --jwt-file is not given

Flags win over the environment.`;

/** The package's version, read once from package.json (two levels up from src/cli and from dist/cli). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Error classes whose message is meant for the operator as it is. */
const isUserError = (e: unknown) =>
  e instanceof IdentityInputError || e instanceof CliInputError || e instanceof MasterKeyError || e instanceof DatabaseOpenError || e instanceof UnsafePathError || e instanceof AgentInputError;

/** Marks every required option as such in `--help` (commander enforces them but does not say so). */
function markRequired(command: Command): void {
  for (const option of command.options) {
    if (option.mandatory && !option.description.startsWith('required')) option.description = `required: ${option.description}`;
  }
  command.commands.forEach(markRequired);
}

/** Runs the `access-ca` command line; resolves to the exit code (0 done, 1 refused or fault, 2 bad usage or input). */
export async function runCli(argv: string[], env: Env, streams: Streams, cwd = process.cwd()): Promise<number> {
  const { program, exitCode } = createProgram(argv, env, streams, cwd);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode();
}

/** The whole `access-ca` command tree, every verb registered (runCli parses with it; tests read its verbs). */
export function createProgram(argv: string[], env: Env, streams: Streams, cwd = process.cwd()): { program: Command; exitCode: () => number } {
  let exitCode = 0;
  // Commander's own refusals (a missing option, an unknown verb) speak JSON too when --json was asked for.
  const wantsJson = argv.includes('--json');
  const program = new Command();
  program.name('access-ca')
    .description('A self-hosted, Cloudflare-compatible authority for short-lived SSH certificates.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--data-dir <dir>', `data directory (env ACCESS_CA_DATA_DIR, default ./${DEFAULT_DATA_DIR})`)
    .option('--database-url <url>', 'store: SQLite path, sqlite: URL or postgres:// URL (env ACCESS_CA_DATABASE_URL)')
    .option('-q, --quiet', 'print only the result\'s value (an id, a token, a config block) on stdout')
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => streams.stdout.write(s),
      writeErr: (s) => streams.stderr.write(s),
      outputError: (s, write) => {
        if (wantsJson) streams.stdout.write(`${terminalJson({ error: s.trim().replace(/^error: /, '') })}\n`);
        write(s);
      },
    })
    .exitOverride();

  const globals = () => storeConfig(program.opts<GlobalOptions>(), env, cwd);

  /** Runs a verb's action; a failure becomes a message (and `{"error"}` with --json) and an exit code. */
  const attempt = async (json: boolean | undefined, action: (out: Output) => Promise<void>) => {
    const out = createOutput(json === true ? 'json' : program.opts<{ quiet?: boolean }>().quiet === true ? 'quiet' : 'human', streams);
    try {
      await action(out);
    } catch (error) {
      // Bad input is 2; the server's or network's refusal (ClientError) and faults are 1.
      exitCode = isUserError(error) ? 2 : 1;
      const known = isUserError(error) || error instanceof ClientError || error instanceof AgentError;
      const message = known ? (error as Error).message : `unexpected failure: ${(error as Error).message}`;
      if (json) streams.stdout.write(`${terminalJson({ error: message })}\n`);
      streams.stderr.write(`access-ca: ${terminalText(message)}\n`);
    }
  };
  const allowPrivateIdp = ['1', 'true'].includes(env['ACCESS_CA_ALLOW_PRIVATE_IDP'] ?? '');
  const services = (mayCreate: boolean): Run => (json, action, pkcs11) =>
    attempt(json, (out) => withServices({ ...globals(), ...(mayCreate ? { mayCreate } : {}) }, (s) => action(s, out), {
      allowPrivateIdpAddresses: allowPrivateIdp, notice: (text) => streams.stderr.write(`${terminalText(text)}\n`),
      pkcs11: pkcs11 ? parsePkcs11(pkcs11, env) : undefined,
    }));
  const run = services(false);
  // The verbs that exist to make a store make it wherever the store config points, the default included.
  const makeStore = services(true);
  const runClient: RunClient = attempt;

  registerServeCommand(program, { env, streams, globals: () => ({ ...globals(), mayCreate: true }), allowPrivateIdp, isUserError, setExitCode: (code) => { exitCode = code; } });

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

  markRequired(program);
  return { program, exitCode: () => exitCode };
}
