import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildApp, defaultAppConfig, type AppConfig, type AppDeps } from '../../src/app.ts';
import { systemClock, type Clock } from '../../src/platform/clock.ts';
import { cryptoRandom, type Random } from '../../src/platform/random.ts';
import { openStoreRuntime, type StoreRuntime } from '../../src/platform/store-runtime.ts';
import { createIdentityStore } from '../../src/identity/identity-store.ts';
import { createIdentityService, type IdentityService } from '../../src/identity/identity-service.ts';
import type { Db } from '../../src/platform/db/schema.ts';
import { testTempDir } from './temp-dir.ts';
import { validatingResponses, watchResponses } from '../serving/openapi-response-check.ts';

export const WRITE = 'Access: Apps and Policies Write';
export const READ = 'Access: Apps and Policies Read';
export const BASE = '/client/v4';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
  raw: string;
}

/** One account with a zone and tokens of every kind the tests need. */
export interface Tenant {
  accountId: string;
  zoneId: string;
  /** The zone's DNS name: hosts under it are this account's (identity/host-delegation.ts). */
  zoneName: string;
  write: string;
  read: string;
  /** A token with no Access permission group's use: it holds only Read, used where Write is needed. */
  zoneWrite: string;
  email: string;
  apiKey: string;
}

export interface TestApp {
  app: FastifyInstance;
  dir: string;
  runtime: StoreRuntime;
  db: Db;
  identity: IdentityService;
  tenant(): Promise<Tenant>;
  call(method: string, path: string, opts?: { token?: string; headers?: Record<string, string>; body?: unknown; payload?: string }): Promise<Reply>;
  close(): Promise<void>;
}

/** A real app on a real SQLite file in a temp dir, driven through Fastify's inject. */
export async function makeTestApp(opts: { clock?: Clock; random?: Random; config?: Partial<AppConfig>; db?: (db: Db) => Db; databaseUrl?: string; instrument?: AppDeps['instrument']; caKeyToken?: AppDeps['caKeyToken'] } = {}): Promise<TestApp> {
  const dir = testTempDir('access-ca-test-');
  const runtime = await openStoreRuntime({ dataDir: dir, databaseUrl: opts.databaseUrl, masterKeyFile: undefined });
  const clock = opts.clock ?? systemClock;
  const db = opts.db ? opts.db(runtime.database.db) : runtime.database.db;
  // Every answer is checked against the app's OpenAPI document (ACCESS_CA_VALIDATE_RESPONSES=0 turns it off).
  const watch = validatingResponses() ? watchResponses() : undefined;
  const app = await buildApp({
    // The tests serve JWKS on 127.0.0.1: the development allowance for private addresses is on.
    config: { ...defaultAppConfig, authFailuresPerMinute: 0, allowPrivateIdpAddresses: true, ...opts.config }, db, clock, random: opts.random ?? cryptoRandom, keyVault: runtime.vault, logger: false,
    // A test that wraps the store (to make it fail) sees the hot path's writes too: no writer thread then.
    appendWriter: opts.db ? undefined : runtime.database.appendWriter,
    grantRevisions: opts.db ? undefined : runtime.database.grantRevisions(),
    caKeyToken: opts.caKeyToken,
    instrument: (app) => {
      watch?.instrument(app);
      opts.instrument?.(app);
    },
  });
  const undocumented = () => {
    const found = watch?.take() ?? [];
    if (found.length > 0) throw new Error(`answers that the OpenAPI document does not describe:\n${found.join('\n')}`);
  };
  const identity = createIdentityService({ store: createIdentityStore(runtime.database.db), clock: systemClock, random: cryptoRandom });

  return {
    app, dir, runtime, db: runtime.database.db, identity,
    async tenant() {
      const account = await identity.createAccount(`acct-${Math.random().toString(36).slice(2, 8)}`);
      const zone = await identity.createZone(account.id, `z${Math.random().toString(36).slice(2, 10)}.example.com`);
      const write = await identity.createToken({ accountId: account.id, permissions: [WRITE] });
      const read = await identity.createToken({ accountId: account.id, permissions: [READ] });
      const zoneWrite = await identity.createToken({ accountId: account.id, zoneId: zone.id, permissions: [WRITE] });
      const email = `u${Math.random().toString(36).slice(2, 10)}@example.com`;
      const user = await identity.createUser(email, account.id);
      return { accountId: account.id, zoneId: zone.id, zoneName: zone.name, write: write.value, read: read.value, zoneWrite: zoneWrite.value, email, apiKey: user.api_key };
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
      let payload = o.payload;
      if (o.body !== undefined) {
        payload = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await app.inject({ method: method as 'GET', url: path.startsWith('/') ? path : `${BASE}/${path}`, headers, ...(payload !== undefined ? { payload } : {}) });
      let body: any;
      try {
        body = JSON.parse(res.body);
      } catch {
        body = undefined;
      }
      undocumented();
      return { status: res.statusCode, headers: res.headers, body, raw: res.body };
    },
    async close() {
      await app.close();
      await runtime.database.close();
      rmSync(dir, { recursive: true, force: true });
      undocumented();
    },
  };
}

/** Path of a scoped route: `accounts/<id>/…` or `zones/<id>/…`. */
export const scoped = (kind: 'account' | 'zone', id: string, rest: string): string =>
  `${BASE}/${kind === 'account' ? 'accounts' : 'zones'}/${id}${rest}`;
