import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Db } from './db/schema.ts';
import type { Clock } from './clock.ts';
import type { Random } from './random.ts';
import type { KeyVault } from './crypto/key-vault.ts';
import type { GrantCache } from './grant-cache.ts';
import type { AuditSink } from './audit-events.ts';
import { registerJsonBodyParser } from './http/body-parser.ts';

/**
 * What every capability is given to build its own store, service and routes from (app.ts wires them in
 * dependency order). `metrics` is typed by each capability as the part of the metrics it reports to.
 */
export interface Platform<M = unknown> {
  db: Db;
  clock: Clock;
  random: Random;
  vault: KeyVault;
  log: FastifyBaseLogger;
  metrics: M;
  /** The v4 API's prefix. */
  basePath: string;
  /** Reads that decide grants, remembered per account until its grant revision moves. */
  grants: GrantCache;
  /** Where audit events go. */
  audit: AuditSink;
}

/** Registers a capability's v4 routes in a scope of its own under the API's prefix, with the JSON body parser. */
export async function registerV4Routes(app: FastifyInstance, basePath: string, routes: (v4: FastifyInstance) => void | Promise<void>): Promise<void> {
  await app.register(async (v4) => {
    registerJsonBodyParser(v4);
    await routes(v4);
  }, { prefix: basePath });
}

/**
 * A dependency that is wired after its user is built (two capabilities that use each other's stores at
 * request time, never while being built): calls go to the value once set, and fail loudly before.
 */
export function late<T extends object>(what: string): { use: T; set(value: T): void } {
  let value: T | undefined;
  const use = new Proxy({} as T, {
    get(_target, property) {
      if (value === undefined) throw new Error(`${what} is used before it is wired`);
      const member = (value as Record<string | symbol, unknown>)[property];
      return typeof member === 'function' ? member.bind(value) : member;
    },
  });
  return { use, set: (v) => { value = v; } };
}
