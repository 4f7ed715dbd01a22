import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseCertificate, SSH_CERT_TYPE_HOST } from '../openssh/certificate.ts';
import { fingerprintOf, parseUserPublicKey } from '../openssh/user-public-key.ts';
import { verifyP256 } from '../openssh/ecdsa-signature.ts';
import { p256PublicKeyObject } from '../openssh/ecdsa-p256.ts';
import { agentRequest, AgentError, AgentStopped, envelopeResult, type AgentHttp } from './agent-http.ts';
import { checkTrustedDir, writeFileAtomic } from './file-safety.ts';
import { readHostCredential, type HostCredential } from './host-credential.ts';
import { checkKrl, checkTrustLines } from './answer-checks.ts';

/** What sshd reads, side by side in the agent's directory. */
export const TRUST_FILE = 'trusted_user_ca_keys';
export const KRL_FILE = 'revoked_keys.krl';
/** What the last round wrote (ETags, hashes, versions); holds no secret. */
export const HOST_STATE_FILE = '.access-ca-host-sync.json';

export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_KRL_BYTES = 16 * 1024 * 1024;
const MAX_CERT_ANSWER_BYTES = 256 * 1024;
/** A host certificate is renewed once this share of its life has passed. */
const RENEW_AT = 2 / 3;
const RELOAD_TIMEOUT_MS = 60_000;

/** The lines that make sshd use what the agent writes. */
export function sshdConfigLines(dir: string, credential?: Pick<HostCredential, 'host_keys'>): string[] {
  const lines = [`TrustedUserCAKeys ${join(dir, TRUST_FILE)}`, `RevokedKeys ${join(dir, KRL_FILE)}`];
  for (const k of credential?.host_keys ?? []) lines.push(`HostCertificate ${join(dir, certFileName(k.path))}`);
  return lines;
}

/** The host certificate's file for a host key: `ssh_host_ed25519_key` → `ssh_host_ed25519_key-cert.pub`, as sshd names them. */
export const certFileName = (hostKeyPath: string) => `${basename(hostKeyPath)}-cert.pub`;

interface FileState { etag: string; sha256: string; version: number }
interface HostState {
  server: string;
  /** The target the state is of: a host enrolled again (another account or target) starts afresh. */
  target_id: string;
  bundle?: FileState;
  krl?: FileState;
  /** What the server last said host certificates must be: signed by this key, naming these principals. */
  host_certificates?: { active_key: string | null; principals: string[] };
  /** A host certificate changed and sshd has not yet been told (its --reload-command failed). */
  reload_pending?: boolean;
}

/** The hex SHA-256 the agents' state files keep of what they wrote. */
export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function readState(dir: string, server: string, targetId: string): HostState {
  const fresh = { server, target_id: targetId };
  try {
    const raw = JSON.parse(readFileSync(join(dir, HOST_STATE_FILE), 'utf8')) as HostState;
    if (raw.server !== server || raw.target_id !== targetId) return fresh;
    const ok = (f: unknown): f is FileState => {
      const s = f as FileState | undefined;
      return typeof s?.etag === 'string' && typeof s.sha256 === 'string' && Number.isSafeInteger(s.version);
    };
    const hc = raw.host_certificates;
    return {
      ...fresh,
      ...(ok(raw.bundle) ? { bundle: raw.bundle } : {}),
      ...(ok(raw.krl) ? { krl: raw.krl } : {}),
      ...(raw.reload_pending === true ? { reload_pending: true } : {}),
      ...(hc && Array.isArray(hc.principals) && hc.principals.every((p) => typeof p === 'string') && (hc.active_key === null || typeof hc.active_key === 'string')
        ? { host_certificates: hc } : {}),
    };
  } catch {
    return fresh;
  }
}

/** A file's ETag is used only while the file is what was written: an edited file is fetched whole and put back. */
export function intact<S extends { sha256: string }>(dir: string, name: string, state: S | undefined): S | undefined {
  if (!state) return undefined;
  try {
    return sha256(readFileSync(join(dir, name))) === state.sha256 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** A checked bundle: the trust file's text, its version, and what host certificates must be. */
interface CheckedBundle {
  text: string;
  keys: number;
  version: number;
  hostCertificates: { active_key: string | null; principals: string[] } | undefined;
}

/** Checks a bundle answer: its target, a version that matches its header, and a key list the file agrees with. */
export function checkBundle(body: Buffer, headerVersion: string | null, credential: HostCredential, server: string): CheckedBundle {
  const refuse = (why: string) => new AgentError(`refused the server's trust bundle: ${why}`);
  const result = envelopeResult(body, 'trust bundle');
  const { version, target_id: targetId, keys, trusted_user_ca_keys: file, host_certificates: hc } = result as Record<string, unknown>;
  if (!Number.isSafeInteger(version) || (version as number) < 0) throw refuse('no version');
  if (headerVersion !== null && headerVersion !== String(version)) throw refuse('its version and its X-Bundle-Version header disagree');
  if (targetId !== credential.target_id) throw refuse(`it is for target ${String(targetId).slice(0, 64)}, not this host's ${credential.target_id}`);
  if (!Array.isArray(keys) || typeof file !== 'string') throw refuse('no keys list or trusted_user_ca_keys');
  const lines = checkTrustLines(file, keys, refuse);
  let hostCertificates: CheckedBundle['hostCertificates'];
  if (hc !== undefined) {
    const h = hc as { active_key?: unknown; principals?: unknown };
    if ((h.active_key !== null && typeof h.active_key !== 'string') || !Array.isArray(h.principals) || !h.principals.every((p) => typeof p === 'string' && /^[A-Za-z0-9._:-]{1,253}$/.test(p))) {
      throw refuse('malformed host_certificates');
    }
    hostCertificates = { active_key: h.active_key as string | null, principals: h.principals as string[] };
  }
  // The header names where it came from; when no CA applies the file is explicitly empty and sshd trusts no user CA.
  // No version here: the file changes only when the keys do (the version is kept in the state file).
  const header = `# access-ca host agent: the user CA keys target ${credential.target_id} trusts, from ${server}; replaced when they change, do not edit`;
  return { text: `${header}\n${lines.map((l) => `${l}\n`).join('')}`, keys: lines.length, version: version as number, hostCertificates };
}

export interface SyncOptions {
  dir: string;
  server: string;
  /** Take a bundle or KRL older than the one held (after a restore of the server from backup). */
  acceptOlder?: boolean;
  /** Runs after a host certificate changed, e.g. `systemctl reload ssh`. */
  reloadCommand?: string | undefined;
  now?: () => Date;
}

export interface FileReport {
  path: string;
  changed: boolean;
  /** Keys in the trust file, or the KRL's version; null while no good file exists. */
  count: number | null;
  version: number | null;
  error?: string;
}
export interface SyncReport {
  trusted: FileReport;
  krl: FileReport;
  certificates: { path: string; changed: boolean; reason?: string; error?: string }[];
  reloaded: boolean;
  errors: string[];
}

/** Why a host certificate on disk must be replaced now, or null while it is good. */
export function renewalReason(certLine: string | null, hostKey: string, want: { active_key: string | null; principals: string[] }, now: Date): string | null {
  if (certLine === null) return 'missing';
  let cert;
  try {
    cert = parseCertificate(Buffer.from(certLine.trim().split(/\s+/)[1] ?? '', 'base64'));
  } catch {
    return 'unreadable';
  }
  const key = parseUserPublicKey(hostKey);
  if (cert.certType !== SSH_CERT_TYPE_HOST || !cert.keyFields.equals(key.fields)) return 'for another key';
  if (want.active_key !== null && fingerprintOf(cert.signatureKey) !== want.active_key) return 'signed by a key the host CA no longer signs with';
  if (JSON.stringify(cert.principals) !== JSON.stringify(want.principals)) return 'names other than the target\'s';
  const start = Number(cert.validAfter);
  const end = Number(cert.validBefore);
  if (now.getTime() / 1000 >= start + (end - start) * RENEW_AT) return 'two-thirds of its life has passed';
  return null;
}

/** The keys in the trust file on disk, which `intact` found to be what a round wrote. */
const keyLines = (dir: string) => readFileSync(join(dir, TRUST_FILE), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Checks each certificate the server sent: a host certificate for the key asked, with the names and CA the bundle said. */
function checkIssued(result: Record<string, unknown>, asked: string[], want: { active_key: string | null; principals: string[] }, now: Date): Map<string, string> {
  const refuse = (why: string) => new AgentError(`refused the server's host certificates: ${why}`);
  const list = result['certificates'];
  // The server leaves out a key it will not certify (a revoked one); never one it was not asked for.
  if (!Array.isArray(list) || list.length === 0 || list.length > asked.length) throw refuse('not one certificate per key asked');
  const byKey = new Map<string, string>();
  for (const item of list as { certificate?: unknown }[]) {
    if (typeof item?.certificate !== 'string' || !/^[a-z0-9-]+-cert-v01@openssh\.com [A-Za-z0-9+/]+={0,2}$/.test(item.certificate)) throw refuse('malformed certificate line');
    const cert = parseCertificate(Buffer.from(item.certificate.split(' ')[1]!, 'base64'));
    const key = asked.find((k) => parseUserPublicKey(k).fields.equals(cert.keyFields));
    if (!key) throw refuse('a certificate for a key not asked for');
    if (cert.certType !== SSH_CERT_TYPE_HOST) throw refuse('not a host certificate');
    if (JSON.stringify(cert.principals) !== JSON.stringify(want.principals)) throw refuse('principals other than the target\'s names');
    if (want.active_key !== null && fingerprintOf(cert.signatureKey) !== want.active_key) throw refuse('signed by another key than the host CA\'s active one');
    let verified = false;
    try {
      verified = verifyP256(p256PublicKeyObject(cert.signatureKey), cert.signed, cert.signature);
    } catch {
      // not a P-256 key: refused below
    }
    if (!verified) throw refuse('a signature that does not verify under the host CA key');
    if (byKey.has(key)) throw refuse('two certificates for one key');
    if (Number(cert.validBefore) * 1000 <= now.getTime()) throw refuse('already expired');
    byKey.set(key, `${item.certificate}\n`);
  }
  return byKey;
}

function runReload(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: RELOAD_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error) reject(new AgentError(`--reload-command failed (${error.code ?? error.signal ?? error.message}): ${String(stderr).trim().slice(0, 300)}`));
      else resolve();
    });
  });
}

/**
 * One round: the trust bundle and the KRL (conditionally), then the host certificates. A file whose
 * fetch or check fails is left exactly as it was; an answer older than what the host holds is refused
 * (a server restored from backup, or one node behind another) unless `acceptOlder`.
 */
export async function syncHostOnce(opts: SyncOptions, http: AgentHttp = {}): Promise<SyncReport> {
  const { dir, server } = opts;
  const now = opts.now ?? (() => new Date());
  checkTrustedDir(dir);
  const credential = readHostCredential(dir, server);
  const auth = { authorization: `Bearer ${credential.credential}` };
  const state = readState(dir, server, credential.target_id);
  const bundleState = intact(dir, TRUST_FILE, state.bundle);
  const krlState = intact(dir, KRL_FILE, state.krl);
  const older = (what: string, got: number, held: number | undefined) => {
    if (held !== undefined && got < held && !opts.acceptOlder) {
      throw new AgentError(`refused the server's ${what}: version ${got} is older than the version ${held} this host holds (a server restored from backup, or a node behind the others); files kept; --accept-older takes it`);
    }
  };

  const [bundle, krl] = await Promise.allSettled([
    agentRequest(server, '/client/v4/host/trust_bundle', { headers: { ...auth, ...(bundleState?.etag ? { 'if-none-match': bundleState.etag } : {}) }, limit: MAX_BUNDLE_BYTES, what: 'trust bundle' }, http)
      .then((got) => {
        if (got.status === 304) return null;
        const checked = checkBundle(got.body, got.headers.get('x-bundle-version'), credential, server);
        older('trust bundle', checked.version, state.bundle?.version);
        return { ...checked, etag: got.etag };
      }),
    agentRequest(server, '/client/v4/host/krl', { headers: { ...auth, ...(krlState?.etag ? { 'if-none-match': krlState.etag } : {}) }, limit: MAX_KRL_BYTES, what: 'KRL' }, http)
      .then((got) => {
        if (got.status === 304) return null;
        const version = Number(checkKrl(got.body).version);
        older('KRL', version, state.krl?.version);
        return { bytes: got.body, version, etag: got.etag };
      }),
  ]);
  if (http.signal?.aborted) throw new AgentStopped();

  const errors: string[] = [];
  const next: HostState = {
    server, target_id: credential.target_id, ...(state.host_certificates ? { host_certificates: state.host_certificates } : {}), ...(state.reload_pending ? { reload_pending: true } : {}),
  };
  const failed = (outcome: PromiseSettledResult<unknown>) => {
    if (outcome.status === 'rejected') {
      if (outcome.reason instanceof AgentStopped) throw outcome.reason;
      errors.push((outcome.reason as Error).message);
      return (outcome.reason as Error).message;
    }
    return undefined;
  };
  const write = (name: string, bytes: Buffer): boolean => {
    let current: Buffer | null = null;
    try {
      current = readFileSync(join(dir, name));
    } catch {
      // not written yet
    }
    const changed = current === null || !current.equals(bytes);
    if (changed) writeFileAtomic(dir, name, bytes, 0o644);
    return changed;
  };

  let trusted: FileReport;
  const bundleError = failed(bundle);
  if (bundle.status === 'fulfilled' && bundle.value !== null) {
    const b = bundle.value;
    const bytes = Buffer.from(b.text, 'utf8');
    const changed = write(TRUST_FILE, bytes);
    // Kept without an ETag too: the version held is what refuses a rollback.
    next.bundle = { etag: b.etag ?? '', sha256: sha256(bytes), version: b.version };
    if (b.hostCertificates) next.host_certificates = b.hostCertificates;
    trusted = { path: join(dir, TRUST_FILE), changed, count: b.keys, version: b.version };
  } else {
    if (bundleState) next.bundle = bundleState;
    else if (state.bundle) next.bundle = { ...state.bundle, etag: '', sha256: '' };
    trusted = { path: join(dir, TRUST_FILE), changed: false, count: bundleState ? keyLines(dir) : null, version: state.bundle?.version ?? null, ...(bundleError ? { error: bundleError } : {}) };
  }

  let krlReport: FileReport;
  const krlError = failed(krl);
  if (krl.status === 'fulfilled' && krl.value !== null) {
    const k = krl.value;
    const changed = write(KRL_FILE, k.bytes);
    next.krl = { etag: k.etag ?? '', sha256: sha256(k.bytes), version: k.version };
    krlReport = { path: join(dir, KRL_FILE), changed, count: k.version, version: k.version };
  } else {
    if (krlState) next.krl = krlState;
    else if (state.krl) next.krl = { ...state.krl, etag: '', sha256: '' };
    krlReport = { path: join(dir, KRL_FILE), changed: false, count: state.krl?.version ?? null, version: state.krl?.version ?? null, ...(krlError ? { error: krlError } : {}) };
  }

  // Host certificates: renewed when missing, from another CA key or for other names, or two-thirds through their life.
  const certificates: SyncReport['certificates'] = [];
  const want = next.host_certificates;
  let reloaded = false;
  if (want && want.active_key !== null) {
    const due = credential.host_keys.map((k) => ({ k, path: join(dir, certFileName(k.path)), reason: renewalReason(readText(join(dir, certFileName(k.path))), k.public_key, want, now()) }));
    const renew = due.filter((d) => d.reason !== null);
    for (const d of due.filter((x) => x.reason === null)) certificates.push({ path: d.path, changed: false });
    if (renew.length > 0) {
      try {
        const got = await agentRequest(server, '/client/v4/host/certificates', {
          method: 'POST', headers: auth, body: JSON.stringify({ public_keys: renew.map((d) => d.k.public_key) }), limit: MAX_CERT_ANSWER_BYTES, what: 'host certificates',
        }, http);
        const issued = checkIssued(envelopeResult(got.body, 'host certificates'), renew.map((d) => d.k.public_key), want, now());
        for (const d of renew) {
          const cert = issued.get(d.k.public_key);
          if (cert === undefined) {
            const error = `the server gave no certificate for host key ${parseUserPublicKey(d.k.public_key).fingerprint} (revoked?); kept its old certificate`;
            errors.push(error);
            certificates.push({ path: d.path, changed: false, reason: d.reason!, error });
            continue;
          }
          writeFileAtomic(dir, certFileName(d.k.path), cert, 0o644);
          certificates.push({ path: d.path, changed: true, reason: d.reason! });
          next.reload_pending = true;
        }
      } catch (error) {
        if (error instanceof AgentStopped) throw error;
        errors.push((error as Error).message);
        for (const d of renew) certificates.push({ path: d.path, changed: false, reason: d.reason!, error: (error as Error).message });
      }
    }
  }
  // A reload that failed (or a round that stopped before it) is tried again next round: sshd serves the
  // certificate it read at its last start until it is told.
  if (next.reload_pending && opts.reloadCommand) {
    try {
      await runReload(opts.reloadCommand);
      reloaded = true;
      delete next.reload_pending;
    } catch (error) {
      errors.push((error as Error).message);
    }
  } else if (!opts.reloadCommand) delete next.reload_pending;
  writeFileAtomic(dir, HOST_STATE_FILE, `${JSON.stringify(next)}\n`, 0o644);
  return { trusted, krl: krlReport, certificates, reloaded, errors: [...new Set(errors)] };
}

/** The wait before the next round: the interval ±10 %, so a fleet started together does not poll together. */
export function jitteredDelay(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs * (0.9 + 0.2 * random()));
}

/** Sleeps, waking early (and quietly) when the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
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

/** Rounds until the signal fires: a failed round keeps the last good files and the loop going. */
export async function syncHostLoop(opts: SyncOptions, http: AgentHttp & { intervalMs: number; signal: AbortSignal; onRound(round: { report?: SyncReport; error?: Error; first: boolean }): void }): Promise<void> {
  for (let first = true; !http.signal.aborted; first = false) {
    try {
      http.onRound({ report: await syncHostOnce(opts, http), first });
    } catch (error) {
      if (error instanceof AgentStopped || http.signal.aborted) break;
      http.onRound({ error: error as Error, first });
    }
    await sleep(jitteredDelay(http.intervalMs), http.signal);
  }
}
