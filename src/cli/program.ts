import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { OperatorError } from '../platform/operator-error.ts';
import { ClientError, DEFAULT_DATA_DIR, storeConfig, type Env, type GlobalOptions } from './cli-config.ts';
import { createOutput, type Output, type Streams } from './output.ts';
import { terminalJson, terminalText } from './terminal-text.ts';
import type { Run } from './cli-services.ts';
import { registerSshClientCommands, type RunClient } from './ssh-client-commands.ts';
import { registerSshdSyncCommand } from './sshd-sync.ts';
import { AgentError } from '../host-agent/agent-http.ts';

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

/** An error whose message is meant for the operator as it is (bad input: exit 2). */
const isUserError = (e: unknown) => e instanceof OperatorError;

/**
 * The verbs people and hosts run often, with no store: ssh-gen runs from ssh's `Match exec` before every
 * connection, sshd-sync from a timer. Their command line is built from their own modules only; every
 * other verb (and --help, or no verb) loads the store and the server's services (half a second of CPU).
 */
const CLIENT_VERBS = new Set(['ssh-gen', 'login', 'ssh-config', 'sshd-sync']);
/** Global options that take a value (so that value is not read as the verb). */
const GLOBAL_VALUE_OPTIONS = new Set(['--data-dir', '--database-url']);

/** The verb a command line runs: its first word that is neither a global option nor such an option's value. */
export function verbOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return argv[i + 1];
    if (!arg.startsWith('-')) return arg;
    // `--help ssh-gen` is the whole program's help (commander's reading): it must list every verb.
    if (arg === '--help' || /^-[a-zA-Z]*h/.test(arg)) return undefined;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) i++;
  }
  return undefined;
}

/** Marks every required option as such in `--help` (commander enforces them but does not say so). */
function markRequired(command: Command): void {
  for (const option of command.options) {
    if (option.mandatory && !option.description.startsWith('required')) option.description = `required: ${option.description}`;
  }
  command.commands.forEach(markRequired);
}

/** Runs the `access-ca` command line; resolves to the exit code (0 done, 1 refused or fault, 2 bad usage or input). */
export async function runCli(argv: string[], env: Env, streams: Streams, cwd = process.cwd()): Promise<number> {
  const { program, exitCode } = await createProgram(argv, env, streams, cwd);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return exitCode();
}

/**
 * The `access-ca` command tree runCli parses with: every verb, or for a client verb (CLIENT_VERBS) only the
 * client verbs, so that ssh-gen never loads the store. Tests read the whole tree (argv []).
 */
export async function createProgram(argv: string[], env: Env, streams: Streams, cwd = process.cwd()): Promise<{ program: Command; exitCode: () => number }> {
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
  // The store and the services are loaded when a verb runs that needs them, not when the line is parsed.
  const services = (mayCreate: boolean): Run => (json, action, pkcs11) =>
    attempt(json, async (out) => {
      const [{ withServices }, { parsePkcs11 }] = await Promise.all([import('./cli-services.ts'), import('./serve-options.ts')]);
      await withServices({ ...globals(), ...(mayCreate ? { mayCreate } : {}) }, (s) => action(s, out), {
        allowPrivateIdpAddresses: allowPrivateIdp, notice: (text) => streams.stderr.write(`${terminalText(text)}\n`),
        pkcs11: pkcs11 ? parsePkcs11(pkcs11, env) : undefined,
      });
    });
  const run = services(false);
  const runClient: RunClient = attempt;

  if (CLIENT_VERBS.has(verbOf(argv) ?? '')) {
    registerSshClientCommands(program, runClient, env, run);
    registerSshdSyncCommand(program, runClient, streams);
  } else {
    const { registerEveryVerb } = await import('./every-verb.ts');
    registerEveryVerb(program, {
      env, streams, run, runClient, allowPrivateIdp, isUserError,
      // The verbs that exist to make a store make it wherever the store config points, the default included.
      makeStore: services(true),
      serveGlobals: () => ({ ...globals(), mayCreate: true }),
      setExitCode: (code) => { exitCode = code; },
    });
  }
  markRequired(program);
  return { program, exitCode: () => exitCode };
}
