import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime, type StoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';
import type { FastifyInstance } from 'fastify';

export const POSTGRES_ADMIN_URL = process.env['BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh store of one kind with a running app on loopback, an account and an all-powerful token. */
export interface BenchNode {
  kind: 'sqlite' | 'postgres';
  runtime: StoreRuntime;
  app: FastifyInstance;
  port: number;
  accountId: string;
  auth: Record<string, string>;
  close(): Promise<void>;
}

export async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function startBenchNode(kind: 'sqlite' | 'postgres'): Promise<BenchNode> {
  const dir = mkdtempSync(join(tmpdir(), 'access-ca-bench-'));
  let databaseUrl: string | undefined;
  let dropDb = async () => {};
  if (kind === 'postgres') {
    const name = `access_ca_bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDb = async () => {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    };
  }
  const runtime = await openStoreRuntime({ dataDir: dir, databaseUrl, masterKeyFile: undefined });
  const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });
  const account = await identity.createAccount('bench');
  const token = await identity.createToken({ accountId: account.id, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] });
  const app = await buildApp({ config: defaultAppConfig, db: runtime.database.db, clock: systemClock, random: cryptoRandom, keyVault: runtime.vault, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    kind, runtime, app, port: (app.server.address() as { port: number }).port, accountId: account.id,
    auth: { authorization: `Bearer ${token.value}`, 'content-type': 'application/json' },
    async close() {
      await app.close();
      await runtime.database.close();
      await dropDb();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
