import { isIPv4, isIPv6 } from 'node:net';
import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DbKind } from './schema.ts';
import { hostOfDomain } from '../hostnames.ts';
import { createGrantRevisions, createRevisionCounter, watchGatewayCa, watchTables, watchWithdrawals, type RevisionCounter } from './grant-revisions.ts';
import { createCaListing } from './ca-listing.ts';

type AnyDb = Kysely<any>;

/**
 * What a host trusts and enforces, per account: which CA keys cover which hostnames (applications, their
 * CAs and keys, targets), what is revoked (every revocation moves its app's KRL version), and the host
 * CA. A host's bundle and KRL carry this revision as their version, so it only grows.
 */
const FLEET: RevisionCounter = {
  table: 'fleet_revisions', triggerPrefix: 'fleet_revision', functionName: 'access_ca_bump_fleet_revision',
  tables: {
    access_apps: 'account', ssh_cas: 'app', ssh_ca_keys: 'ca', ssh_revoked_keys: 'app', ssh_krl_versions: 'app',
    infrastructure_targets: 'account', host_cas: 'account', host_ca_keys: 'account', host_revoked_keys: 'account',
    // A zone decides which names an account's host certificates may carry (host-ca-service.ts).
    zones: 'account',
  },
};

/**
 * An address as a fixed-width hex string (8 digits for IPv4, 32 for IPv6) that sorts and compares as the
 * address does, so range filters are plain comparisons in either database; null for what is no address.
 * Written by migration 0012 and by the targets store (infrastructure/targets-store.ts).
 */
export function ipAddressKey(ip: string): string | null {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number)).toString('hex');
  if (!isIPv6(ip)) return null;
  let text = ip.split('%')[0]!.toLowerCase();
  // An IPv4 tail (`::ffff:10.0.0.1`) is the last two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const zeros = rest === undefined ? [] : new Array<string>(8 - groups(head).length - groups(rest).length).fill('0');
  return [...groups(head), ...zeros, ...groups(rest)].map((g) => g.padStart(4, '0')).join('');
}

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
    '0002_ssh_certificates': {
      async up(db: AnyDb) {
        await db.schema.createTable('identity_providers')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('issuer', 'text', (c) => c.notNull())
          .addColumn('jwks_url', 'text')
          .addColumn('jwks_json', 'text')
          .addColumn('audiences', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('identity_providers_account_issuer', ['account_id', 'issuer'])
          .execute();
        await db.schema.createTable('ssh_cert_policies')
          .addColumn('app_id', 'text', (c) => c.primaryKey().references('access_apps.id').onDelete('cascade'))
          .addColumn('policy', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        // No foreign keys: the record of what was issued outlives the CA and the app.
        await db.schema.createTable('ssh_certificates')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('serial', 'text', (c) => c.notNull())
          .addColumn('ca_id', 'text', (c) => c.notNull())
          .addColumn('ca_key_id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('principals', 'text', (c) => c.notNull())
          .addColumn('valid_after', 'text', (c) => c.notNull())
          .addColumn('valid_before', 'text', (c) => c.notNull())
          .addColumn('identity', 'text', (c) => c.notNull())
          .addColumn('public_key_type', 'text', (c) => c.notNull())
          .addColumn('public_key_fingerprint', 'text', (c) => c.notNull())
          .addColumn('critical_options', 'text', (c) => c.notNull())
          .addColumn('extensions', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('ssh_certificates_ca_serial', ['ca_id', 'serial'])
          .execute();
        await db.schema.createIndex('ssh_certificates_ca_valid').on('ssh_certificates').columns(['ca_id', 'valid_before']).execute();
        await db.schema.createIndex('ssh_certificates_account').on('ssh_certificates').columns(['account_id', 'created_at']).execute();
        await db.schema.createTable('audit_events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_events_account').on('audit_events').columns(['account_id', 'created_at']).execute();
      },
    },
    '0003_oidc_clients': {
      async up(db: AnyDb) {
        await db.schema.alterTable('identity_providers').addColumn('client_id', 'text').execute();
        await db.schema.alterTable('identity_providers').addColumn('client_secret_sealed', blob).execute();
        await db.schema.alterTable('identity_providers')
          .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('openid email profile')).execute();
        await db.schema.alterTable('identity_providers')
          .addColumn('email_claim', 'text', (c) => c.notNull().defaultTo('email')).execute();
      },
    },
    '0004_access_policies': {
      async up(db: AnyDb) {
        // Who may get a certificate: Access groups, policies (reusable when app_id is null) and the
        // ordered links from applications to the policies they use.
        await db.schema.createTable('access_groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('zone_id', 'text', (c) => c.references('zones.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('include', 'text', (c) => c.notNull())
          .addColumn('exclude', 'text', (c) => c.notNull())
          .addColumn('require', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('access_groups_scope').on('access_groups').columns(['account_id', 'zone_id', 'created_at']).execute();
        await db.schema.createTable('access_policies')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('zone_id', 'text', (c) => c.references('zones.id').onDelete('cascade'))
          .addColumn('app_id', 'text', (c) => c.references('access_apps.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('decision', 'text', (c) => c.notNull())
          .addColumn('include', 'text', (c) => c.notNull())
          .addColumn('exclude', 'text', (c) => c.notNull())
          .addColumn('require', 'text', (c) => c.notNull())
          .addColumn('session_duration', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('access_policies_scope').on('access_policies').columns(['account_id', 'zone_id', 'created_at']).execute();
        await db.schema.createIndex('access_policies_app').on('access_policies').column('app_id').execute();
        await db.schema.createTable('access_app_policies')
          .addColumn('app_id', 'text', (c) => c.notNull().references('access_apps.id').onDelete('cascade'))
          // No cascade: a policy that an application links cannot be deleted, whatever races with it (a
          // deny policy deleted while being attached would let people in). An app's own link goes first.
          .addColumn('policy_id', 'text', (c) => c.notNull().references('access_policies.id'))
          .addColumn('precedence', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('access_app_policies_pk', ['app_id', 'policy_id'])
          // Cloudflare: precedence is unique within an app; the database keeps it so across nodes.
          .addUniqueConstraint('access_app_policies_precedence', ['app_id', 'precedence'])
          .execute();
        await db.schema.createIndex('access_app_policies_policy').on('access_app_policies').column('policy_id').execute();

        // One host, one application, in the whole deployment: sign-in and cert_sign look apps up by host.
        await db.schema.alterTable('access_apps').addColumn('host', 'text').execute();
        const apps = await db.selectFrom('access_apps').select(['id', 'domain']).where('domain', 'is not', null)
          .orderBy('created_at').orderBy('id').execute();
        const taken = new Set<string>();
        for (const app of apps as { id: string; domain: string }[]) {
          const host = hostOfDomain(app.domain)!;
          // An older store may hold two apps on one host: the first keeps it; the later ones lose host
          // lookup (fail closed) until an operator gives them a host of their own.
          if (taken.has(host)) continue;
          taken.add(host);
          await db.updateTable('access_apps').set({ host }).where('id', '=', app.id).execute();
        }
        await sql`create unique index access_apps_host on access_apps (host) where host is not null`.execute(db);

        // What a provider vouches for: verified emails (unless its email claim is authoritative), the
        // email domains it speaks for, and how long an identity token may live.
        await db.schema.alterTable('identity_providers')
          .addColumn('email_verified_required', 'integer', (c) => c.notNull().defaultTo(1)).execute();
        await db.schema.alterTable('identity_providers')
          .addColumn('email_domains', 'text', (c) => c.notNull().defaultTo('[]')).execute();
        await db.schema.alterTable('identity_providers')
          .addColumn('max_token_lifetime', 'integer', (c) => c.notNull().defaultTo(86_400)).execute();
      },
    },
    '0005_revocation': {
      async up(db: AnyDb) {
        // A certificate's revocation is kept on its inventory row; the revocation itself (who, when, why,
        // what it selected) is its own row; a revoked user key also refuses every future certificate.
        await db.schema.alterTable('ssh_certificates').addColumn('revoked_at', 'text').execute();
        await db.schema.alterTable('ssh_certificates').addColumn('revocation_id', 'text').execute();
        await db.schema.createIndex('ssh_certificates_app').on('ssh_certificates').columns(['app_id', 'created_at']).execute();
        await db.schema.createIndex('ssh_certificates_app_identity').on('ssh_certificates').columns(['app_id', 'identity']).execute();
        await db.schema.createIndex('ssh_certificates_app_key').on('ssh_certificates').columns(['app_id', 'public_key_fingerprint']).execute();
        await db.schema.createIndex('ssh_certificates_app_revoked').on('ssh_certificates').columns(['app_id', 'revoked_at', 'valid_before']).execute();
        await db.schema.createTable('ssh_revocations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('certificates', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ssh_revocations_app').on('ssh_revocations').columns(['app_id', 'created_at']).execute();
        await db.schema.createTable('ssh_revoked_keys')
          .addColumn('app_id', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('revocation_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('ssh_revoked_keys_pk', ['app_id', 'fingerprint'])
          .execute();
        // The KRL's version: it only grows, one step per revocation, on every node (it lives in the store).
        await db.schema.createTable('ssh_krl_versions')
          .addColumn('app_id', 'text', (c) => c.primaryKey())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0006_grant_revisions': {
      up: (db: AnyDb) => createGrantRevisions(db, kind),
    },
    '0007_ca_listing': {
      up: (db: AnyDb) => createCaListing(db, kind),
    },
    '0008_cert_inventory_indexes': {
      async up(db: AnyDb) {
        // Every issued certificate writes one page per index, and the indexes are most of a commit's work.
        // Nothing reads certificates by CA or by account; the KRL reads only revoked ones, so its index
        // holds only those (SQLite and PostgreSQL both use a partial index when the query implies it).
        await db.schema.dropIndex('ssh_certificates_ca_valid').execute();
        await db.schema.dropIndex('ssh_certificates_account').execute();
        await db.schema.dropIndex('ssh_certificates_app_revoked').execute();
        await sql`create index ssh_certificates_app_revoked on ssh_certificates (app_id, valid_before) where revoked_at is not null`.execute(db);
      },
    },
    '0009_fleet': {
      async up(db: AnyDb) {
        await db.schema.createTable('infrastructure_targets')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('hostname', 'text', (c) => c.notNull())
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('ipv4', 'text')
          .addColumn('ipv4_vnet', 'text')
          .addColumn('ipv6', 'text')
          .addColumn('ipv6_vnet', 'text')
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('aliases', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('modified_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('infrastructure_targets_account').on('infrastructure_targets').columns(['account_id', 'created_at']).execute();
        await db.schema.createIndex('infrastructure_targets_host').on('infrastructure_targets').columns(['account_id', 'host']).execute();
        await db.schema.createTable('host_join_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('target_id', 'text', (c) => c.notNull().references('infrastructure_targets.id').onDelete('cascade'))
          .addColumn('secret_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('host_key_fingerprints', 'text', (c) => c.notNull())
          .addColumn('challenge', 'text')
          .addColumn('challenge_expires_at', 'text')
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('host_join_tokens_target').on('host_join_tokens').column('target_id').execute();
        await db.schema.createTable('host_enrollments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('target_id', 'text', (c) => c.notNull().references('infrastructure_targets.id').onDelete('cascade'))
          .addColumn('secret_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('host_keys', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text')
          .execute();
        await db.schema.createIndex('host_enrollments_account').on('host_enrollments').columns(['account_id', 'created_at']).execute();
        await db.schema.createIndex('host_enrollments_target').on('host_enrollments').column('target_id').execute();
        await db.schema.createTable('host_cas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().unique().references('accounts.id').onDelete('cascade'))
          .addColumn('max_ttl', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('host_ca_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ca_id', 'text', (c) => c.notNull().references('host_cas.id').onDelete('cascade'))
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('private_key_sealed', blob, (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await sql`create unique index host_ca_keys_one_active on host_ca_keys (ca_id) where state = 'active'`.execute(db);
        await db.schema.createIndex('host_ca_keys_ca').on('host_ca_keys').column('ca_id').execute();
        await db.schema.createTable('host_revoked_keys')
          .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('host_revoked_keys_pk', ['account_id', 'fingerprint'])
          .execute();
        // A host's KRL reads an app's revoked certificates a chunk at a time in (valid_before, id) order: with
        // id in the index each chunk is a seek, not a sort of everything after it.
        await db.schema.dropIndex('ssh_certificates_app_revoked').execute();
        await sql`create index ssh_certificates_app_revoked on ssh_certificates (app_id, valid_before, id) where revoked_at is not null`.execute(db);
        // The host's KRL holds the account's revoked user keys: found through their revocation's account.
        await db.schema.createIndex('ssh_revocations_account').on('ssh_revocations').columns(['account_id', 'kind']).execute();
        await createRevisionCounter(db, kind, FLEET);
      },
    },
    '0010_withdrawal': {
      async up(db: AnyDb) {
        // A revocation may cover a whole account (a person, a user key): its app_id becomes optional. Some
        // kinds also block what comes next (a person's earlier sign-ins, a principal) until lifted.
        if (kind === 'postgres') {
          await sql`alter table ssh_revocations alter column app_id drop not null`.execute(db);
          await db.schema.alterTable('ssh_revocations').addColumn('lifted_at', 'text').execute();
          await db.schema.alterTable('ssh_revocations').addColumn('lifted_by', 'text').execute();
        } else {
          // SQLite cannot drop NOT NULL: the table is made again (no trigger or foreign key names it yet).
          await db.schema.createTable('ssh_revocations_new')
            .addColumn('id', 'text', (c) => c.primaryKey())
            .addColumn('account_id', 'text', (c) => c.notNull())
            .addColumn('app_id', 'text')
            .addColumn('kind', 'text', (c) => c.notNull())
            .addColumn('value', 'text', (c) => c.notNull())
            .addColumn('reason', 'text', (c) => c.notNull())
            .addColumn('actor', 'text', (c) => c.notNull())
            .addColumn('certificates', 'integer', (c) => c.notNull())
            .addColumn('created_at', 'text', (c) => c.notNull())
            .addColumn('lifted_at', 'text')
            .addColumn('lifted_by', 'text')
            .execute();
          await sql`insert into ssh_revocations_new (id, account_id, app_id, kind, value, reason, actor, certificates, created_at)
            select id, account_id, app_id, kind, value, reason, actor, certificates, created_at from ssh_revocations`.execute(db);
          await db.schema.dropTable('ssh_revocations').execute();
          await db.schema.alterTable('ssh_revocations_new').renameTo('ssh_revocations').execute();
          await db.schema.createIndex('ssh_revocations_app').on('ssh_revocations').columns(['app_id', 'created_at']).execute();
        }
        await db.schema.dropIndex('ssh_revocations_account').ifExists().execute();
        // cert_sign reads a person's latest revocation, and an app's blocks, by these.
        await db.schema.createIndex('ssh_revocations_account').on('ssh_revocations').columns(['account_id', 'kind', 'value']).execute();
        await watchWithdrawals(db, kind);
      },
    },
    '0011_trial_identity_provider': {
      async up(db: AnyDb) {
        // The trial provider signs identity tokens with a key of its own, sealed under the master key.
        await db.schema.alterTable('identity_providers').addColumn('trial_key_sealed', blob).execute();
      },
    },
    '0012_targets_filters': {
      async up(db: AnyDb) {
        // Cloudflare's target list filters by address ranges: each address also kept as a key that compares
        // as the address does (byte order: PostgreSQL's "C" collation, SQLite's default).
        const keyColumn = (c: ColumnDefinitionBuilder) => (kind === 'postgres' ? c.modifyEnd(sql`collate "C"`) : c);
        await db.schema.alterTable('infrastructure_targets').addColumn('ipv4_key', 'text', keyColumn).execute();
        await db.schema.alterTable('infrastructure_targets').addColumn('ipv6_key', 'text', keyColumn).execute();
        const rows = await db.selectFrom('infrastructure_targets').select(['id', 'ipv4', 'ipv6'])
          .where((eb: any) => eb.or([eb('ipv4', 'is not', null), eb('ipv6', 'is not', null)])).execute();
        for (const row of rows as { id: string; ipv4: string | null; ipv6: string | null }[]) {
          await db.updateTable('infrastructure_targets').where('id', '=', row.id)
            .set({ ipv4_key: row.ipv4 === null ? null : ipAddressKey(row.ipv4), ipv6_key: row.ipv6 === null ? null : ipAddressKey(row.ipv6) }).execute();
        }
        await db.schema.createIndex('infrastructure_targets_ipv4').on('infrastructure_targets').columns(['account_id', 'ipv4_key']).execute();
        await db.schema.createIndex('infrastructure_targets_ipv6').on('infrastructure_targets').columns(['account_id', 'ipv6_key']).execute();
      },
    },
    '0013_whole_app_objects': {
      async up(db: AnyDb) {
        // Cloudflare's application and policy objects hold more than what decides a certificate: the rest
        // is kept whole, validated, as JSON; target criteria and connection rules get columns of their own.
        await db.schema.alterTable('access_apps').addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}')).execute();
        await db.schema.alterTable('access_apps').addColumn('target_criteria', 'text').execute();
        await db.schema.alterTable('access_policies').addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}')).execute();
        await db.schema.alterTable('access_policies').addColumn('connection_rules', 'text').execute();
      },
    },
    '0014_gateway_ca': {
      async up(db: AnyDb) {
        // One gateway CA per account (Cloudflare's), its keys rotated with overlap like an application CA's.
        await db.schema.createTable('gateway_cas')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull().unique().references('accounts.id').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('gateway_ca_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('ca_id', 'text', (c) => c.notNull().references('gateway_cas.id').onDelete('cascade'))
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('private_key_sealed', blob, (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await sql`create unique index gateway_ca_keys_one_active on gateway_ca_keys (ca_id) where state = 'active'`.execute(db);
        await db.schema.createIndex('gateway_ca_keys_ca').on('gateway_ca_keys').column('ca_id').execute();
        // It signs (what is granted) and every covered target trusts it (what a host trusts).
        await watchGatewayCa(db, kind);
        await watchTables(db, kind, FLEET, { gateway_cas: 'account', gateway_ca_keys: 'account' });
      },
    },
    '0015_pkcs11_keys': {
      async up(db: AnyDb) {
        // Where each application CA key's private half lives: 'sealed' (private_key_sealed, under the master
        // key) or 'pkcs11' (inside the token, found by its CKA_ID; private_key_sealed is then empty).
        await db.schema.alterTable('ssh_ca_keys').addColumn('key_storage', 'text', (c) => c.notNull().defaultTo('sealed')).execute();
        await db.schema.alterTable('ssh_ca_keys').addColumn('token_object_id', 'text').execute();
      },
    },
  };
}

/** Supplies the migrations to Kysely's Migrator, which takes a lock so concurrent starts are safe. */
export function migrationProvider(kind: DbKind): MigrationProvider {
  return { getMigrations: async () => migrations(kind) };
}
