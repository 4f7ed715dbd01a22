import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { modeText, openToOthers, posixModes, shellWord } from '../private-paths.ts';
import { OperatorError } from '../operator-error.ts';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Seals secrets at rest with AES-256-GCM under the master key; the AAD binds a sealed value to its row. */
export interface KeyVault {
  seal(plaintext: Uint8Array, aad: string): Buffer;
  /** Throws when the value was sealed under another key or for another row. */
  open(sealed: Uint8Array, aad: string): Buffer;
}

export class MasterKeyError extends OperatorError {
  override name = 'MasterKeyError';
}

/** A vault over a 32-byte master key. Layout: version ‖ iv(12) ‖ tag(16) ‖ ciphertext. */
export function createKeyVault(masterKey: Uint8Array): KeyVault {
  if (masterKey.length !== 32) throw new MasterKeyError('the master key must be 32 bytes');
  const key = Buffer.from(masterKey);
  return {
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), body]);
    },
    open(sealed, aad) {
      const buf = Buffer.from(sealed);
      if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== VERSION) {
        throw new MasterKeyError('sealed value has an unknown format');
      }
      const iv = buf.subarray(1, 1 + IV_BYTES);
      const tag = buf.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(buf.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
      } catch {
        throw new MasterKeyError('sealed value does not open under this master key');
      }
    },
  };
}

function decodeMasterKey(text: string, path: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new MasterKeyError(`${path} must hold 32 bytes as base64 or 64 hex characters`);
  }
  return key;
}

/**
 * Opens the master key file and checks it before reading a byte of it, on the open descriptor (no window
 * between check and read). Returns undefined when there is no such file.
 *
 * - Symlinks are followed and the file they reach is checked: a link's own mode means nothing, and secrets
 *   are often mounted as links (Kubernetes secret volumes). A link to a 0600 file is fine.
 * - It must be a regular file: a directory, FIFO or device is refused (O_NONBLOCK: a FIFO must not hang us).
 * - Like OpenSSH with private keys, any group or other permission bit is refused, never fixed for the
 *   operator: the key may already have been read, so the fix (and perhaps a new key) is theirs to make.
 *   The owner is not checked: on volume mounts it is often another uid, and the mode is what matters.
 */
function readMasterKeyFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP' || code === 'ENOTDIR') {
      throw new MasterKeyError(`cannot read master key file ${path} (${code})`);
    }
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new MasterKeyError(`master key file ${path} is not a regular file`);
    if (posixModes && openToOthers(stats.mode)) {
      throw new MasterKeyError(
        `permissions ${modeText(stats.mode)} for master key file ${path} are too open: ` +
        `it must not be accessible by other users. Run: chmod 600 ${shellWord(path)}`,
      );
    }
    return decodeMasterKey(readFileSync(fd, 'utf8'), path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the master key file, or creates it (mode 0600 in a 0700 directory, never overwriting) when
 * `create` is set. A file open to other users is refused. Returns the key and whether it was just made.
 */
export function loadMasterKey(path: string, create: boolean): { key: Buffer; created: boolean } {
  const existing = readMasterKeyFile(path);
  if (existing) return { key: existing, created: false };
  if (!create) throw new MasterKeyError(`master key file ${path} does not exist`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process made it first: use theirs, so both seal under one key.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadMasterKey(path, false);
    throw error;
  }
  return { key, created: true };
}
