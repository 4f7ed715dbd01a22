import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { ClientError, CliInputError } from './cli-config.ts';
import type { Output, Streams } from './output.ts';
import type { RunClient } from './ssh-client-commands.ts';
import { terminalJson, terminalText } from './terminal-text.ts';

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
const MAX_ERROR_BODY_BYTES = 64 * 1024;

const HEX32 = /^[0-9a-f]{32}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// sshd_config splits arguments on white space and quotes and expands % tokens in these paths: keep to
// characters that mean only themselves there.
const SSHD_SAFE_PATH = /^\/[A-Za-z0-9._/+@:=,~-]*$/;
// Contract §8: a token is 1–256 printable ASCII characters without spaces.
const TOKEN = /^[\x21-\x7e]{1,256}$/;
const ETAG = /^[\x21-\x7e]{1,256}$/;
const KRL_MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
/** PROTOCOL.krl sections of an unsigned KRL: certificates, explicit keys, SHA-1 and SHA-256 hashes, extensions. */
const KRL_SECTIONS = new Set([1, 2, 3, 5, 255]);

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
 * Reads the API token from a file that only its owner may read or write (0600 or stricter), as OpenSSH
 * insists for private keys. The mode is checked on the open file, before a byte of it is read.
 */
export function readTokenFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new CliInputError(`--token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CliInputError(`--token-file ${path} is not a regular file`);
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new CliInputError(`--token-file ${path} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); it holds a secret: chmod 600 it`);
    }
    if (st.size > MAX_TOKEN_FILE_BYTES) throw new CliInputError(`--token-file ${path} is larger than a token (${st.size} bytes)`);
    const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buf.length;) length += n = readSync(fd, buf, length, buf.length - length, null);
    const token = buf.subarray(0, length).toString('utf8').trim();
    if (!TOKEN.test(token)) throw new CliInputError(`--token-file ${path} does not hold one API token (1–256 printable characters, no spaces)`);
    return token;
  } finally {
    closeSync(fd);
  }
}

/** The wait before the next round: the interval ±10 %, so a fleet started together does not poll together. */
export function jitteredDelay(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs * (0.9 + 0.2 * random()));
}

/** `--interval`: a Go duration (`60s`, `5m`, `1h`) between 1 s and 24 h, in milliseconds. */
export function parseInterval(text: string): number {
  const seconds = parseGoDuration(text);
  if (seconds === null || seconds < 1 || seconds > 86_400) throw new CliInputError(`--interval must be a duration from 1s to 24h, such as 60s or 5m, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/**
 * Replaces `dir/name` so that a reader sees the old file or the new one, never a part: a temporary file
 * in the same directory is written, flushed to disk, renamed over the old one, then the directory is
 * flushed so the rename itself survives a crash.
 */
export function writeFileAtomic(dir: string, name: string, data: Buffer | string, mode = 0o644): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const final = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      fchmodSync(fd, mode); // the umask may have narrowed it
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never made
    }
    throw error;
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Makes the directory (0755: sshd reads it as root and it holds no secret); refuses one others may write to. */
export function prepareDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (created !== undefined) chmodSync(dir, 0o755);
  const st = statSync(dir);
  if (!st.isDirectory()) throw new CliInputError(`--dir ${dir} is not a directory`);
  // Whoever can write the directory can swap the trust file for one that trusts their own CA.
  if ((st.mode & 0o022) !== 0) throw new CliInputError(`--dir ${dir} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}); sshd would trust what they put there`);
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

/**
 * Checks that bytes are a whole OpenSSH KRL (PROTOCOL.krl): magic, format 1, header, then sections that
 * end exactly at the end. sshd refuses every login when it cannot parse RevokedKeys, so a truncated or
 * foreign file must never be written.
 */
export function checkKrl(bytes: Buffer): { version: bigint } {
  const refuse = (why: string) => new ClientError(`refused the server's KRL: ${why}`);
  // magic(8) format_version(4) krl_version(8) generated_date(8) flags(8), then reserved and comment strings.
  if (bytes.length < 44) throw refuse('too short');
  if (!bytes.subarray(0, 8).equals(KRL_MAGIC)) throw refuse('not an OpenSSH KRL (no SSHKRL magic)');
  if (bytes.readUInt32BE(8) !== 1) throw refuse(`format version ${bytes.readUInt32BE(8)}, not 1`);
  const version = bytes.readBigUInt64BE(12);
  let at = 36;
  const skipString = () => {
    if (at + 4 > bytes.length) throw refuse('truncated');
    const n = bytes.readUInt32BE(at);
    at += 4;
    if (n > bytes.length - at) throw refuse('truncated');
    at += n;
  };
  skipString();
  skipString();
  while (at < bytes.length) {
    const type = bytes[at++]!;
    if (!KRL_SECTIONS.has(type)) throw refuse(`section type ${type} is not one an unsigned KRL holds`);
    skipString();
  }
  return { version };
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

async function readBounded(res: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw new ClientError(`${what}: the answer is larger than ${limit} bytes`);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new ClientError(`${what}: the answer is larger than ${limit} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, size);
}

/** The API's error text, when the answer is our envelope. */
function apiError(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[]; message?: unknown };
    const first = parsed.errors?.[0];
    if (typeof first?.message === 'string') return `${first.message}${typeof first.code === 'number' ? ` (code ${first.code})` : ''}`;
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return 'no reason given';
}

/** One GET with the token, If-None-Match when a good copy is on disk, a deadline and a size bound. */
async function conditionalGet(target: SyncTarget, path: string, token: string, etag: string | undefined, limit: number, what: string, deps: SyncDeps): Promise<Fetched> {
  const timeoutMs = deps.timeoutMs ?? REQUEST_TIMEOUT_MS;
  // A timer of our own (AbortSignal.timeout's does not keep the process alive), covering the body too.
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  const signal = deps.signal ? AbortSignal.any([timeout.signal, deps.signal]) : timeout.signal;
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'user-agent': 'access-ca-sshd-sync' };
  if (etag) headers['if-none-match'] = etag;
  try {
    let res: Response;
    try {
      // No redirects: the token goes only to the origin the operator named.
      res = await (deps.fetch ?? fetch)(`${target.caUrl}/${path}`, { headers, redirect: 'manual', signal });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ClientError(`cannot reach ${target.server}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
    }
    if (res.status === 304) {
      await res.body?.cancel().catch(() => {});
      if (!etag) throw new ClientError(`${what}: ${target.server} answered 304 to a request without If-None-Match`);
      return { status: 'unchanged' };
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {});
      throw new ClientError(`${what}: ${target.server} redirects (HTTP ${res.status}); give --server as the origin that answers the API`);
    }
    if (res.status !== 200) {
      const hint = res.status === 401 || res.status === 403 ? '; the token needs "Access: Apps and Policies Read" for this account' : '';
      throw new ClientError(`${what}: ${target.server} answered HTTP ${res.status}: ${apiError(await readBounded(res, MAX_ERROR_BODY_BYTES, what).catch(() => Buffer.alloc(0)))}${hint}`);
    }
    const tag = res.headers.get('etag');
    return { status: 'fresh', body: await readBounded(res, limit, what), etag: tag !== null && ETAG.test(tag) ? tag : null };
  } catch (error) {
    if (deps.signal?.aborted) throw new SyncStopped();
    if (timeout.signal.aborted) throw new ClientError(`${what}: no answer from ${target.server} within ${timeoutMs / 1000} s`);
    throw error;
  } finally {
    clearTimeout(timer);
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

/** Sleeps, waking early (and quietly) when the signal fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      done();
    }
    signal.addEventListener('abort', finish, { once: true });
  });
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
  account: string;
  zone?: string;
  app: string;
  tokenFile: string;
  dir: string;
  once?: boolean;
  interval: string;
  json?: boolean;
}

/** `sshd-sync`: keeps a host's TrustedUserCAKeys and RevokedKeys files current from the server's API. */
export function registerSshdSyncCommand(program: Command, runClient: RunClient, streams: Streams): void {
  program.command('sshd-sync').description('keep this host\'s TrustedUserCAKeys and RevokedKeys files in sync with an app\'s CA (no data dir)')
    .requiredOption('--server <url>', 'the access-ca server\'s origin, e.g. https://ca.example.com')
    .requiredOption('--account <id>', 'account id')
    .option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id')
    .requiredOption('--token-file <file>', 'an API token with "Access: Apps and Policies Read" (mode 0600 or stricter)')
    .requiredOption('--dir <dir>', `where to write ${TRUST_FILE} and ${KRL_FILE} (made 0755)`)
    .option('--once', 'sync once and exit (non-zero when a file could not be brought up to date)')
    .option('--interval <duration>', 'time between rounds in loop mode, ±10 %', '60s')
    .option('--json', 'print JSON (in loop mode, one line per round that changed or failed)')
    .action((o: SyncOptions) => runClient(o.json, async (out) => {
      const target = syncTarget(o);
      const intervalMs = parseInterval(o.interval);
      if (o.once) return syncOnceCommand(target, o.json === true, out, streams);
      readTokenFile(target.tokenFile); // a bad token file stops the start (exit 2); later it is a failed round
      prepareDir(target.dir);
      warnCleartext(target, out);
      const stop = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        out.info(`access-ca sshd-sync: ${signal}: stopping`);
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      out.info(`access-ca sshd-sync: keeping ${target.dir} in sync with application ${target.appId} at ${target.server} every ${o.interval} (±10 %)`);
      if (!o.json) streams.stdout.write(`${terminalText(sshdConfigLines(target.dir).join('\n'))}\n`);
      try {
        await syncLoop(target, {
          intervalMs, signal: stop.signal,
          onRound({ report, error, first }) {
            const message = error ? error.message : report!.errors.length > 0 ? failure(report!) : null;
            const changed = report !== undefined && (report.trusted.changed || report.krl.changed);
            if (o.json && (first || changed || message)) {
              streams.stdout.write(`${terminalJson({ time: new Date().toISOString(), ...(report ? roundValue(target, report) : {}), ...(message ? { error: message } : {}) })}\n`);
            }
            if (message) out.info(`access-ca sshd-sync: ${message}`);
            else if (first || changed) out.info(summary(report!));
          },
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }));
}
