import { sql, type Kysely } from 'kysely';
import type { DbKind } from './schema.ts';

/**
 * SQLite: on a new CA, its scope's listing row and count; on a deleted one (also by its app's cascade,
 * when the app is already gone), the count of the scope its listing row names, then the row.
 */
const SQLITE = [
  `CREATE TRIGGER ssh_ca_listing_insert AFTER INSERT ON ssh_cas BEGIN
  INSERT INTO ssh_ca_listing (account_id, zone_key, created_at, ca_id)
    SELECT a.account_id, COALESCE(a.zone_id, ''), NEW.created_at, NEW.id FROM access_apps a WHERE a.id = NEW.app_id;
  INSERT INTO ssh_ca_counts (account_id, zone_key, n)
    SELECT l.account_id, l.zone_key, 0 FROM ssh_ca_listing l WHERE l.ca_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM ssh_ca_counts c WHERE c.account_id = l.account_id AND c.zone_key = l.zone_key);
  UPDATE ssh_ca_counts SET n = n + 1 WHERE (account_id, zone_key) = (SELECT account_id, zone_key FROM ssh_ca_listing WHERE ca_id = NEW.id);
END`,
  `CREATE TRIGGER ssh_ca_listing_delete AFTER DELETE ON ssh_cas BEGIN
  UPDATE ssh_ca_counts SET n = n - 1 WHERE (account_id, zone_key) = (SELECT account_id, zone_key FROM ssh_ca_listing WHERE ca_id = OLD.id);
  DELETE FROM ssh_ca_listing WHERE ca_id = OLD.id;
END`,
];

const POSTGRES = [
  `CREATE FUNCTION access_ca_ssh_ca_listing() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  acct text;
  zone text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT account_id, COALESCE(zone_id, '') INTO acct, zone FROM access_apps WHERE id = NEW.app_id;
    IF acct IS NOT NULL THEN
      INSERT INTO ssh_ca_listing (account_id, zone_key, created_at, ca_id) VALUES (acct, zone, NEW.created_at, NEW.id);
      INSERT INTO ssh_ca_counts (account_id, zone_key, n) VALUES (acct, zone, 1)
        ON CONFLICT (account_id, zone_key) DO UPDATE SET n = ssh_ca_counts.n + 1;
    END IF;
  ELSE
    DELETE FROM ssh_ca_listing WHERE ca_id = OLD.id RETURNING account_id, zone_key INTO acct, zone;
    IF acct IS NOT NULL THEN
      UPDATE ssh_ca_counts SET n = n - 1 WHERE account_id = acct AND zone_key = zone;
    END IF;
  END IF;
  RETURN NULL;
END $$`,
  'CREATE TRIGGER ssh_ca_listing AFTER INSERT OR DELETE ON ssh_cas FOR EACH ROW EXECUTE FUNCTION access_ca_ssh_ca_listing()',
];

/**
 * Migration 0007: the CA list's page and total without reading every CA of the scope. A CA's scope is
 * its app's, so the list had to join and sort all of them (a page at 100,000 CAs took 180× the page at
 * 1,000); this keeps, by trigger, a listing in page order per scope and a count per scope. Both are
 * derived from ssh_cas and access_apps, so exports leave them out and imports rebuild them.
 */
export async function createCaListing(db: Kysely<any>, kind: DbKind): Promise<void> {
  await db.schema.createTable('ssh_ca_listing')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('zone_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('ca_id', 'text', (c) => c.primaryKey())
    .execute();
  await db.schema.createIndex('ssh_ca_listing_page').on('ssh_ca_listing').columns(['account_id', 'zone_key', 'created_at', 'ca_id']).execute();
  await db.schema.createTable('ssh_ca_counts')
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('zone_key', 'text', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('ssh_ca_counts_pk', ['account_id', 'zone_key'])
    .execute();
  await sql`INSERT INTO ssh_ca_listing (account_id, zone_key, created_at, ca_id)
    SELECT a.account_id, COALESCE(a.zone_id, ''), c.created_at, c.id FROM ssh_cas c JOIN access_apps a ON a.id = c.app_id`.execute(db);
  await sql`INSERT INTO ssh_ca_counts (account_id, zone_key, n) SELECT account_id, zone_key, COUNT(*) FROM ssh_ca_listing GROUP BY account_id, zone_key`.execute(db);
  for (const statement of kind === 'postgres' ? POSTGRES : SQLITE) await sql.raw(statement).execute(db);
}
