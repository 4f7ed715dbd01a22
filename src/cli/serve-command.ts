import pino from 'pino';
import { buildApp, defaultAppConfig } from '../app.ts';
import { systemClock } from '../platform/clock.ts';
import { cryptoRandom } from '../platform/random.ts';
import { openStoreRuntime, type StoreConfig } from '../platform/store-runtime.ts';
import { createIdentityStore } from '../identity/identity-store.ts';
import { createIdentityService } from '../identity/identity-service.ts';
import type { Command } from 'commander';
import { CliInputError, parseListen, parseTrustProxy, type Env, type Listen } from './cli-config.ts';
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

/** What the `serve` verb needs from the program that registers it. */
export interface ServeCommandDeps {
  env: Env;
  streams: Streams;
  globals: () => StoreConfig;
  allowPrivateIdp: boolean;
  isUserError: (error: unknown) => boolean;
  setExitCode: (code: number) => void;
}

/** Registers `access-ca serve` and its options. */
export function registerServeCommand(program: Command, deps: ServeCommandDeps): void {
  program.command('serve').description('run the API server (what `npm start` runs)')
    .option('--listen <host:port>', 'address to listen on (env ACCESS_CA_LISTEN, default 127.0.0.1:8787)')
    .option('--trust-proxy <addresses>', 'comma-separated addresses or CIDR blocks of your reverse proxies; their X-Forwarded-For names the client (env ACCESS_CA_TRUST_PROXY)')
    .option('--allow-private-idp', 'development only: identity providers\' JWKS URLs may reach private, loopback and link-local addresses (env ACCESS_CA_ALLOW_PRIVATE_IDP=1)')
    .option('--no-global-keys', 'refuse users\' global API keys (X-Auth-Email/X-Auth-Key): only API tokens work (env ACCESS_CA_GLOBAL_KEYS=off)')
    .action(async (o: { listen?: string; allowPrivateIdp?: boolean; trustProxy?: string; globalKeys?: boolean }) => {
      try {
        await serve({
          // The flag can only turn keys off; without it the environment decides.
          globalKeys: o.globalKeys === false ? false : parseGlobalKeys(deps.env['ACCESS_CA_GLOBAL_KEYS']),
          trustProxy: parseTrustProxy(o.trustProxy ?? deps.env['ACCESS_CA_TRUST_PROXY']),
          store: deps.globals(),
          listen: parseListen(o.listen ?? deps.env['ACCESS_CA_LISTEN'] ?? '127.0.0.1:8787'),
          logLevel: deps.env['ACCESS_CA_LOG_LEVEL'] ?? 'info',
          allowPrivateIdpAddresses: o.allowPrivateIdp === true || deps.allowPrivateIdp,
          streams: deps.streams,
        });
      } catch (error) {
        deps.setExitCode(deps.isUserError(error) ? 2 : 1);
        deps.streams.stderr.write(`access-ca: ${deps.isUserError(error) ? (error as Error).message : (error as Error).stack}\n`);
      }
    });
}
