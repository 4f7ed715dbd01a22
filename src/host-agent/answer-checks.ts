// What the agent checks in a server's answer before a byte of it reaches a file sshd reads.
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { AgentError } from './agent-http.ts';

const KRL_MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
/** PROTOCOL.krl sections of an unsigned KRL: certificates, explicit keys, SHA-1 and SHA-256 hashes, extensions. */
const KRL_SECTIONS = new Set([1, 2, 3, 5, 255]);

/**
 * Checks that bytes are a whole OpenSSH KRL (PROTOCOL.krl): magic, format 1, header, then sections that
 * end exactly at the end. sshd refuses every login when it cannot parse RevokedKeys, so a truncated or
 * foreign file must never be written.
 */
export function checkKrl(bytes: Buffer): { version: bigint } {
  const refuse = (why: string) => new AgentError(`refused the server's KRL: ${why}`);
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


/**
 * A trust file's key lines, checked: each an ecdsa-sha2-nistp256 public key with a printable comment, and
 * together the same keys as the answer's `keys` list. Returns the lines in a canonical form.
 */
export function checkTrustLines(file: string, keys: unknown[], refuse: (why: string) => Error): string[] {
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
  const blobs = new Set(lines.map((l) => l.split(' ')[1]));
  const listed = keys.map((k) => (typeof (k as { public_key?: unknown } | null)?.public_key === 'string' ? (k as { public_key: string }).public_key.trim().split(/\s+/)[1] : undefined));
  if (listed.length !== lines.length || listed.some((b) => b === undefined || !blobs.has(b))) throw refuse('the file and the keys list disagree');
  return lines;
}
