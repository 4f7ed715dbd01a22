import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseGoDuration } from '../platform/go-duration.ts';
import { ClientError, CliInputError } from './cli-config.ts';
import type { Output, Streams } from './output.ts';
import type { RunClient } from './ssh-client-commands.ts';
import { terminalJson, terminalText } from './terminal-text.ts';
import { syncHostLoop, syncHostOnce, sshdConfigLines as sshdHostLines, type SyncReport as HostSyncReport } from '../host-agent/host-sync.ts';
import { credentialPath, readHostCredential, type HostCredential } from '../host-agent/host-credential.ts';
import { DEFAULT_AGENT_DIR } from '../host-agent/host-enroll.ts';
import { AgentError, serverOrigin } from '../host-agent/agent-http.ts';
import {
  KRL_FILE, sshdConfigLines, syncLoop, syncOnce, TRUST_FILE, readTokenFile, prepareDir, type FileReport, type SyncReport, type SyncTarget,
} from '../host-agent/app-sync.ts';

export { KRL_FILE, TRUST_FILE };

const HEX32 = /^[0-9a-f]{32}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// sshd_config splits arguments on white space and quotes and expands % tokens in these paths: keep to
// characters that mean only themselves there.
const SSHD_SAFE_PATH = /^\/[A-Za-z0-9._/+@:=,~-]*$/;



/** Checks the flags of `sshd-sync` and `sshd-config --server`; refuses (exit 2) anything that could leave its place. */
export function syncTarget(o: { server: string; account: string; zone?: string | undefined; app: string; dir: string; tokenFile: string }): SyncTarget {
  let url: URL;
  try {
    url = new URL(o.server);
  } catch {
    throw new CliInputError(`--server must be a URL such as https://ca.example.com, got ${JSON.stringify(o.server)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliInputError('--server must be an http(s) URL');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new CliInputError(`--server is the server's origin (${url.origin}), without a path`);
  if (url.username || url.password) throw new CliInputError('--server must not carry credentials; the token comes from --token-file');
  if (!HEX32.test(o.account)) throw new CliInputError('--account must be an account id (32 hex digits)');
  if (o.zone !== undefined && !HEX32.test(o.zone)) throw new CliInputError('--zone must be a zone id (32 hex digits)');
  if (!UUID.test(o.app)) throw new CliInputError('--app must be an application id (a UUID)');
  const dir = resolve(o.dir);
  if (!SSHD_SAFE_PATH.test(dir)) throw new CliInputError(`--dir ${JSON.stringify(dir)}: sshd_config cannot name it as it is; use letters, digits and . _ / + @ : = , ~ - only`);
  const scope = o.zone === undefined ? `accounts/${o.account.toLowerCase()}` : `zones/${o.zone.toLowerCase()}`;
  return {
    server: url.origin, caUrl: `${url.origin}/client/v4/${scope}/access/apps/${o.app.toLowerCase()}/ca`, appId: o.app.toLowerCase(), dir,
    tokenFile: resolve(o.tokenFile),
  };
}

/** `--interval`: a Go duration (`60s`, `5m`, `1h`) between 1 s and 24 h, in milliseconds. */
export function parseInterval(text: string): number {
  const seconds = parseGoDuration(text);
  if (seconds === null || seconds < 1 || seconds > 86_400) throw new CliInputError(`--interval must be a duration from 1s to 24h, such as 60s or 5m, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

/** The one JSON object (or human lines) a round reports. */
function roundValue(target: SyncTarget, report: SyncReport) {
  return {
    dir: target.dir,
    trusted_user_ca_keys: report.trusted.path,
    revoked_keys: report.krl.path,
    keys: report.trusted.count,
    krl_version: report.krl.count,
    changed: { trusted_user_ca_keys: report.trusted.changed, revoked_keys: report.krl.changed },
    sshd_config: sshdConfigLines(target.dir),
  };
}

function summary(report: SyncReport): string {
  const what = (f: FileReport, unit: string) =>
    `${f.path}: ${f.count === null ? 'none yet' : unit}${f.error ? ' (kept as it was)' : f.changed ? ' (written)' : ' (unchanged)'}`;
  const keys = report.trusted.count;
  return [what(report.trusted, `${keys} key${keys === 1 ? '' : 's'}`), what(report.krl, `version ${report.krl.count}`)].join('\n');
}

/** Why a round left files as they were, as one message. */
const failure = (report: SyncReport) => `${report.errors.join('; ')}; kept the last good files`;

/**
 * One fetch-and-write, reported: the sshd_config lines on stdout (or one JSON object), the files' state
 * on stderr. Throws (exit 1) when either file could not be brought up to date.
 */
export async function syncOnceCommand(target: SyncTarget, json: boolean, out: Output, streams: Streams): Promise<void> {
  warnCleartext(target, out);
  const report = await syncOnce(target);
  if (report.errors.length > 0) throw new ClientError(failure(report));
  if (json) out.result(roundValue(target, report), '');
  else {
    streams.stdout.write(`${terminalText(sshdConfigLines(target.dir).join('\n'))}\n`);
    out.info(summary(report));
  }
}

function warnCleartext(target: SyncTarget, out: Output): void {
  const url = new URL(target.server);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) out.info(`warning: ${target.server} is plain http; the API token crosses the network in clear`);
}

/** `sshd-config --server`: the same fetch as `sshd-sync --once`, for hosts that do not run the loop. */
export async function sshdConfigFromServer(
  o: { server?: string; tokenFile?: string; dir?: string; account: string; zone?: string; app: string; json?: boolean },
  caFileGiven: boolean, out: Output, streams: Streams,
): Promise<void> {
  const { server, tokenFile, dir } = o;
  if (server === undefined || tokenFile === undefined || dir === undefined) throw new CliInputError('--server, --token-file and --dir go together');
  if (caFileGiven) throw new CliInputError(`--ca-file is for the data-dir mode; with --server the files are ${TRUST_FILE} and ${KRL_FILE} in --dir`);
  await syncOnceCommand(syncTarget({ ...o, server, tokenFile, dir }), o.json === true, out, streams);
}

interface SyncOptions {
  server: string;
  account?: string;
  zone?: string;
  app?: string;
  tokenFile?: string;
  dir: string;
  once?: boolean;
  interval: string;
  json?: boolean;
  acceptOlder?: boolean;
  reloadCommand?: string;
  insecureHttp?: boolean;
}

/** Loop mode's frame: stops on SIGINT/SIGTERM, whichever mode runs inside. */
async function untilSignalled(out: Output, loop: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    out.info(`access-ca sshd-sync: ${signal}: stopping`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await loop(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The one JSON object (or human lines) a host-mode round reports. */
function hostRoundValue(dir: string, credential: HostCredential | undefined, r: HostSyncReport) {
  return {
    dir, trusted_user_ca_keys: r.trusted.path, revoked_keys: r.krl.path, keys: r.trusted.count,
    bundle_version: r.trusted.version, krl_version: r.krl.version,
    changed: { trusted_user_ca_keys: r.trusted.changed, revoked_keys: r.krl.changed, host_certificates: r.certificates.filter((c) => c.changed).map((c) => c.path) },
    reloaded: r.reloaded, sshd_config: sshdHostLines(dir, credential),
  };
}

function hostSummary(r: HostSyncReport): string {
  const what = (f: HostSyncReport['trusted'], unit: string) =>
    `${f.path}: ${f.count === null ? 'none yet' : unit}${f.error ? ' (kept as it was)' : f.changed ? ' (written)' : ' (unchanged)'}`;
  return [
    what(r.trusted, `${r.trusted.count} key${r.trusted.count === 1 ? '' : 's'}, version ${r.trusted.version}`),
    what(r.krl, `version ${r.krl.version}`),
    ...r.certificates.map((c) => `${c.path}: ${c.error ? `kept as it was (${c.reason})` : c.changed ? `renewed (${c.reason})` : 'valid'}`),
  ].join('\n');
}

/** Host mode: the enrolled host's credential in --dir, and nothing else. */
async function hostSync(o: SyncOptions, out: Output, streams: Streams): Promise<void> {
  const server = serverOrigin(o.server, '--server', { insecureHttp: o.insecureHttp === true });
  const dir = resolve(o.dir);
  if (!SSHD_SAFE_PATH.test(dir)) throw new CliInputError(`--dir ${JSON.stringify(dir)}: sshd_config cannot name it as it is; use letters, digits and . _ / + @ : = , ~ - only`);
  const intervalMs = parseInterval(o.interval);
  const opts = { dir, server, acceptOlder: o.acceptOlder === true, reloadCommand: o.reloadCommand };
  const credential = () => {
    try {
      return readHostCredential(dir, server);
    } catch {
      return undefined;
    }
  };
  if (!existsSync(credentialPath(dir))) {
    throw new CliInputError(`${credentialPath(dir)} does not exist: enroll this host first with \`access-ca host enroll --server ${server} --join-token-file FILE --dir ${dir}\` (or give --account, --app and --token-file for the deprecated per-application mode)`);
  }
  if (o.once) {
    const report = await syncHostOnce(opts);
    if (report.errors.length > 0) throw new AgentError(`${report.errors.join('; ')}; kept the last good files`);
    if (o.json) out.result(hostRoundValue(dir, credential(), report), '');
    else {
      streams.stdout.write(`${terminalText(sshdHostLines(dir, credential()).join('\n'))}\n`);
      out.info(hostSummary(report));
    }
    return;
  }
  readHostCredential(dir, server); // a bad credential stops the start (exit 2); later it is a failed round
  out.info(`access-ca sshd-sync: keeping ${dir} in sync with ${server} every ${o.interval} (±10 %)`);
  if (!o.json) streams.stdout.write(`${terminalText(sshdHostLines(dir, credential()).join('\n'))}\n`);
  await untilSignalled(out, (signal) => syncHostLoop(opts, {
    intervalMs, signal,
    onRound({ report, error, first }) {
      const message = error ? error.message : report!.errors.length > 0 ? `${report!.errors.join('; ')}; kept the last good files` : null;
      const changed = report !== undefined && (report.trusted.changed || report.krl.changed || report.certificates.some((c) => c.changed));
      if (o.json && (first || changed || message)) {
        streams.stdout.write(`${terminalJson({ time: new Date().toISOString(), ...(report ? hostRoundValue(dir, credential(), report) : {}), ...(message ? { error: message } : {}) })}\n`);
      }
      if (message) out.info(`access-ca sshd-sync: ${message}`);
      else if (first || changed) out.info(hostSummary(report!));
    },
  }));
}

/** The deprecated per-application mode: an account-wide read token, one application's files. */
async function legacySync(o: SyncOptions, out: Output, streams: Streams): Promise<void> {
  if (o.account === undefined || o.app === undefined || o.tokenFile === undefined) {
    throw new CliInputError('the per-application mode needs --account, --app and --token-file together; an enrolled host needs none of them (access-ca host enroll)');
  }
  out.info('warning: sshd-sync with an account-wide API token is deprecated and goes away in the next release: the token reads the whole account. Enroll the host instead (access-ca host join-token, then access-ca host enroll) and run sshd-sync with --server and --dir only');
  const target = syncTarget({ ...o, account: o.account, app: o.app, tokenFile: o.tokenFile });
  const intervalMs = parseInterval(o.interval);
  if (o.once) return syncOnceCommand(target, o.json === true, out, streams);
  readTokenFile(target.tokenFile); // a bad token file stops the start (exit 2); later it is a failed round
  prepareDir(target.dir);
  warnCleartext(target, out);
  out.info(`access-ca sshd-sync: keeping ${target.dir} in sync with application ${target.appId} at ${target.server} every ${o.interval} (±10 %)`);
  if (!o.json) streams.stdout.write(`${terminalText(sshdConfigLines(target.dir).join('\n'))}\n`);
  await untilSignalled(out, (signal) => syncLoop(target, {
    intervalMs, signal,
    onRound({ report, error, first }) {
      const message = error ? error.message : report!.errors.length > 0 ? failure(report!) : null;
      const changed = report !== undefined && (report.trusted.changed || report.krl.changed);
      if (o.json && (first || changed || message)) {
        streams.stdout.write(`${terminalJson({ time: new Date().toISOString(), ...(report ? roundValue(target, report) : {}), ...(message ? { error: message } : {}) })}\n`);
      }
      if (message) out.info(`access-ca sshd-sync: ${message}`);
      else if (first || changed) out.info(summary(report!));
    },
  }));
}

/** `sshd-sync`: keeps an enrolled host's TrustedUserCAKeys, RevokedKeys and host certificates current. */
export function registerSshdSyncCommand(program: Command, runClient: RunClient, streams: Streams): void {
  program.command('sshd-sync').description('keep this enrolled host\'s TrustedUserCAKeys, RevokedKeys and host certificates current (no data dir)')
    .requiredOption('--server <url>', 'the access-ca server\'s origin, e.g. https://ca.example.com')
    .option('--dir <dir>', `the directory host enroll wrote (the credential, ${TRUST_FILE}, ${KRL_FILE}, host certificates)`, DEFAULT_AGENT_DIR)
    .option('--once', 'sync once and exit (non-zero when a file could not be brought up to date)')
    .option('--interval <duration>', 'time between rounds in loop mode, ±10 %', '60s')
    .option('--reload-command <command>', 'run after a host certificate changes, e.g. "systemctl reload ssh"')
    .option('--insecure-http', 'allow a plain-http --server that is not on loopback (the credential and trust material cross the network in clear)')
    .option('--accept-older', 'take a bundle or KRL older than the one this host holds (only after restoring the server from a backup)')
    .option('--json', 'print JSON (in loop mode, one line per round that changed or failed)')
    .option('--account <id>', 'deprecated per-application mode: account id')
    .option('--zone <id>', 'deprecated per-application mode: the app is zone-level')
    .option('--app <id>', 'deprecated per-application mode: application id')
    .option('--token-file <file>', 'deprecated per-application mode: an API token with "Access: Apps and Policies Read" (mode 0600)')
    .action((o: SyncOptions) => runClient(o.json, async (out) => {
      const legacy = o.account !== undefined || o.app !== undefined || o.tokenFile !== undefined || o.zone !== undefined;
      return legacy ? legacySync(o, out, streams) : hostSync(o, out, streams);
    }));
}
