import type { Db } from '../platform/db/schema.ts';
import type { Database } from '../platform/db/schema.ts';

export type AccountRow = Database['accounts'];
export type ZoneRow = Database['zones'];
export type TokenRow = Database['api_tokens'];
export type UserRow = Database['users'];

export interface TokenWithPermissions extends TokenRow {
  permissions: string[];
}

/** Persistence of accounts, zones, users and API tokens. */
export interface IdentityStore {
  countAccounts(): Promise<number>;
  insertAccount(row: AccountRow): Promise<void>;
  getAccount(id: string): Promise<AccountRow | undefined>;
  listAccounts(): Promise<AccountRow[]>;
  insertZone(row: ZoneRow): Promise<void>;
  getZone(id: string): Promise<ZoneRow | undefined>;
  listZones(accountId: string): Promise<ZoneRow[]>;
  insertUser(row: UserRow, accountId: string): Promise<void>;
  findUserByKey(email: string, keySha256: string): Promise<(UserRow & { accountIds: string[] }) | undefined>;
  insertToken(row: TokenRow, permissions: readonly string[]): Promise<void>;
  findTokenBySecret(secretSha256: string): Promise<TokenWithPermissions | undefined>;
  getToken(id: string): Promise<TokenWithPermissions | undefined>;
  listTokens(accountId?: string): Promise<TokenWithPermissions[]>;
  revokeToken(id: string, at: string): Promise<boolean>;
  /** Creates the first account and its admin token in one transaction, only if there is no account yet. */
  bootstrap(account: AccountRow, token: TokenRow, permissions: readonly string[]): Promise<boolean>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createIdentityStore(db: Db): IdentityStore {
  async function permissionsOf(tokenIds: string[]): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    if (tokenIds.length === 0) return map;
    const rows = await db.selectFrom('api_token_permissions').selectAll()
      .where('token_id', 'in', tokenIds).orderBy('permission_group').execute();
    for (const r of rows) map.set(r.token_id, [...(map.get(r.token_id) ?? []), r.permission_group]);
    return map;
  }
  async function withPermissions(rows: TokenRow[]): Promise<TokenWithPermissions[]> {
    const perms = await permissionsOf(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, permissions: perms.get(r.id) ?? [] }));
  }
  async function insertTokenIn(trx: Db, row: TokenRow, permissions: readonly string[]) {
    await trx.insertInto('api_tokens').values(row).execute();
    if (permissions.length > 0) {
      await trx.insertInto('api_token_permissions')
        .values(permissions.map((p) => ({ token_id: row.id, permission_group: p }))).execute();
    }
  }

  return {
    async countAccounts() {
      const r = await db.selectFrom('accounts').select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    async insertAccount(row) {
      await db.insertInto('accounts').values(row).execute();
    },
    getAccount: (id) => db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst(),
    listAccounts: () => db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('id').execute(),
    async insertZone(row) {
      await db.insertInto('zones').values(row).execute();
    },
    getZone: (id) => db.selectFrom('zones').selectAll().where('id', '=', id).executeTakeFirst(),
    listZones: (accountId) =>
      db.selectFrom('zones').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute(),
    async insertUser(row, accountId) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(row).execute();
        await trx.insertInto('account_members').values({ account_id: accountId, user_id: row.id, created_at: row.created_at }).execute();
      });
    },
    async findUserByKey(email, keySha256) {
      const user = await db.selectFrom('users').selectAll()
        .where('email', '=', email).where('api_key_sha256', '=', keySha256).executeTakeFirst();
      if (!user) return undefined;
      const members = await db.selectFrom('account_members').select('account_id').where('user_id', '=', user.id).execute();
      return { ...user, accountIds: members.map((m) => m.account_id) };
    },
    async insertToken(row, permissions) {
      await db.transaction().execute((trx) => insertTokenIn(trx, row, permissions));
    },
    // On every authenticated request: one query, a row per permission group.
    async findTokenBySecret(secretSha256) {
      const rows = await db.selectFrom('api_tokens')
        .leftJoin('api_token_permissions', 'api_token_permissions.token_id', 'api_tokens.id')
        .selectAll('api_tokens').select('api_token_permissions.permission_group')
        .where('api_tokens.secret_sha256', '=', secretSha256).orderBy('api_token_permissions.permission_group').execute();
      if (rows.length === 0) return undefined;
      const { permission_group: _, ...token } = rows[0]!;
      return { ...token, permissions: rows.map((r) => r.permission_group).filter((p): p is string => p !== null) };
    },
    async getToken(id) {
      const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? (await withPermissions([row]))[0] : undefined;
    },
    async listTokens(accountId) {
      let q = db.selectFrom('api_tokens').selectAll();
      if (accountId !== undefined) q = q.where('account_id', '=', accountId);
      return withPermissions(await q.orderBy('created_at').orderBy('id').execute());
    },
    async revokeToken(id, at) {
      const r = await db.updateTable('api_tokens').set({ revoked_at: at })
        .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async bootstrap(account, token, permissions) {
      return db.transaction().execute(async (trx) => {
        const existing = await trx.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
        if (existing) return false;
        await trx.insertInto('accounts').values(account).execute();
        await insertTokenIn(trx, token, permissions);
        return true;
      });
    },
  };
}
