import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DbKind } from './schema.ts';

type AnyDb = Kysely<any>;

/** Forward-only migrations, numbered; each runs in its own transaction. Never edit a released one. */
function migrations(kind: DbKind): Record<string, Migration> {
  const blob = kind === 'postgres' ? 'bytea' : 'blob';
  return {
    '0001_initial': {
      async up(db: AnyDb) {
        await db.schema.createTable('settings')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('accounts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('zones')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('zones_account_name', ['account_id', 'name'])
          .execute();
        await db.schema.createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('api_key_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('account_members')
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('account_members_pk', ['account_id', 'user_id'])
          .execute();
        await db.schema.createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('zone_id', 'text', (c) => c.references('zones.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('not_before', 'text')
          .addColumn('expires_on', 'text')
          .addColumn('revoked_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('api_token_permissions')
          .addColumn('token_id', 'text', (c) => c.notNull().references('api_tokens.id').onDelete('cascade'))
          .addColumn('permission_group', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('api_token_permissions_pk', ['token_id', 'permission_group'])
          .execute();
        await db.schema.createTable('access_apps')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('zone_id', 'text', (c) => c.references('zones.id').onDelete('cascade'))
          .addColumn('aud', 'text', (c) => c.notNull().unique())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('domain', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('session_duration', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('access_apps_scope').on('access_apps')
          .columns(['account_id', 'zone_id', 'created_at']).execute();
        await db.schema.createTable('ssh_cas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          // One CA per app is the database's rule, so concurrent creates on any node yield one row.
          .addColumn('app_id', 'text', (c) => c.notNull().unique().references('access_apps.id').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('ssh_ca_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ca_id', 'text', (c) => c.notNull().references('ssh_cas.id').onDelete('cascade'))
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('private_key_sealed', blob, (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        // At most one signing key per CA; 'next' and 'previous' may join it during a rotation.
        await sql`create unique index ssh_ca_keys_one_active on ssh_ca_keys (ca_id) where state = 'active'`.execute(db);
        await db.schema.createIndex('ssh_ca_keys_ca').on('ssh_ca_keys').column('ca_id').execute();
      },
    },
  };
}

/** Supplies the migrations to Kysely's Migrator, which takes a lock so concurrent starts are safe. */
export function migrationProvider(kind: DbKind): MigrationProvider {
  return { getMigrations: async () => migrations(kind) };
}
