import { join } from 'node:path';
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { AgentError } from './agent-http.ts';
import { readSecretFile, writeFileAtomic } from './file-safety.ts';

/** Where `host enroll` keeps what the host holds: its credential, its server, and which host keys it proved. */
export const CREDENTIAL_FILE = 'host-credential.json';
const FORMAT = 'access-ca-host-credential';

/** A host's credential file: 0600, owned by the agent's user, in a directory only it (or root) may write. */
export interface HostCredential {
  format: typeof FORMAT;
  version: 1;
  server: string;
  credential: string;
  host_id: string;
  account_id: string;
  target_id: string;
  /** The host keys enrolled: the private key file sshd reads (the certificate is named after it) and its public key. */
  host_keys: { path: string; public_key: string }[];
}

/** True when the directory holds a credential file (whatever its state: reading it checks it). */
export const credentialPath = (dir: string) => join(dir, CREDENTIAL_FILE);

/** Writes the credential file (0600) atomically. */
export function writeHostCredential(dir: string, credential: HostCredential): void {
  writeFileAtomic(dir, CREDENTIAL_FILE, `${JSON.stringify(credential, null, 2)}\n`, 0o600);
}

/**
 * Reads the credential file as sshd reads a private key: owned by the agent's user, no group or other
 * bits, no link, in a directory nobody else may write. `server` must be the origin it was enrolled with:
 * the credential is sent nowhere else.
 */
export function readHostCredential(dir: string, server: string): HostCredential {
  const path = credentialPath(dir);
  let parsed: Partial<HostCredential>;
  try {
    parsed = JSON.parse(readSecretFile(path, { maxBytes: 64 * 1024 }).toString('utf8')) as Partial<HostCredential>;
  } catch (error) {
    if (error instanceof SyntaxError) throw new AgentError(`${path} is not a host credential file (not JSON); enroll again with \`access-ca host enroll\``);
    throw error;
  }
  const bad = (why: string) => new AgentError(`${path}: ${why}; enroll again with \`access-ca host enroll\``);
  if (parsed.format !== FORMAT || parsed.version !== 1) throw bad('not a host credential file of this version');
  for (const field of ['server', 'credential', 'host_id', 'account_id', 'target_id'] as const) {
    if (typeof parsed[field] !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(parsed[field])) throw bad(`no ${field}`);
  }
  if (!Array.isArray(parsed.host_keys) || parsed.host_keys.length === 0) throw bad('no host keys');
  for (const k of parsed.host_keys) {
    if (typeof k?.path !== 'string' || !k.path.startsWith('/') || typeof k.public_key !== 'string') throw bad('a malformed host key entry');
    parseUserPublicKey(k.public_key);
  }
  if (parsed.server !== server) {
    throw new AgentError(`${path} was enrolled with ${parsed.server}, not ${server}: the credential goes only to its own server (enroll again to move the host)`);
  }
  return parsed as HostCredential;
}
