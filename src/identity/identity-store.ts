import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../platform/db/schema.ts';
import type { Database } from '../platform/db/schema.ts';
import type { AuditRow } from '../platform/audit-events.ts';
import { takeHostTurn, zoneGrantConflict, ZoneConflictError } from './host-delegation.ts';

export type AccountRow = Database['accounts'];
export type ZoneRow = Database['zones'];
export type TokenRow = Database['api_tokens'];
export type UserRow = Database['users'];

export interface TokenWithPermissions extends TokenRow {
  permissions: string[];
}

/** A user with the accounts it belongs to. */
export type UserWithAccounts = UserRow & { accountIds: string[] };

/**
 * Persistence of accounts, zones, users and API tokens. A change takes the audit rows that describe it
 * (`events`) and writes them in its own transaction: no change without its event, no event without its change.
 */
export interface IdentityStore {
  countAccounts(): Promise<number>;
  insertAccount(row: AccountRow): Promise<void>;
  getAccount(id: string): Promise<AccountRow | undefined>;
  /** These accounts, oldest first (the ones a credential may act on). */
  accountsIn(ids: readonly string[]): Promise<AccountRow[]>;
  listAccounts(): Promise<AccountRow[]>;
  /** Inserts a zone unless another account's zone or application holds its name (ZoneConflictError). */
  insertZone(row: ZoneRow): Promise<void>;
  getZone(id: string): Promise<ZoneRow | undefined>;
  /**
   * Deletes a zone that holds nothing of its own; otherwise says what it holds (ZoneConflictError): the
   * schema would cascade to its applications, CAs, tokens, policies and groups, which no operator means.
   */
  deleteZone(id: string): Promise<void>;
  /** The zones of these accounts and these zones, oldest first, optionally of one name, with their account's name. */
  zonesIn(accountIds: readonly string[], zoneIds: readonly string[], name?: string): Promise<(ZoneRow & { account_name: string })[]>;
  listZones(accountId: string): Promise<ZoneRow[]>;
  insertUser(row: UserRow, accountId: string, events?: readonly AuditRow[]): Promise<void>;
  /** On every request with a global key: one lookup by email and key hash, then the memberships. */
  findUserByKey(email: string, keySha256: string): Promise<UserWithAccounts | undefined>;
  getUserByEmail(email: string): Promise<UserWithAccounts | undefined>;
  /** Users, oldest first; with an account, only its members. */
  listUsers(accountId?: string): Promise<UserWithAccounts[]>;
  /** Replaces a user's key hash; false when the user is gone. The old key stops matching with the commit. */
  setUserKey(userId: string, keySha256: string, events?: readonly AuditRow[]): Promise<boolean>;
  /** Deletes a user and its memberships; false when it was gone already. */
  deleteUser(userId: string, events?: readonly AuditRow[]): Promise<boolean>;
  insertToken(row: TokenRow, permissions: readonly string[], events?: readonly AuditRow[]): Promise<void>;
  findTokenBySecret(secretSha256: string): Promise<TokenWithPermissions | undefined>;
  getToken(id: string): Promise<TokenWithPermissions | undefined>;
  listTokens(accountId?: string): Promise<TokenWithPermissions[]>;
  revokeToken(id: string, at: string, events?: readonly AuditRow[]): Promise<boolean>;
  /** Creates the first account and its admin token in one transaction, only if there is no account yet. */
  bootstrap(account: AccountRow, token: TokenRow, permissions: readonly string[], events?: readonly AuditRow[]): Promise<boolean>;
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
  async function insertEvents(trx: Db, events: readonly AuditRow[]) {
    if (events.length > 0) await trx.insertInto('audit_events').values([...events]).execute();
  }
  async function withAccounts(users: UserRow[]): Promise<UserWithAccounts[]> {
    if (users.length === 0) return [];
    const members = await db.selectFrom('account_members').select(['user_id', 'account_id'])
      .where('user_id', 'in', users.map((u) => u.id)).orderBy('created_at').orderBy('account_id').execute();
    return users.map((u) => ({ ...u, accountIds: members.filter((m) => m.user_id === u.id).map((m) => m.account_id) }));
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
    accountsIn: async (ids) => (ids.length === 0 ? []
      : db.selectFrom('accounts').selectAll().where('id', 'in', [...ids]).orderBy('created_at').orderBy('id').execute()),
    listAccounts: () => db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('id').execute(),
    async insertZone(row) {
      await db.transaction().execute(async (trx) => {
        const conflict = await zoneGrantConflict(trx, row);
        if (conflict !== undefined) throw new ZoneConflictError(conflict);
        await trx.insertInto('zones').values(row).execute();
      });
    },
    getZone: (id) => db.selectFrom('zones').selectAll().where('id', '=', id).executeTakeFirst(),
    async deleteZone(id) {
      await db.transaction().execute(async (trx) => {
        // In turn with host claims: an application claimed into this zone meanwhile would go with the cascade.
        await takeHostTurn(trx);
        // PostgreSQL: the zone's row first. A token, policy or group being made in the zone holds its key
        // (the foreign key's check) until it commits, so the counts below wait for it and see it; one made
        // after waits for this delete and fails on the key, instead of being created and cascaded away.
        if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select id from zones where id = ${id} for update`.execute(trx);
        const held: string[] = [];
        const kinds = [['access_apps', 'applications'], ['api_tokens', 'API tokens'], ['access_policies', 'policies'], ['access_groups', 'groups']] as const;
        for (const [table, what] of kinds) {
          const r = await trx.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as('n')).where('zone_id', '=', id).executeTakeFirst();
          const n = Number(r?.n ?? 0);
          if (n > 0) held.push(`${n} ${what}`);
        }
        if (held.length > 0) throw new ZoneConflictError(`zone ${id} still holds ${held.join(', ')}; delete them first`);
        await trx.deleteFrom('zones').where('id', '=', id).execute();
      });
    },
    async zonesIn(accountIds, zoneIds, name) {
      if (accountIds.length === 0 && zoneIds.length === 0) return [];
      let q = db.selectFrom('zones').innerJoin('accounts', 'accounts.id', 'zones.account_id')
        .selectAll('zones').select('accounts.name as account_name')
        .where((eb) => eb.or([
          ...(accountIds.length > 0 ? [eb('zones.account_id', 'in', [...accountIds])] : []),
          ...(zoneIds.length > 0 ? [eb('zones.id', 'in', [...zoneIds])] : []),
        ]));
      if (name !== undefined) q = q.where('zones.name', '=', name);
      return q.orderBy('zones.created_at').orderBy('zones.id').execute();
    },
    listZones: (accountId) =>
      db.selectFrom('zones').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute(),
    async insertUser(row, accountId, events = []) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values(row).execute();
        await trx.insertInto('account_members').values({ account_id: accountId, user_id: row.id, created_at: row.created_at }).execute();
        await insertEvents(trx, events);
      });
    },
    async findUserByKey(email, keySha256) {
      const user = await db.selectFrom('users').selectAll()
        .where('email', '=', email).where('api_key_sha256', '=', keySha256).executeTakeFirst();
      if (!user) return undefined;
      const members = await db.selectFrom('account_members').select('account_id').where('user_id', '=', user.id).execute();
      return { ...user, accountIds: members.map((m) => m.account_id) };
    },
    async getUserByEmail(email) {
      const user = await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
      return user ? (await withAccounts([user]))[0] : undefined;
    },
    async listUsers(accountId) {
      let q = db.selectFrom('users').selectAll('users');
      if (accountId !== undefined) {
        q = q.where('users.id', 'in', db.selectFrom('account_members').select('user_id').where('account_id', '=', accountId));
      }
      return withAccounts(await q.orderBy('users.created_at').orderBy('users.id').execute());
    },
    async setUserKey(userId, keySha256, events = []) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('users').set({ api_key_sha256: keySha256 }).where('id', '=', userId).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        await insertEvents(trx, events);
        return true;
      });
    },
    async deleteUser(userId, events = []) {
      return db.transaction().execute(async (trx) => {
        await trx.deleteFrom('account_members').where('user_id', '=', userId).execute();
        const r = await trx.deleteFrom('users').where('id', '=', userId).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await insertEvents(trx, events);
        return true;
      });
    },
    async insertToken(row, permissions, events = []) {
      await db.transaction().execute(async (trx) => {
        await insertTokenIn(trx, row, permissions);
        await insertEvents(trx, events);
      });
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
    async revokeToken(id, at, events = []) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('api_tokens').set({ revoked_at: at })
          .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
        // Revoking twice changes nothing, so it is not a second event either.
        if (Number(r.numUpdatedRows) === 0) return false;
        await insertEvents(trx, events);
        return true;
      });
    },
    async bootstrap(account, token, permissions, events = []) {
      return db.transaction().execute(async (trx) => {
        const existing = await trx.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
        if (existing) return false;
        await trx.insertInto('accounts').values(account).execute();
        await insertTokenIn(trx, token, permissions);
        await insertEvents(trx, events);
        return true;
      });
    },
  };
}
