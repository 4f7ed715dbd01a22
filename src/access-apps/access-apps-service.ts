import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import type { AccessAppsStore, AppRow } from './access-apps-store.ts';
import type { AppInput, AppPolicyEntry, AppView } from './access-apps-schemas.ts';
import type { Db } from '../platform/db/schema.ts';
import { hostOfDomain } from '../platform/hostnames.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { checkHostClaim, checkHostMove } from '../identity/host-delegation.ts';

/** A write that lost the host to another application (any account, any node) is a 409 naming the host. */
async function ownHost<T>(host: string | null, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (host !== null && isUniqueViolation(error)) throw errors.hostTaken(host);
    throw error;
  }
}

/**
 * How an application reaches the Access policies it uses. The apps capability only carries the list: the
 * policies capability checks it before any write, writes it in the app's own transaction and renders it.
 */
export interface AppPolicyLinks<L = unknown> {
  resolve(scope: Scope, appId: string | null, entries: AppPolicyEntry[]): Promise<L[]>;
  writer(appId: string, links: L[]): (trx: Db) => Promise<void>;
  /** Full policies for one app's view; `summary` (id, name, decision, precedence) for list pages, which stay small. */
  views(appIds: string[], summary?: boolean): Promise<Map<string, unknown[]>>;
}

/** The wire form of an app row, with the policies it uses. */
export function appView(row: AppRow, policies: unknown[] = []): AppView {
  return {
    id: row.id,
    aud: row.aud,
    name: row.name,
    ...(row.domain === null ? {} : { domain: row.domain }),
    type: row.type,
    session_duration: row.session_duration,
    policies: policies as AppView['policies'],
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function normalize(input: AppInput) {
  const type = input.type ?? 'self_hosted';
  if (type === 'self_hosted' && input.domain === undefined) {
    throw errors.invalidRequest('domain is required for a self_hosted application', '/domain');
  }
  const name = input.name.trim();
  if (name.length === 0) throw errors.invalidRequest('name must not be blank', '/name');
  const domain = input.domain === undefined ? null : input.domain.toLowerCase();
  return {
    name,
    domain,
    host: hostOfDomain(domain),
    type,
    session_duration: input.session_duration ?? '24h',
  };
}

/** Access applications: the objects a CA belongs to. */
export function createAccessAppsService(deps: { store: AccessAppsStore; links: AppPolicyLinks; clock: Clock; random: Random }) {
  const { store, links, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());
  const withPolicies = async (row: AppRow) => appView(row, (await links.views([row.id])).get(row.id));
  /** The links to write with the app, checked first, so that a bad list writes nothing. */
  const linkWriter = async (scope: Scope, appId: string, existing: boolean, entries: AppPolicyEntry[] | undefined) =>
    entries === undefined ? undefined : links.writer(appId, await links.resolve(scope, existing ? appId : null, entries));
  return {
    async create(scope: Scope, input: AppInput): Promise<AppView> {
      const at = stamp();
      const row: AppRow = {
        id: random.uuid(),
        account_id: scope.accountId,
        zone_id: scope.zoneId,
        aud: random.hex(32),
        ...normalize(input),
        created_at: at,
        updated_at: at,
      };
      const write = await linkWriter(scope, row.id, false, input.policies);
      await ownHost(row.host, store.insert(row, write, (trx) => checkHostClaim(trx, scope, row.host)));
      return withPolicies(row);
    },
    async get(scope: Scope, id: string): Promise<AppView> {
      const row = await store.get(scope, id.toLowerCase());
      if (!row) throw errors.notFound();
      return withPolicies(row);
    },
    async list(scope: Scope, page: PageRequest) {
      const { rows, total } = await store.list(scope, pageOffset(page), page.perPage);
      const policies = await links.views(rows.map((r) => r.id), true);
      return { items: rows.map((r) => appView(r, policies.get(r.id))), info: resultInfo(page, rows.length, total) };
    },
    async update(scope: Scope, id: string, input: AppInput): Promise<AppView> {
      const key = id.toLowerCase();
      const fields = normalize(input);
      if (!(await store.get(scope, key))) throw errors.notFound();
      const write = await linkWriter(scope, key, true, input.policies);
      const move = (trx: Db) => checkHostMove(trx, scope, key, fields.host);
      const row = await ownHost(fields.host, store.update(scope, key, { ...fields, updated_at: stamp() }, write, move));
      if (!row) throw errors.notFound();
      return withPolicies(row);
    },
    async delete(scope: Scope, id: string): Promise<{ id: string }> {
      if (!(await store.delete(scope, id.toLowerCase()))) throw errors.notFound();
      return { id: id.toLowerCase() };
    },
  };
}

export type AccessAppsService = ReturnType<typeof createAccessAppsService>;
