import { randomBytes, randomUUID } from 'node:crypto';

/** The one source of identifiers and secrets, all from the OS CSPRNG. */
export interface Random {
  hex(bytes: number): string;
  uuid(): string;
  /** A bearer secret of `bytes` random bytes, base64url (no padding). */
  secret(bytes: number): string;
}

export const cryptoRandom: Random = {
  hex: (bytes) => randomBytes(bytes).toString('hex'),
  uuid: () => randomUUID(),
  secret: (bytes) => randomBytes(bytes).toString('base64url'),
};
