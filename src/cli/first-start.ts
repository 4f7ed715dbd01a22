import type { Db } from '../platform/db/schema.ts';
import type { IdentityService } from '../identity/identity-service.ts';

/**
 * The first start's admin token must reach the operator. `serve` shows it once, in the banner; a start
 * stopped between making it and showing it (a crash, a kill -9) would leave an account nobody can use.
 * So the store says, until the banner has been written, that the first token is unseen; a later start
 * that finds that mark revokes the unseen token and makes and shows a new one.
 */
const UNSEEN = 'bootstrap_token_unseen';
const BOOTSTRAP_NAME = 'bootstrap admin';
const BOOTSTRAP_PERMISSIONS = ['Access: Apps and Policies Write'];

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
  const token = await identity.createToken({ accountId, name: BOOTSTRAP_NAME, permissions: BOOTSTRAP_PERMISSIONS });
  return { accountId, token: token.value, reissued: true };
}

/** Records that the banner holding the first token was written: later starts show nothing. */
export async function firstTokenShown(db: Db): Promise<void> {
  await db.deleteFrom('settings').where('name', '=', UNSEEN).execute();
}
