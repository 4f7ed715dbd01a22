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

