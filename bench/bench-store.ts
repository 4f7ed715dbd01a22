import { rmSync } from 'node:fs';
import { postgresTestDatabase, postgresUnavailable } from '../test/helpers/databases.ts';
import { buildApp, defaultAppConfig } from '../src/app.ts';
import { systemClock } from '../src/platform/clock.ts';
import { cryptoRandom } from '../src/platform/random.ts';
import { openStoreRuntime, type StoreRuntime } from '../src/platform/store-runtime.ts';
import { createIdentityStore } from '../src/identity/identity-store.ts';
import { createIdentityService } from '../src/identity/identity-service.ts';
import type { FastifyInstance } from 'fastify';
import { testTempDir } from '../test/helpers/temp-dir.ts';

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

/** True when the PostgreSQL the tests use answers (127.0.0.1:5432, or ACCESS_CA_TEST_POSTGRES_URL). */
export const postgresReachable = async (): Promise<boolean> => (await postgresUnavailable()) === null;

export async function startBenchNode(kind: 'sqlite' | 'postgres'): Promise<BenchNode> {
  const dir = testTempDir('access-ca-bench-');
  const pg = kind === 'postgres' ? await postgresTestDatabase() : null;
  const databaseUrl = pg?.url;
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
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
