import type { Database, Db } from '../platform/db/schema.ts';

export type IdpRow = Database['identity_providers'];

/** Persistence of identity providers, always within one account. */
export interface IdentityProvidersStore {
  insert(row: IdpRow): Promise<void>;
  get(accountId: string, id: string): Promise<IdpRow | undefined>;
  findByIssuer(accountId: string, issuer: string): Promise<IdpRow | undefined>;
  /** Every provider of an account, oldest first. */
  listForAccount(accountId: string): Promise<IdpRow[]>;
  list(accountId: string, offset: number, limit: number): Promise<{ rows: IdpRow[]; total: number }>;
  /** Everything but the trial key, which a provider keeps for its life. */
  update(accountId: string, id: string, fields: Omit<IdpRow, 'id' | 'account_id' | 'created_at' | 'trial_key_sealed'>): Promise<IdpRow | undefined>;
  delete(accountId: string, id: string): Promise<boolean>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createIdentityProvidersStore(db: Db): IdentityProvidersStore {
  const get = (accountId: string, id: string) =>
    db.selectFrom('identity_providers').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return {
    async insert(row) {
      await db.insertInto('identity_providers').values(row).execute();
    },
    get,
    findByIssuer: (accountId, issuer) =>
      db.selectFrom('identity_providers').selectAll().where('account_id', '=', accountId).where('issuer', '=', issuer).executeTakeFirst(),
    listForAccount: (accountId) =>
      db.selectFrom('identity_providers').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute(),
    async list(accountId, offset, limit) {
      const [rows, count] = await Promise.all([
        db.selectFrom('identity_providers').selectAll().where('account_id', '=', accountId)
          .orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        db.selectFrom('identity_providers').select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('account_id', '=', accountId).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async update(accountId, id, fields) {
      const r = await db.updateTable('identity_providers').set(fields).where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0 ? get(accountId, id) : undefined;
    },
    async delete(accountId, id) {
      const r = await db.deleteFrom('identity_providers').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
  };
}
