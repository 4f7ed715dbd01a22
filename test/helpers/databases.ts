import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type OpenDatabase } from '../../src/platform/db/database.ts';
import { testTempDir } from './temp-dir.ts';

/** The server the PostgreSQL tests use: this machine's, unless ACCESS_CA_TEST_POSTGRES_URL names another. */
export const POSTGRES_ADMIN_URL = process.env['ACCESS_CA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Why PostgreSQL tests cannot run here, or null when a server answers. */
export async function postgresUnavailable(): Promise<string | null> {
  if (process.env['ACCESS_CA_TEST_QUICK'] === '1') return 'npm run test:quick leaves PostgreSQL out; npm test runs it';
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return `no PostgreSQL at ${POSTGRES_ADMIN_URL.replace(/:[^:@/]*@/, ':***@')} (${(error as Error).message}); .ci/run starts one`;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TestDatabase {
  open(): Promise<OpenDatabase>;
  url: string;
  drop(): Promise<void>;
}

/** A fresh SQLite file in a temp dir. */
export function sqliteTestDatabase(): TestDatabase {
  const dir = testTempDir('access-ca-db-');
  const path = join(dir, 'access-ca.db');
  return {
    url: path,
    open: () => openDatabase({ kind: 'sqlite', path }),
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh PostgreSQL database, made for this run and dropped after it. */
export async function postgresTestDatabase(): Promise<TestDatabase> {
  const name = `access_ca_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    open: () => openDatabase({ kind: 'postgres', url: url.toString() }),
    async drop() {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
