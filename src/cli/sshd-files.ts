import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodeKrl, encodeKrl, type KrlCertificates } from '../openssh/krl.ts';

/**
 * The host side of `sshd-config` on the data directory: what sshd already uses (`sshd -T`), and the KRL
 * file it enforces, which several applications' CAs share on one host.
 */

/** The settings of the sshd on this machine that decide which user CAs it trusts and which KRL it enforces. */
export interface SshdTrustSettings {
  trustedUserCaKeys: string | null;
  revokedKeys: string | null;
}

/** `sshd -T` reads files and resolves nothing remote: a few seconds is plenty, and a hang is not ours to wait on. */
const SSHD_T_TIMEOUT_MS = 5_000;

/**
 * sshd's effective TrustedUserCAKeys and RevokedKeys, from `<sshd> -T` (`none` is null), or the reason they
 * could not be read (no sshd here, not root, a broken config): then nothing is known and the caller says so.
 */
export function readSshdTrust(sshd: string): SshdTrustSettings | { unknown: string } {
  const r = spawnSync(sshd, ['-T'], { encoding: 'utf8', timeout: SSHD_T_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1024 * 1024 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return { unknown: `${sshd} is not installed here` };
  if (r.status !== 0) {
    const why = (r.stderr || (r.error ? r.error.message : `exit ${r.status ?? r.signal}`)).trim().split('\n')[0];
    return { unknown: `${sshd} -T failed: ${why}` };
  }
  const value = (name: string) => {
    const line = r.stdout.split('\n').find((l) => l.toLowerCase().startsWith(`${name} `));
    const v = line?.slice(name.length + 1).trim();
    return v === undefined || v === '' || v === 'none' ? null : v;
  };
  return { trustedUserCaKeys: value('trustedusercakeys'), revokedKeys: value('revokedkeys') };
}

/** Why these files cannot be what sshd uses, or null: sshd reads one TrustedUserCAKeys file and one RevokedKeys file. */
export function conflictWithSshd(settings: SshdTrustSettings, caFile: string, krlFile: string): string | null {
  const ca = settings.trustedUserCaKeys;
  if (ca !== null && resolve(ca) !== resolve(caFile)) {
    return `sshd already trusts the user CAs in ${ca} (sshd -T), and it reads only one TrustedUserCAKeys file: a second line would be ignored. ` +
      `Add this CA to that file with --ca-file ${ca}`;
  }
  const krl = settings.revokedKeys;
  if (krl !== null && resolve(krl) !== resolve(krlFile)) {
    return `sshd already enforces the revocation list ${krl} (sshd -T), and it reads only one RevokedKeys file. ` +
      `If that file is access-ca's, give --krl-file ${krl}; otherwise merge the two lists before you use access-ca's`;
  }
  return null;
}

/** The key blobs of a TrustedUserCAKeys file's lines (`<type> <base64> [comment]`; comments skipped). */
export function caFileBlobs(caFile: string): Set<string> {
  if (!existsSync(caFile)) return new Set();
  return new Set(readFileSync(caFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/)[1] ?? '').filter(Boolean));
}

/**
 * Writes `krlFile` as the union of one application's KRL and what the file held for the other CAs the host
 * trusts (`trusted`, base64 blobs): sections of CAs no longer trusted are dropped, revoked plain keys kept.
 * A file that is not a KRL is refused rather than replaced: it may be someone else's revocations.
 */
export function mergeKrlFile(krlFile: string, appKrl: Buffer, appKeyBlob: string, trusted: Set<string>, comment: string): void {
  const mine = decodeKrl(appKrl);
  let kept: KrlCertificates[] = [];
  let keys: Buffer[] = [];
  let version = mine.version;
  if (existsSync(krlFile)) {
    let old;
    try {
      old = decodeKrl(readFileSync(krlFile));
    } catch (error) {
      throw new Error(`${krlFile} is not a KRL access-ca can read (${(error as Error).message}): move it away, or give another --krl-file`);
    }
    if (old.explicitKeys.length > 0 || old.sha1Keys.length > 0) {
      throw new Error(`${krlFile} revokes keys in ways access-ca does not write (explicit or SHA-1 entries): it is not access-ca's; give another --krl-file`);
    }
    kept = old.certificates.filter((c) => c.caKeyBlob !== null && trusted.has(c.caKeyBlob.toString('base64')) && c.caKeyBlob.toString('base64') !== appKeyBlob);
    keys = old.sha256Keys;
    // The file's version only grows, so sshd-sync and a later run can tell newer from older.
    if (old.version >= version) version = old.version + 1n;
  }
  const seen = new Set<string>();
  const sha256Keys = [...keys, ...mine.sha256Keys].filter((k) => !seen.has(k.toString('hex')) && seen.add(k.toString('hex')));
  const bytes = encodeKrl({
    version, generatedDate: BigInt(Math.floor(Date.now() / 1000)), comment,
    certificates: [...kept, ...mine.certificates], sha256Keys,
  });
  mkdirSync(dirname(krlFile), { recursive: true, mode: 0o755 });
  const tmp = `${krlFile}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, krlFile);
}
