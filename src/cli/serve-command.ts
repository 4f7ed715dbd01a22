import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp, defaultAppConfig } from '../app.ts';
import { systemClock } from '../platform/clock.ts';
import { cryptoRandom } from '../platform/random.ts';
import { openStoreRuntime, storeLocation, type StoreConfig, type StoreRuntime } from '../platform/store-runtime.ts';
import { acquireServeLock, type ServeLock } from '../platform/serve-lock.ts';
import { noteStoreFootprint } from '../platform/store-footprint.ts';
import { createIdentityStore } from '../identity/identity-store.ts';
import { createIdentityService } from '../identity/identity-service.ts';
import type { Command } from 'commander';
import { CliInputError, parseListen, parseTrustProxy, type Env, type Listen } from './cli-config.ts';
import { cliForStore, firstStartBanner, firstToken, firstTokenShown, restartReminder } from './first-start.ts';
import { CONSOLE_PATH } from '../console/console-routes.ts';
import { listenError, parseAuditLog, parseCaKeyStorage, parseLogLevel, parseKrlExpiryMargin, parseOnOff, parsePkcs11, parseShutdownTimeout, readTlsFiles, type AuditLogOptions } from './serve-options.ts';
import { openPkcs11Token, type Pkcs11Settings } from '../signers/pkcs11-token.ts';
import type { CaKeyToken, KeyStorage } from '../signers/ca-key-token.ts';
import type { Db } from '../platform/db/schema.ts';
import { openAuditFile, type AuditFile } from '../audit/audit-stream-file.ts';
import { startSyslogCopy } from '../audit/audit-stream-syslog.ts';
import type { AuditOutputs } from '../audit/audit-stream.ts';
import { MetricsConfigError, parseMetricsAccess, type MetricsAccess } from '../observability/metrics-access.ts';
import type { Streams } from './output.ts';

export interface ServeOptions {
  store: StoreConfig;
  listen: Listen;
  logLevel: string;
  /** See AppConfig.trustProxy. */
  trustProxy: string[];
  /** Development only: see AppConfig.allowPrivateIdpAddresses. */
  allowPrivateIdpAddresses: boolean;
  /** See AppConfig.globalKeys. */
  globalKeys: boolean;
  /** See AppConfig.trialIdentityProviders. */
  trialIdp: boolean;
  /** See AppConfig.krlExpiryMarginS. */
  krlExpiryMarginS: number;
  /** Serve HTTPS with this certificate and key (read and checked by readTlsFiles); HTTP without. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  /** How long a stop waits for requests in flight before it closes their connections. */
  shutdownTimeoutMs: number;
  /** Who may read /metrics (ACCESS_CA_METRICS_ALLOW, ACCESS_CA_METRICS_TOKEN); loopback only when unset. */
  metricsAccess: MetricsAccess;
  /** `--audit-log` and its companions; no stream when undefined. */
  auditLog: AuditLogOptions | undefined;
  /** `--pkcs11-*`: the token CA keys may live in (the PIN already read from its file); none when undefined. */
  pkcs11?: Pkcs11Settings | undefined;
  /** `--ca-key-storage`: see AppConfig.caKeyStorage. */
  caKeyStorage?: KeyStorage | undefined;
  streams: Streams;
}

/** The audit stream's outputs as `serve` holds them: given to the app, reopened on SIGHUP, closed last. */
interface AuditOutputsHeld {
  outputs: AuditOutputs;
  /** For logrotate: the file is opened again at its path, the syslog copy's logger started again. */
  reopen(): void;
  close(): Promise<void>;
}

/** Opens `--audit-log`'s file (a refusal names the flag and the reason) and starts its syslog copy. */
async function openAuditOutputs(options: AuditLogOptions, log: pino.Logger): Promise<AuditOutputsHeld> {
  let file: AuditFile;
  try {
    file = await openAuditFile(options.path, { fsync: options.fsync });
  } catch (error) {
    throw new CliInputError(`--audit-log: cannot open ${options.path} for appending (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const syslog = options.syslog && startSyslogCopy({ ...options.syslog, onProblem: (message) => log.warn({ event: 'audit_syslog.problem' }, message) });
  return {
    outputs: { file, syslog },
    reopen() {
      file.reopen().then(
        () => log.info({ event: 'audit_log.reopened', path: options.path }, 'audit log reopened'),
        (error: unknown) => log.error({ err: error, path: options.path }, 'the audit log could not be reopened: requests that make events are refused (503) until it can be written'),
      );
      syslog?.restart();
    },
    async close() {
      await file.close();
      await syslog?.close();
    },
  };
}

/** The metrics settings from the environment; a bad value is the operator's to fix, not a fault. */
function metricsAccessFrom(env: Env): MetricsAccess {
  try {
    return parseMetricsAccess(env);
  } catch (error) {
    if (error instanceof MetricsConfigError) throw new CliInputError(error.message);
    throw error;
  }
}

function origin(scheme: 'http' | 'https', host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** How many accounts hold a trial identity provider: the start says so, since its tokens need no outside IdP. */
async function countTrialProviders(db: Db): Promise<number> {
  const row = await db.selectFrom('identity_providers').select((eb) => eb.fn.countAll<number | string>().as('n')).where('trial_key_sealed', 'is not', null).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** ACCESS_CA_GLOBAL_KEYS: `on` (the default, as before) or `off`; anything else is refused rather than guessed. */
export function parseGlobalKeys(value: string | undefined): boolean {
  return parseOnOff('ACCESS_CA_GLOBAL_KEYS', value, true);
}

/**
 * SIGTERM and SIGINT from the first moment of `serve`. Before the server is up a signal is remembered and
 * acted on at the next safe point, so the first start's token is made and shown together or not at all;
 * a second signal then stops at once, except while that token is between the two. Once `running` is
 * set, a signal starts the graceful stop; a second one during it exits at once.
 */
function watchSignals() {
  let received: NodeJS.Signals | null = null;
  let critical = false;
  let onStop: ((signal: NodeJS.Signals) => void) | null = null;
  const handler = (signal: NodeJS.Signals) => {
    if (received !== null && !critical) process.exit(130);
    received ??= signal;
    onStop?.(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get received() {
      return received;
    },
    critical<T>(work: () => Promise<T>): Promise<T> {
      critical = true;
      return work().finally(() => {
        critical = false;
      });
    },
    running(stop: (signal: NodeJS.Signals) => void) {
      onStop = stop;
      if (received !== null) stop(received);
    },
    /** For a start that failed: the signals are the process's again. */
    dispose() {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

/**
 * Stops accepting, lets requests in flight finish within `timeoutMs` (then closes their connections),
 * closes the app (which drains pending writes) and then the store, and releases the lock.
 */
async function shutDown(app: FastifyInstance, runtime: StoreRuntime, lock: ServeLock, audit: AuditOutputsHeld | undefined, timeoutMs: number, say: (text: string) => void, token?: CaKeyToken): Promise<void> {
  // Node closes only the connections idle at the moment of close; those that finish a request later idle too.
  const idle = setInterval(() => app.server.closeIdleConnections(), 100);
  const deadline = setTimeout(() => {
    say(`access-ca: requests still in flight after ${timeoutMs / 1000} s: closing their connections`);
    app.server.closeAllConnections();
  }, timeoutMs);
  try {
    await app.close();
  } finally {
    clearInterval(idle);
    clearTimeout(deadline);
    // After the app, whose close writes what the stream still holds; before the store it reads.
    await audit?.close();
    await token?.close();
    await runtime.database.close();
    lock.release();
  }
}

/**
 * A server starts without a token only when no CA key is in one: started so, those CAs could not sign
 * on this node, and nothing would say why but their 503s. (A token that is configured but cannot sign
 * now is another matter: the server starts, /readyz says why, and the token is tried again.)
 */
async function refuseTokenKeysWithoutToken(db: Db): Promise<void> {
  const held = await db.selectFrom('ssh_ca_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('key_storage', '=', 'pkcs11').executeTakeFirst();
  const n = Number(held?.n ?? 0);
  if (n > 0) {
    throw new CliInputError(`the store holds ${n} CA key${n === 1 ? '' : 's'} kept in a PKCS#11 token: start serve with --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file (env ACCESS_CA_PKCS11_MODULE, ACCESS_CA_PKCS11_TOKEN_LABEL, ACCESS_CA_PKCS11_PIN_FILE)`);
  }
}

/** `access-ca serve`: opens the store, listens, makes the first account on an empty store and shows its token. */
export async function serve(opts: ServeOptions): Promise<void> {
  const signals = watchSignals();
  const say = (text: string) => opts.streams.stderr.write(`${text}\n`);
  // Noted before anything is made: a start that fails before it listens takes back the store it made.
  const footprint = noteStoreFootprint(opts.store);
  let runtime: StoreRuntime;
  try {
    runtime = await openStoreRuntime(opts.store, { notice: say });
  } catch (error) {
    footprint.removeWhatThisRunMade();
    signals.dispose();
    throw error;
  }
  let lock: ServeLock | undefined;
  let app: FastifyInstance | undefined;
  let audit: AuditOutputsHeld | undefined;
  let caKeyToken: CaKeyToken | undefined;
  const reopenAudit = () => audit?.reopen();
  try {
    lock = acquireServeLock(storeLocation(opts.store));
    if (!opts.pkcs11) await refuseTokenKeysWithoutToken(runtime.database.db);
    const logger = pino({
      level: opts.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers["x-auth-key"]'], censor: '[redacted]' },
    });
    if (opts.auditLog) {
      audit = await openAuditOutputs(opts.auditLog, logger);
      // Only with a file to reopen: otherwise SIGHUP keeps its default (the process ends), as before.
      process.on('SIGHUP', reopenAudit);
    }
    // A token that cannot be opened does not stop the start: it is logged, /readyz fails naming why, and
    // its CAs answer 503 while sealed-key CAs sign; it is tried again while the server runs.
    if (opts.pkcs11) caKeyToken = openPkcs11Token(opts.pkcs11, { log: logger });
    app = await buildApp({
      config: { ...defaultAppConfig, allowPrivateIdpAddresses: opts.allowPrivateIdpAddresses, trustProxy: opts.trustProxy, globalKeys: opts.globalKeys, trialIdentityProviders: opts.trialIdp, metricsAccess: opts.metricsAccess, krlExpiryMarginS: opts.krlExpiryMarginS, ...(opts.caKeyStorage ? { caKeyStorage: opts.caKeyStorage } : {}) }, db: runtime.database.db, clock: systemClock, random: cryptoRandom,
      keyVault: runtime.vault, logger, appendWriter: runtime.database.appendWriter, grantRevisions: runtime.database.grantRevisions(), fleetRevisions: runtime.database.grantRevisions('fleet_revisions'), tls: opts.tls,
      auditOutputs: audit?.outputs, caKeyToken,
    });
    try {
      await app.listen({ host: opts.listen.host, port: opts.listen.port });
    } catch (error) {
      throw listenError(error, opts.listen) ?? error;
    }
  } catch (error) {
    await app?.close();
    await audit?.close();
    await caKeyToken?.close();
    process.removeListener('SIGHUP', reopenAudit);
    await runtime.database.close();
    lock?.release();
    footprint.removeWhatThisRunMade();
    signals.dispose();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.listen.port;
  const scheme = opts.tls ? 'https' : 'http';
  const base = `${origin(scheme, opts.listen.host, port)}${defaultAppConfig.basePath}`;
  const consoleUrl = `${origin(scheme, opts.listen.host, port)}${CONSOLE_PATH}/`;
  const db = runtime.database.db;

  if (signals.received === null) {
    // Made only once the server listens (a port in use cannot strand it), and shown before any signal is acted on.
    await signals.critical(async () => {
      const identity = createIdentityService({ store: createIdentityStore(db), clock: systemClock, random: cryptoRandom });
      // Several nodes may start at once on one empty store: exactly one makes the first account.
      const first = await runtime.database.withStartupLock((locked) => firstToken(locked, identity));
      const facts = { base, consoleUrl, cli: cliForStore(opts.store) };
      if (first) {
        say(firstStartBanner(first, facts));
        await firstTokenShown(db);
      } else {
        // The first token was shown once; a restart says which account is here and how to make another.
        const reminder = await restartReminder(identity, facts);
        if (reminder) say(reminder);
      }
    });
    if (opts.allowPrivateIdpAddresses) say('access-ca: identity providers may be on private, loopback and link-local addresses (--allow-private-idp): for development only');
    // Only a notice: a store that cannot say does not stop the start.
    const trials = await countTrialProviders(db).catch(() => 0);
    if (trials > 0) {
      say(opts.trialIdp
        ? `access-ca: ${trials} account${trials === 1 ? '' : 's'} trust${trials === 1 ? 's' : ''} the trial identity provider, whose tokens anyone who can read this data directory can make for any email: for evaluation only; serve --no-trial-idp refuses them`
        : `access-ca: the trial identity provider's tokens are refused (--no-trial-idp), in the ${trials} account${trials === 1 ? ' that has' : 's that have'} one`);
    }
    if (!opts.globalKeys) say('access-ca: global API keys are off: requests with X-Auth-Email/X-Auth-Key are refused; use API tokens');
    if (opts.pkcs11) {
      const problem = await caKeyToken?.check();
      say(problem
        ? `access-ca: the PKCS#11 token "${opts.pkcs11.tokenLabel}" cannot sign: ${problem.reason}; its CAs answer 503 and /readyz fails until it can (the log has the details)`
        : `access-ca: CA keys can be kept in the PKCS#11 token "${opts.pkcs11.tokenLabel}" (${opts.pkcs11.module})${opts.caKeyStorage === 'pkcs11' ? '; new CAs\' keys are made there' : ''}`);
    }
    if (opts.auditLog) say(`access-ca: audit events are appended to ${opts.auditLog.path}${opts.auditLog.fsync ? ' (fdatasync before each answer)' : ''}${opts.auditLog.syslog ? `, with a copy to syslog at ${opts.auditLog.syslog.socket}` : ''}; SIGHUP reopens it`);
    say(`access-ca listening on ${origin(scheme, opts.listen.host, port)} (API base ${base}; console ${consoleUrl}; OpenAPI ${base}/openapi.json; store ${runtime.database.describe})`);
  }

  const server = app;
  const held = lock!;
  signals.running((signal) => {
    say(`access-ca: ${signal}: no new connections; finishing requests in flight (at most ${opts.shutdownTimeoutMs / 1000} s)`);
    server.log.info({ signal }, 'shutting down');
    shutDown(server, runtime, held, audit, opts.shutdownTimeoutMs, say, caKeyToken).then(
      () => {
        say('access-ca: stopped');
        process.exit(0);
      },
      (error: unknown) => {
        say(`access-ca: the stop failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  });
}

/** What the `serve` verb needs from the program that registers it. */
export interface ServeCommandDeps {
  env: Env;
  streams: Streams;
  globals: () => StoreConfig;
  allowPrivateIdp: boolean;
  isUserError: (error: unknown) => boolean;
  setExitCode: (code: number) => void;
}

interface ServeFlags {
  listen?: string;
  allowPrivateIdp?: boolean;
  trustProxy?: string;
  globalKeys?: boolean;
  trialIdp?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  shutdownTimeout?: string;
  krlExpiryMargin?: string;
  auditLog?: string;
  auditLogFsync?: boolean;
  auditSyslog?: string | boolean;
  pkcs11Module?: string;
  pkcs11TokenLabel?: string;
  pkcs11PinFile?: string;
  caKeyStorage?: string;
}

/** `--pkcs11-*` and `--ca-key-storage`, checked together. */
function pkcs11Options(o: ServeFlags, env: Env): Pick<ServeOptions, 'pkcs11' | 'caKeyStorage'> {
  const pkcs11 = parsePkcs11(o, env);
  return { pkcs11, caKeyStorage: parseCaKeyStorage(o.caKeyStorage ?? env['ACCESS_CA_CA_KEY_STORAGE'], pkcs11) };
}

/** Registers `access-ca serve` and its options. */
export function registerServeCommand(program: Command, deps: ServeCommandDeps): void {
  const { env } = deps;
  program.command('serve').description('run the API server (what `npm start` runs)')
    .option('--listen <host:port>', 'address to listen on (env ACCESS_CA_LISTEN, default 127.0.0.1:8787)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key (env ACCESS_CA_TLS_CERT)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (env ACCESS_CA_TLS_KEY)')
    .option('--shutdown-timeout <duration>', 'on SIGTERM/SIGINT, how long requests in flight may take to finish, e.g. 10s (env ACCESS_CA_SHUTDOWN_TIMEOUT, default 10s)')
    .option('--trust-proxy <addresses>', 'comma-separated addresses or CIDR blocks of your reverse proxies; their X-Forwarded-For names the client (env ACCESS_CA_TRUST_PROXY)')
    .option('--allow-private-idp', 'development only: identity providers\' JWKS URLs may reach private, loopback and link-local addresses (env ACCESS_CA_ALLOW_PRIVATE_IDP=1)')
    .option('--krl-expiry-margin <duration>', 'how long a revoked certificate stays in hosts\' KRLs after it expires, for hosts whose clocks lag (env ACCESS_CA_KRL_EXPIRY_MARGIN, default 1h)')
    .option('--audit-log <file>', 'append every audit event (admin changes, certificates issued and refused) to this file as one JSON line, before the answer that reports it goes; a request whose event cannot be written is answered 503; SIGHUP reopens the file, for logrotate (env ACCESS_CA_AUDIT_LOG)')
    .option('--audit-log-fsync', 'fdatasync the audit log before each answer (grouped), so an acknowledged event survives a power loss, not only a crash (env ACCESS_CA_AUDIT_LOG_FSYNC=on)')
    .option('--audit-syslog [socket]', 'also send each audit line to the local syslog socket (default /dev/log) through util-linux logger, as authpriv.info tagged access-ca-audit; a best-effort copy: the file is the record (env ACCESS_CA_AUDIT_SYSLOG=on or a socket path)')
    .option('--pkcs11-module <path>', 'keep CA keys in a PKCS#11 token (HSM, YubiHSM, cloud HSM, SoftHSM2): the module\'s shared library; with --pkcs11-token-label and --pkcs11-pin-file (env ACCESS_CA_PKCS11_MODULE)')
    .option('--pkcs11-token-label <label>', 'the token\'s label, as C_GetTokenInfo reports it (env ACCESS_CA_PKCS11_TOKEN_LABEL)')
    .option('--pkcs11-pin-file <file>', 'a file of mode 0600 or stricter holding the token\'s user PIN; the PIN is never logged (env ACCESS_CA_PKCS11_PIN_FILE)')
    .option('--ca-key-storage <where>', 'where a new CA\'s key lives when its create request does not say: sealed (in the store, under the master key) or pkcs11 (in the token) (env ACCESS_CA_CA_KEY_STORAGE, default sealed)')
    .option('--no-global-keys', 'refuse users\' global API keys (X-Auth-Email/X-Auth-Key): only API tokens work (env ACCESS_CA_GLOBAL_KEYS=off)')
    .option('--no-trial-idp', 'refuse the trial identity provider\'s tokens (access-ca login --trial), as production servers should (env ACCESS_CA_TRIAL_IDP=off)')
    .action(async (o: ServeFlags) => {
      try {
        await serve({
          // The flag can only turn keys off; without it the environment decides.
          globalKeys: o.globalKeys === false ? false : parseGlobalKeys(env['ACCESS_CA_GLOBAL_KEYS']),
          trialIdp: o.trialIdp === false ? false : parseOnOff('ACCESS_CA_TRIAL_IDP', env['ACCESS_CA_TRIAL_IDP'], true),
          trustProxy: parseTrustProxy(o.trustProxy ?? env['ACCESS_CA_TRUST_PROXY']),
          store: deps.globals(),
          listen: parseListen(o.listen ?? env['ACCESS_CA_LISTEN'] ?? '127.0.0.1:8787'),
          logLevel: parseLogLevel(env['ACCESS_CA_LOG_LEVEL']),
          tls: readTlsFiles(o.tlsCert ?? env['ACCESS_CA_TLS_CERT'], o.tlsKey ?? env['ACCESS_CA_TLS_KEY']),
          shutdownTimeoutMs: parseShutdownTimeout(o.shutdownTimeout ?? env['ACCESS_CA_SHUTDOWN_TIMEOUT']),
          krlExpiryMarginS: parseKrlExpiryMargin(o.krlExpiryMargin ?? env['ACCESS_CA_KRL_EXPIRY_MARGIN']),
          metricsAccess: metricsAccessFrom(env),
          auditLog: parseAuditLog(o, env),
          ...pkcs11Options(o, env),
          allowPrivateIdpAddresses: o.allowPrivateIdp === true || deps.allowPrivateIdp,
          streams: deps.streams,
        });
      } catch (error) {
        deps.setExitCode(deps.isUserError(error) ? 2 : 1);
        deps.streams.stderr.write(`access-ca: ${deps.isUserError(error) ? (error as Error).message : (error as Error).stack}\n`);
      }
    });
}
