// The deprecated per-application mode of sshd-sync: one application's TrustedUserCAKeys and KRL, fetched
// with an account-wide read token. Enrolled hosts use host-sync.ts; this stays for one release.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentRequest, AgentError, AgentInputError, AgentStopped } from './agent-http.ts';
import { checkTrustedDir, readSecretFile, UnsafePathError, writeFileAtomic as writeStrict } from './file-safety.ts';
import { checkKrl, checkTrustLines } from './answer-checks.ts';
import { intact, jitteredDelay, sha256, sleep } from './host-sync.ts';

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
    if (error instanceof UnsafePathError) throw new AgentInputError(`--token-file: ${error.message}`);
    throw new AgentInputError(`--token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const token = raw.toString('utf8').trim();
  raw.fill(0);
  if (!TOKEN.test(token)) throw new AgentInputError(`--token-file ${path} does not hold one API token (1–256 printable characters, no spaces)`);
  return token;
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


/** The answer's file, checked: one ecdsa-sha2-nistp256 key per line, the same keys as the answer's list, at least one. */
export function checkTrustedKeys(body: unknown, header: string): { text: string; keys: number } {
  const refuse = (why: string) => new AgentError(`refused the server's trusted keys: ${why}`);
  const env = body as { success?: unknown; result?: { keys?: unknown; trusted_user_ca_keys?: unknown } } | null;
  if (env?.success !== true || typeof env.result !== 'object' || env.result === null) throw refuse('not a successful API envelope');
  const { keys, trusted_user_ca_keys: file } = env.result;
  if (!Array.isArray(keys) || typeof file !== 'string') throw refuse('no keys list or trusted_user_ca_keys');
  // An empty file would make sshd refuse every certificate: keep the last good one instead.
  if (keys.length === 0) throw refuse('the CA has no keys; an empty trust file is never written');
  const lines = checkTrustLines(file, keys, refuse);
  if (lines.length === 0) throw refuse('the file lists no key; an empty trust file is never written');
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
      if (!etag) throw new AgentError(`${what}: ${target.server} answered 304 to a request without If-None-Match`);
      return { status: 'unchanged' };
    }
    return { status: 'fresh', body: got.body, etag: got.etag };
  } catch (error) {
    if (error instanceof AgentStopped) throw new SyncStopped();
    if (error instanceof AgentError && / answered HTTP 40[13]:/.test(error.message)) {
      throw new AgentError(`${error.message}; the token needs "Access: Apps and Policies Read" for this account`);
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
        throw new AgentError(`refused the server's trusted keys: not JSON; is --server the access-ca origin?`);
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

