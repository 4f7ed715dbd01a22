import pino from 'pino';
import { buildApp, defaultAppConfig } from '../app.ts';
import { systemClock } from '../platform/clock.ts';
import { cryptoRandom } from '../platform/random.ts';
import { openStoreRuntime, type StoreConfig } from '../platform/store-runtime.ts';
import { createIdentityStore } from '../identity/identity-store.ts';
import { createIdentityService } from '../identity/identity-service.ts';
import { CliInputError, type Listen } from './cli-config.ts';
import type { Streams } from './output.ts';

export interface ServeOptions {
  store: StoreConfig;
  listen: Listen;
  logLevel: string;
  /** See AppConfig.trustProxy. */
  trustProxy: string[];
  /** Development only: see AppConfig.allowPrivateIdpAddresses. */
  allowPrivateIdpAddresses: boolean;
  /** See AppConfig.globalKeys. */
  globalKeys: boolean;
  streams: Streams;
}

function origin(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function banner(base: string, accountId: string, token: string): string {
  return [
    '',
    'access-ca: a new store. Created account "default" and an admin token (Access: Apps and Policies Write).',
    'The token is shown only this once: keep it somewhere safe.',
    '',
    `account_id: ${accountId}`,
    `api_token: ${token}`,
    '',
    'Create an Access application, then its SSH CA (use the "id" the first call returns):',
    `  curl -sS -X POST ${base}/accounts/${accountId}/access/apps -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '{"name":"ssh","domain":"ssh.example.com"}'`,
    `  curl -sS -X POST ${base}/accounts/${accountId}/access/apps/APP_ID/ca -H 'Authorization: Bearer ${token}'`,
    'Or with the official SDK (npm i cloudflare):',
    `  const client = new Cloudflare({ apiToken: '${token}', baseURL: '${base}' }); const ca = await client.zeroTrust.access.applications.cas.create('APP_ID', { account_id: '${accountId}' });`,
    '',
  ].join('\n');
}

/** ACCESS_CA_GLOBAL_KEYS: `on` (the default, as before) or `off`; anything else is refused rather than guessed. */
export function parseGlobalKeys(value: string | undefined): boolean {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'on' || v === '1' || v === 'true') return true;
  if (v === 'off' || v === '0' || v === 'false') return false;
  throw new CliInputError(`ACCESS_CA_GLOBAL_KEYS must be on or off, got ${JSON.stringify(value)}`);
}

/** `access-ca serve`: opens the store, makes the first account on an empty one, and listens. */
export async function serve(opts: ServeOptions): Promise<void> {
  const runtime = await openStoreRuntime(opts.store, { notice: (text) => opts.streams.stderr.write(`${text}\n`) });
  const logger = pino({
    level: opts.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers["x-auth-key"]'], censor: '[redacted]' },
  });
  // Several nodes may start at once on one empty store: exactly one makes the first account.
  const first = await runtime.database.withStartupLock((db) =>
    createIdentityService({ store: createIdentityStore(db), clock: systemClock, random: cryptoRandom }).bootstrap());

  const app = await buildApp({
    config: { ...defaultAppConfig, allowPrivateIdpAddresses: opts.allowPrivateIdpAddresses, trustProxy: opts.trustProxy, globalKeys: opts.globalKeys }, db: runtime.database.db, clock: systemClock, random: cryptoRandom,
    keyVault: runtime.vault, logger,
  });
  await app.listen({ host: opts.listen.host, port: opts.listen.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.listen.port;
  const base = `${origin(opts.listen.host, port)}${defaultAppConfig.basePath}`;

  if (first) opts.streams.stderr.write(`${banner(base, first.accountId, first.token)}\n`);
  if (opts.allowPrivateIdpAddresses) {
    opts.streams.stderr.write('access-ca: identity providers may be on private, loopback and link-local addresses (--allow-private-idp): for development only\n');
  }
  if (!opts.globalKeys) opts.streams.stderr.write('access-ca: global API keys are off: requests with X-Auth-Email/X-Auth-Key are refused; use API tokens\n');
  opts.streams.stderr.write(`access-ca listening on ${origin(opts.listen.host, port)} (API base ${base}; store ${runtime.database.describe})\n`);

  let closing = false;
  const stop = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    await app.close();
    await runtime.database.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
