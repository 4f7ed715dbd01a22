import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { ClientError, CliInputError } from './cli-config.ts';
import type { Output, Streams } from './output.ts';
import type { RunClient } from './ssh-client-commands.ts';
import { terminalJson, terminalText } from './terminal-text.ts';
import { checkKrl } from '../host-agent/krl-check.ts';
import { agentRequest, AgentError, AgentStopped } from '../host-agent/agent-http.ts';
import { checkTrustedDir, readSecretFile, UnsafePathError, writeFileAtomic as writeStrict } from '../host-agent/file-safety.ts';
import { jitteredDelay, sleep, syncHostLoop, syncHostOnce, sshdConfigLines as sshdHostLines, type SyncReport as HostSyncReport } from '../host-agent/host-sync.ts';
import { credentialPath, readHostCredential, type HostCredential } from '../host-agent/host-credential.ts';
import { DEFAULT_AGENT_DIR } from '../host-agent/host-enroll.ts';
import { serverOrigin } from '../host-agent/agent-http.ts';

export { jitteredDelay };

export { checkKrl };

/** What a host's sshd reads: the CA keys to trust and the revocation list, side by side in one directory. */
export const TRUST_FILE = 'trusted_user_ca_keys';
export const KRL_FILE = 'revoked_keys.krl';
/** The ETags and hashes of what was last written, so an unchanged answer costs a 304. Holds no secret. */
export const STATE_FILE = '.access-ca-sync.json';

/** A TrustedUserCAKeys file is a few lines; a KRL grows with revocations (a bitmap of a million serials is 128 KiB). */
export const MAX_TRUSTED_KEYS_BYTES = 1024 * 1024;
export const MAX_KRL_BYTES = 16 * 1024 * 1024;
export const REQUEST_TIMEOUT_MS = 10_000;
const MAX_TOKEN_FILE_BYTES = 4096;

const HEX32 = /^[0-9a-f]{32}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// sshd_config splits arguments on white space and quotes and expands % tokens in these paths: keep to
// characters that mean only themselves there.
const SSHD_SAFE_PATH = /^\/[A-Za-z0-9._/+@:=,~-]*$/;
// Contract §8: a token is 1–256 printable ASCII characters without spaces.
const TOKEN = /^[\x21-\x7e]{1,256}$/;
const ETAG = /^[\x21-\x7e]{1,256}$/;

/** Where to fetch from and where to write: checked flags, nothing read yet. */
export interface SyncTarget {
  /** The server's origin, e.g. `https://ca.example.com`. */
  server: string;
  /** `{server}/client/v4/{accounts/A | zones/Z}/access/apps/{APP}/ca`: the two routes hang under it. */
  caUrl: string;
  appId: string;
  dir: string;
  tokenFile: string;
}

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

/** The lines that make sshd use what sync writes. */
export const sshdConfigLines = (dir: string): string[] => [`TrustedUserCAKeys ${join(dir, TRUST_FILE)}`, `RevokedKeys ${join(dir, KRL_FILE)}`];

/**
 * Reads the API token from a file only its owner may read or write (0600 or stricter), owned by the
 * agent's user, not a link, in a directory nobody else may write: as OpenSSH insists for private keys.
 */
export function readTokenFile(path: string): string {
  let raw: Buffer;
  try {
    raw = readSecretFile(path, { maxBytes: MAX_TOKEN_FILE_BYTES });
  } catch (error) {
    if (error instanceof UnsafePathError) throw new CliInputError(`--token-file: ${error.message}`);
    throw new CliInputError(`--token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const token = raw.toString('utf8').trim();
  raw.fill(0);
  if (!TOKEN.test(token)) throw new CliInputError(`--token-file ${path} does not hold one API token (1–256 printable characters, no spaces)`);
  return token;
}

/** `--interval`: a Go duration (`60s`, `5m`, `1h`) between 1 s and 24 h, in milliseconds. */
export function parseInterval(text: string): number {
  const seconds = parseGoDuration(text);
  if (seconds === null || seconds < 1 || seconds > 86_400) throw new CliInputError(`--interval must be a duration from 1s to 24h, such as 60s or 5m, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/** Replaces `dir/name` atomically (host-agent/file-safety.ts), 0644: sshd reads it and it holds no secret. */
export const writeFileAtomic = (dir: string, name: string, data: Buffer | string, mode = 0o644): void => writeStrict(dir, name, data, mode);

/**
 * Makes the directory (0755) and refuses one that sshd's StrictModes would: not owned by the agent's user,
 * writable by others, under a directory another user may write, or behind a symbolic link.
 */
export function prepareDir(dir: string): void {
  checkTrustedDir(dir, { create: true });
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** The answer's file, checked: one ecdsa-sha2-nistp256 key per line, the same keys as the answer's list, at least one. */
export function checkTrustedKeys(body: unknown, header: string): { text: string; keys: number } {
  const refuse = (why: string) => new ClientError(`refused the server's trusted keys: ${why}`);
  const env = body as { success?: unknown; result?: { keys?: unknown; trusted_user_ca_keys?: unknown } } | null;
  if (env?.success !== true || typeof env.result !== 'object' || env.result === null) throw refuse('not a successful API envelope');
  const { keys, trusted_user_ca_keys: file } = env.result;
  if (!Array.isArray(keys) || typeof file !== 'string') throw refuse('no keys list or trusted_user_ca_keys');
  // An empty file would make sshd refuse every certificate: keep the last good one instead.
  if (keys.length === 0) throw refuse('the CA has no keys; an empty trust file is never written');
  const lines: string[] = [];
  for (const raw of file.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let key;
    try {
      key = parseUserPublicKey(line);
    } catch (error) {
      throw refuse(`line ${lines.length + 1}: ${(error as Error).message}`);
    }
    if (key.type !== 'ecdsa-sha2-nistp256') throw refuse(`line ${lines.length + 1} is a ${key.type} key, not ecdsa-sha2-nistp256`);
    if (!/^[\x20-\x7e]*$/.test(key.comment)) throw refuse(`line ${lines.length + 1} has a comment with unprintable characters`);
    lines.push(`${key.type} ${key.blob.toString('base64')}${key.comment ? ` ${key.comment}` : ''}`);
  }
  if (lines.length === 0) throw refuse('the file lists no key; an empty trust file is never written');
  const blobs = new Set(lines.map((l) => l.split(' ')[1]));
  const listed = keys.map((k) => (typeof k?.public_key === 'string' ? k.public_key.trim().split(/\s+/)[1] : undefined));
  if (listed.length !== lines.length || listed.some((b) => b === undefined || !blobs.has(b))) throw refuse('the file and the keys list disagree');
  return { text: `${header}\n${lines.join('\n')}\n`, keys: lines.length };
}

interface FileState {
  etag: string;
  sha256: string;
  count: number;
}
interface SyncState {
  source: string;
  trusted?: FileState;
  krl?: FileState;
}

function readState(dir: string, source: string): SyncState {
  try {
    const raw = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as Partial<SyncState>;
    const ok = (f: unknown): f is FileState => {
      const s = f as FileState | undefined;
      return typeof s?.etag === 'string' && ETAG.test(s.etag) && typeof s.sha256 === 'string' && Number.isSafeInteger(s.count);
    };
    if (raw.source !== source) return { source };
    return { source, ...(ok(raw.trusted) ? { trusted: raw.trusted } : {}), ...(ok(raw.krl) ? { krl: raw.krl } : {}) };
  } catch {
    return { source }; // none yet, or unreadable: ask without conditions
  }
}

/** The remembered state of a file, only when the file on disk is still what was written. */
function intact(dir: string, name: string, state: FileState | undefined): FileState | undefined {
  if (!state) return undefined;
  try {
    return sha256(readFileSync(join(dir, name))) === state.sha256 ? state : undefined;
  } catch {
    return undefined;
  }
}

export interface SyncDeps {
  fetch?: typeof fetch;
  /** Aborts requests in flight (loop mode's SIGINT/SIGTERM). */
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Fetched = { status: 'unchanged' } | { status: 'fresh'; body: Buffer; etag: string | null };

/** One GET with the token, If-None-Match when a good copy is on disk, a deadline and a size bound (agent-http.ts). */
async function conditionalGet(target: SyncTarget, path: string, token: string, etag: string | undefined, limit: number, what: string, deps: SyncDeps): Promise<Fetched> {
  try {
    const got = await agentRequest(target.server, `${target.caUrl.slice(target.server.length)}/${path}`, {
      headers: { authorization: `Bearer ${token}`, ...(etag ? { 'if-none-match': etag } : {}) }, limit, what,
    }, deps);
    if (got.status === 304) {
      if (!etag) throw new ClientError(`${what}: ${target.server} answered 304 to a request without If-None-Match`);
      return { status: 'unchanged' };
    }
    return { status: 'fresh', body: got.body, etag: got.etag };
  } catch (error) {
    if (error instanceof AgentStopped) throw new SyncStopped();
    if (error instanceof AgentError && / answered HTTP 40[13]:/.test(error.message)) {
      throw new ClientError(`${error.message}; the token needs "Access: Apps and Policies Read" for this account`);
    }
    throw error;
  }
}

/** Loop mode was told to stop while a round was under way. */
export class SyncStopped extends Error {
  override name = 'SyncStopped';
}

export interface FileReport {
  path: string;
  /** The file was replaced in this round. */
  changed: boolean;
  /** Keys in the trust file, or the KRL's version; null while no good file exists. */
  count: number | null;
  /** Why this round left the file as it was. */
  error?: string;
}
export interface SyncReport {
  trusted: FileReport;
  krl: FileReport;
  errors: string[];
}

/** A fresh, checked body that is ready to be written. */
interface Checked {
  bytes: Buffer;
  etag: string | null;
  count: number;
}

/**
 * One round: fetch the trusted keys and the KRL (conditionally), check them, and replace whichever file
 * changed. A file whose fetch or check fails is left exactly as it was; the report says why.
 */
export async function syncOnce(target: SyncTarget, deps: SyncDeps = {}): Promise<SyncReport> {
  const token = readTokenFile(target.tokenFile);
  prepareDir(target.dir);
  const source = target.caUrl;
  const state = readState(target.dir, source);
  const trustedState = intact(target.dir, TRUST_FILE, state.trusted);
  const krlState = intact(target.dir, KRL_FILE, state.krl);
  const header = `# access-ca sshd-sync: the CA keys of application ${target.appId} at ${target.server}; replaced when they change, do not edit`;

  const [trusted, krl] = await Promise.allSettled([
    conditionalGet(target, 'trusted_keys', token, trustedState?.etag, MAX_TRUSTED_KEYS_BYTES, 'trusted_keys', deps).then((got): Checked | null => {
      if (got.status === 'unchanged') return null;
      let body: unknown;
      try {
        body = JSON.parse(got.body.toString('utf8'));
      } catch {
        throw new ClientError(`refused the server's trusted keys: not JSON; is --server the access-ca origin?`);
      }
      const { text, keys } = checkTrustedKeys(body, header);
      return { bytes: Buffer.from(text, 'utf8'), etag: got.etag, count: keys };
    }),
    conditionalGet(target, 'krl', token, krlState?.etag, MAX_KRL_BYTES, 'krl', deps).then((got): Checked | null => {
      if (got.status === 'unchanged') return null;
      const { version } = checkKrl(got.body);
      return { bytes: got.body, etag: got.etag, count: Number(version) };
    }),
  ]);
  if (deps.signal?.aborted) throw new SyncStopped();

  const next: SyncState = { source };
  const errors: string[] = [];
  const apply = (slot: 'trusted' | 'krl', name: string, outcome: PromiseSettledResult<Checked | null>, previous: FileState | undefined): FileReport => {
    const path = join(target.dir, name);
    if (outcome.status === 'rejected' || outcome.value === null) {
      // Nothing new, or refused: the file stays. Its ETag is kept only while the file is what was written
      // (see intact), so an edited file is asked for without conditions and put back next round.
      if (previous) next[slot] = previous;
      const error = outcome.status === 'rejected' ? (outcome.reason as Error).message : undefined;
      if (error) errors.push(error);
      return { path, changed: false, count: previous?.count ?? null, ...(error ? { error } : {}) };
    }
    const { bytes, etag, count } = outcome.value;
    let current: Buffer | null = null;
    try {
      current = readFileSync(path);
    } catch {
      // not written yet
    }
    const changed = current === null || !current.equals(bytes);
    if (changed) writeFileAtomic(target.dir, name, bytes);
    if (etag) next[slot] = { etag, sha256: sha256(bytes), count };
    return { path, changed, count };
  };
  const trustedReport = apply('trusted', TRUST_FILE, trusted, trustedState);
  const krlReport = apply('krl', KRL_FILE, krl, krlState);
  writeFileAtomic(target.dir, STATE_FILE, `${JSON.stringify(next)}\n`);
  // Both requests usually fail for the same reason (the server is down): say it once.
  return { trusted: trustedReport, krl: krlReport, errors: [...new Set(errors)] };
}

export interface Round {
  report?: SyncReport;
  /** The round could not start (token file, directory) or failed as a whole. */
  error?: Error;
  first: boolean;
}

/** Rounds until the signal fires: a failed round keeps the last good files and the loop going. */
export async function syncLoop(target: SyncTarget, deps: SyncDeps & { intervalMs: number; signal: AbortSignal; random?: () => number; onRound(round: Round): void }): Promise<void> {
  for (let first = true; !deps.signal.aborted; first = false) {
    try {
      deps.onRound({ report: await syncOnce(target, deps), first });
    } catch (error) {
      if (error instanceof SyncStopped || deps.signal.aborted) break;
      deps.onRound({ error: error as Error, first });
    }
    await sleep(jitteredDelay(deps.intervalMs, deps.random), deps.signal);
  }
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
  const server = serverOrigin(o.server);
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
