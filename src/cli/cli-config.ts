import { parseCidr } from '../platform/cidr.ts';
import { resolve } from 'node:path';
import type { StoreConfig } from '../platform/store-runtime.ts';
import { OperatorError } from '../platform/operator-error.ts';

export type Env = Record<string, string | undefined>;

export interface GlobalOptions {
  dataDir?: string;
  databaseUrl?: string;
}

/** The data directory when neither `--data-dir` nor ACCESS_CA_DATA_DIR names one (relative to the working directory). */
export const DEFAULT_DATA_DIR = '.access-ca';

/** How an operator chooses the store: named in every refusal about where the store is. */
export const STORE_FLAGS = '--data-dir DIR or ACCESS_CA_DATA_DIR (or --database-url / ACCESS_CA_DATABASE_URL)';

/**
 * Flags win over environment, environment over defaults; parsed once here for every verb. A store is
 * created only where the operator said so: a location named by a flag or variable may be made; the
 * implicit default may not (`mayCreate: false`), except by the verbs that exist to make stores (serve,
 * init, migrate), which set it themselves.
 */
export function storeConfig(opts: GlobalOptions, env: Env, cwd: string): StoreConfig {
  const masterKeyFile = env['ACCESS_CA_MASTER_KEY_FILE'];
  const dataDir = opts.dataDir ?? env['ACCESS_CA_DATA_DIR'];
  const databaseUrl = opts.databaseUrl ?? env['ACCESS_CA_DATABASE_URL'];
  return {
    dataDir: resolve(cwd, dataDir ?? DEFAULT_DATA_DIR),
    // A relative SQLite path is the working directory's, as the data dir is.
    databaseUrl: databaseUrl !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(databaseUrl) ? resolve(cwd, databaseUrl) : databaseUrl,
    masterKeyFile: masterKeyFile ? resolve(cwd, masterKeyFile) : undefined,
    mayCreate: dataDir !== undefined || databaseUrl !== undefined,
    chosenBy: STORE_FLAGS,
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
export class CliInputError extends OperatorError {
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
