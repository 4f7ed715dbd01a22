import type { Db } from '../platform/db/schema.ts';
import type { IdentityService } from '../identity/identity-service.ts';
import { FIRST_TOKEN_PERMISSIONS } from '../identity/permission-groups.ts';
import { shellWord } from '../platform/private-paths.ts';
import { resolve } from 'node:path';
import type { StoreConfig } from '../platform/store-runtime.ts';

/**
 * The first start's admin token must reach the operator. `serve` shows it once, in the banner; a start
 * stopped between making it and showing it (a crash, a kill -9) would leave an account nobody can use.
 * So the store says, until the banner has been written, that the first token is unseen; a later start
 * that finds that mark revokes the unseen token and makes and shows a new one.
 */
const UNSEEN = 'bootstrap_token_unseen';
const BOOTSTRAP_NAME = 'bootstrap admin';

/** What the banner shows: the first account and its admin token; `reissued` when an earlier start never showed it. */
export interface FirstToken {
  accountId: string;
  token: string;
  reissued: boolean;
}

/**
 * On an empty store, makes the first account and its admin token; on a store whose first token was never
 * shown, replaces that token. Null otherwise. Run it under the store's start-up lock.
 */
export async function firstToken(db: Db, identity: Pick<IdentityService, 'bootstrap' | 'listTokens' | 'revokeToken' | 'createToken'>): Promise<FirstToken | null> {
  const made = await identity.bootstrap();
  if (made) {
    await db.insertInto('settings').values({ name: UNSEEN, value: made.accountId }).execute();
    return { ...made, reissued: false };
  }
  const mark = await db.selectFrom('settings').select('value').where('name', '=', UNSEEN).executeTakeFirst();
  if (!mark) return null;
  const accountId = mark.value;
  for (const t of await identity.listTokens(accountId)) {
    if (t.name === BOOTSTRAP_NAME && t.status === 'active') await identity.revokeToken(t.id);
  }
  const token = await identity.createToken({ accountId, name: BOOTSTRAP_NAME, permissions: [...FIRST_TOKEN_PERMISSIONS] });
  return { accountId, token: token.value, reissued: true };
}

/** Records that the banner holding the first token was written: later starts show nothing. */
export async function firstTokenShown(db: Db): Promise<void> {
  await db.deleteFrom('settings').where('name', '=', UNSEEN).execute();
}

/** Where a started server is and how the operator runs the CLI on its store: what the banner and the reminder print. */
export interface StartFacts {
  /** The API base, e.g. http://127.0.0.1:8787/client/v4. */
  base: string;
  /** The web console's page, e.g. http://127.0.0.1:8787/console/. */
  consoleUrl: string;
  /** `access-ca` and the flags that point it at this server's store (no secret: a password stays in the environment). */
  cli: string;
}

/**
 * `access-ca` with the flags that reach this store from any directory: the data directory made absolute
 * (it holds master.key, and the SQLite file unless --database-url moved it), the database URL as given, or
 * as a reference to ACCESS_CA_DATABASE_URL when it holds a password, which is never printed.
 */
export function cliForStore(store: StoreConfig): string {
  const words = ['access-ca'];
  if (store.masterKeyFile !== undefined) words.unshift(`ACCESS_CA_MASTER_KEY_FILE=${shellWord(resolve(store.masterKeyFile))}`);
  if (store.databaseUrl === undefined || store.masterKeyFile === undefined) words.push('--data-dir', shellWord(resolve(store.dataDir)));
  if (store.databaseUrl !== undefined) words.push('--database-url', hasPassword(store.databaseUrl) ? '"$ACCESS_CA_DATABASE_URL"' : shellWord(store.databaseUrl));
  return words.join(' ');
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/** What the first token may do, in the operator's words, beside the groups' names. */
const FIRST_TOKEN_REACH = 'applications, their SSH CAs and Access policies; identity providers and groups; the audit trail; signing certificates (/ca/sign)';

/** The exact command that makes another token like the first one: every Access permission group, in `account`. */
export function tokenCreateCommand(cli: string, accountId: string): string {
  return `${cli} token create --account ${accountId} --name admin ${FIRST_TOKEN_PERMISSIONS.map((p) => `--permission ${shellWord(p)}`).join(' ')}`;
}

/** The first start's banner: the account, its admin token (shown this once), what it may do, the console and the first calls. */
export function firstStartBanner(first: FirstToken, facts: StartFacts): string {
  const { accountId, token } = first;
  const { base } = facts;
  return [
    '',
    first.reissued
      ? 'access-ca: the first start stopped before it showed the admin token of account "default": that token is revoked, and here is a new one.'
      : 'access-ca: a new store. Created account "default" and an admin token.',
    `The token holds every Access permission group (${FIRST_TOKEN_PERMISSIONS.join(', ')}): it may manage ${FIRST_TOKEN_REACH}.`,
    'The token is shown only this once: keep it somewhere safe.',
    '',
    `account_id: ${accountId}`,
    `api_token: ${token}`,
    '',
    `The web console: ${facts.consoleUrl} (sign in with this token).`,
    '',
    'In the shell you work from (the names the README uses):',
    `  export ACCOUNT_ID=${accountId} CLOUDFLARE_API_TOKEN=${token}`,
    '',
    'Create an Access application, then its SSH CA (use the "id" the first call returns as APP_ID):',
    `  curl -sS -X POST ${base}/accounts/$ACCOUNT_ID/access/apps -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' -d '{"name":"ssh","domain":"ssh.example.com"}'`,
    `  curl -sS -X POST ${base}/accounts/$ACCOUNT_ID/access/apps/$APP_ID/ca -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN"`,
    'Or with the official SDK (npm i cloudflare), which reads CLOUDFLARE_API_TOKEN itself:',
    `  const client = new Cloudflare({ baseURL: '${base}' }); const ca = await client.zeroTrust.access.applications.cas.create(process.env.APP_ID, { account_id: process.env.ACCOUNT_ID });`,
    `A narrower token, or another like this one: ${tokenCreateCommand(facts.cli, accountId)}`,
    '',
  ].join('\n');
}

/** How many accounts a restart names before it points at `account list`. */
const ACCOUNTS_NAMED = 3;

/**
 * What a later start says instead of the banner: the store's accounts (the first ones made) and the exact
 * command that makes an admin token, since the first token was shown once and may be lost. Never a token.
 */
export async function restartReminder(identity: Pick<IdentityService, 'listAccounts'>, facts: StartFacts): Promise<string | null> {
  const accounts = await identity.listAccounts();
  const first = accounts[0];
  if (!first) return null;
  const named = accounts.slice(0, ACCOUNTS_NAMED).map((a) => `account "${a.name}": ${a.id}`).join('; ');
  const more = accounts.length > ACCOUNTS_NAMED ? `; ${accounts.length - ACCOUNTS_NAMED} more (${facts.cli} account list)` : '';
  return [
    `access-ca: an existing store: ${named}${more}.`,
    `access-ca: an admin token is shown only when it is made; to make one: ${tokenCreateCommand(facts.cli, first.id)}`,
  ].join('\n');
}
