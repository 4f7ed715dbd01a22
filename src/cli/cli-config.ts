import { parseCidr } from '../platform/cidr.ts';
import { resolve } from 'node:path';
import type { StoreConfig } from '../platform/store-runtime.ts';

export type Env = Record<string, string | undefined>;

export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

/** Flags win over environment, environment over defaults; parsed once here for every verb. */
export function storeConfig(opts: GlobalOptions, env: Env, cwd: string): StoreConfig {
  const masterKeyFile = env['ACCESS_CA_MASTER_KEY_FILE'];
  return {
    dataDir: resolve(cwd, opts.dataDir ?? env['ACCESS_CA_DATA_DIR'] ?? '.access-ca'),
    databaseUrl: opts.databaseUrl ?? env['ACCESS_CA_DATABASE_URL'],
    masterKeyFile: masterKeyFile ? resolve(cwd, masterKeyFile) : undefined,
  };
}

export interface Listen {
  host: string;
  port: number;
}

/** Reads `host:port` (IPv6 as `[::1]:8787`). */
export function parseListen(value: string): Listen {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new CliInputError(`--listen must be host:port, e.g. 127.0.0.1:8787, got ${JSON.stringify(value)}`);
  return { host: match[1] ?? match[2]!, port };
}

/** `--trust-proxy`: comma-separated addresses or CIDR blocks of the proxies whose X-Forwarded-For is believed. */
export function parseTrustProxy(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((part) => {
    const block = part.trim();
    if (parseCidr(block) === null) throw new CliInputError(`--trust-proxy takes addresses or CIDR blocks such as 10.0.0.0/8, got ${JSON.stringify(block)}`);
    return block;
  });
}

/** A refusal of the command line itself, reported without a stack trace. */
export class CliInputError extends Error {
  override name = 'CliInputError';
}

/** A refusal from a server or the network, reported as it is (exit 1). */
export class ClientError extends Error {
  override name = 'ClientError';
}

/** The saved sign-in no longer works (refresh token revoked or expired): a new sign-in is needed. */
export class SignInExpired extends ClientError {
  override name = 'SignInExpired';
}
