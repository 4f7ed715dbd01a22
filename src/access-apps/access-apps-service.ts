import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import type { AccessAppsStore, AppRow } from './access-apps-store.ts';
import type { TSchema } from 'typebox';
import { isAppDomain, type AppBody, type AppInput, type AppPolicyEntry, type AppView } from './access-apps-schemas.ts';
import { allowedIdps, checkedCriteria, checkSettings, domainViews, mergeSettings, parseSettings, securedDomain, settingsView } from './access-app-settings.ts';
import type { Db } from '../platform/db/schema.ts';
import { hostOfDomain } from '../platform/hostnames.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { checkHostClaim, checkHostMove } from '../identity/host-delegation.ts';
import { CLI_ACTOR } from '../platform/audit-events.ts';

/** A write that lost the host to another application (any account, any node) is a 409 naming the host. */
async function ownHost<T>(host: string | null, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (host !== null && isUniqueViolation(error)) throw errors.hostTaken(host);
    throw error;
  }
}

/** What the policies capability needs to know of an application to check its policies against it. */
export interface PolicyHolder {
  id: string;
  name: string;
  type: string;
  /** False while it is being created: it has no policies of its own yet. */
  existing: boolean;
}

/**
 * How an application reaches the Access policies it uses. The apps capability only carries the list: the
 * policies capability says what an entry may be, checks the list before any write, writes it in the app's
 * own transaction and renders it.
 */
export interface AppPolicyLinks<P = unknown> {
  /** The schema of one entry of an application's `policies` list. */
  entrySchema: TSchema;
  /**
   * Checks the application's policies against the application as it will be — the list given, or when it
   * is undefined the policies it has (its type may have changed) — and plans the write; undefined: none.
   */
  resolve(scope: Scope, app: PolicyHolder, entries: AppPolicyEntry[] | undefined, actor: string): Promise<P | undefined>;
  writer(appId: string, plan: P): (trx: Db) => Promise<void>;
  /** Full policies for one app's view; `summary` (id, name, decision, precedence) for list pages, which stay small. */
  views(appIds: string[], summary?: boolean): Promise<Map<string, unknown[]>>;
  /** The identity providers of the account among these ids (what `allowed_idps` may name). */
  existingIdps(accountId: string, ids: string[]): Promise<string[]>;
}

/** The wire form of an app row, with the policies it uses and Cloudflare's defaults for what was not set. */
export function appView(row: AppRow, policies: unknown[] = []): AppView {
  return {
    id: row.id,
    aud: row.aud,
    name: row.name,
    ...(row.domain === null ? {} : { domain: row.domain }),
    type: row.type,
    ...(row.session_duration === '' ? {} : { session_duration: row.session_duration }),
    ...settingsView(row.type, parseSettings(row.settings)),
    ...domainViews(row.type, row.domain),
    ...(row.target_criteria === null ? {} : { target_criteria: JSON.parse(row.target_criteria) as unknown[] }),
    policies,
    created_at: row.created_at,
    updated_at: row.updated_at,
  } as AppView;
}

/**
 * The columns of an application after a write. The object's first fields (name, domain, type,
 * session_duration) are replaced as before; the settings keep what a write leaves out (mergeSettings).
 */
async function fields(links: Pick<AppPolicyLinks, 'existingIdps'>, scope: Scope, checked: AppInput, current?: AppRow) {
  const input = checked as AppBody;
  const type = input.type ?? 'self_hosted';
  const name = input.name.trim();
  if (name.length === 0) throw errors.invalidRequest('name must not be blank', '/name');
  const secured = securedDomain({ ...input, type }, isAppDomain);
  if (type === 'self_hosted' && secured === null) {
    throw errors.invalidRequest('domain is required for a self_hosted application', '/domain');
  }
  const domain = secured === null ? null : secured.toLowerCase();
  const settings = mergeSettings(current ? parseSettings(current.settings) : {}, input);
  checkSettings(type, settings, input);
  const idps = allowedIdps(settings);
  const known = new Set(await links.existingIdps(scope.accountId, idps.map((id) => id.toLowerCase())));
  for (const [i, id] of idps.entries()) {
    if (!known.has(id.toLowerCase())) throw errors.invalidRequest(`no identity provider ${id} in this account`, `/allowed_idps/${i}`);
  }
  const criteria = input.target_criteria === undefined ? (current?.target_criteria ?? null)
    : input.target_criteria === null ? null : JSON.stringify(checkedCriteria(input.target_criteria));
  if (criteria !== null && type !== 'infrastructure') {
    const kept = input.target_criteria === undefined ? ' (kept from before: send "target_criteria": null to clear it)' : '';
    throw errors.invalidRequest(`only infrastructure applications have target_criteria${kept}`, '/target_criteria');
  }
  return {
    name,
    domain,
    host: hostOfDomain(domain),
    type,
    // Cloudflare gives infrastructure applications no session duration: '' until one is set.
    session_duration: input.session_duration ?? (type === 'infrastructure' ? '' : '24h'),
    settings: JSON.stringify(settings),
    target_criteria: criteria,
  };
}

/** Access applications: the objects a CA belongs to. */
export function createAccessAppsService(deps: { store: AccessAppsStore; links: AppPolicyLinks; clock: Clock; random: Random }) {
  const { store, links, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());
  const withPolicies = async (row: AppRow) => appView(row, (await links.views([row.id])).get(row.id));
  /** The policies to write with the app, checked first, so that a bad list writes nothing. */
  const policyWriter = async (scope: Scope, app: PolicyHolder, entries: AppPolicyEntry[] | null | undefined, actor: string) => {
    const plan = await links.resolve(scope, app, entries ?? undefined, actor);
    return plan === undefined ? undefined : links.writer(app.id, plan);
  };
  return {
    async create(scope: Scope, input: AppInput, actor = CLI_ACTOR): Promise<AppView> {
      const at = stamp();
      const row: AppRow = {
        id: random.uuid(),
        account_id: scope.accountId,
        zone_id: scope.zoneId,
        aud: random.hex(32),
        ...(await fields(links, scope, input)),
        created_at: at,
        updated_at: at,
      };
      const policies = (input as AppBody).policies;
      const write = policies == null ? undefined : await policyWriter(scope, { id: row.id, name: row.name, type: row.type, existing: false }, policies, actor);
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
    async update(scope: Scope, id: string, input: AppInput, actor = CLI_ACTOR): Promise<AppView> {
      const key = id.toLowerCase();
      const current = await store.get(scope, key);
      if (!current) throw errors.notFound();
      const next = await fields(links, scope, input, current);
      // A new type is checked against the policies the app keeps (infrastructure ones only allow, and only they take connection rules).
      const policies = (input as AppBody).policies;
      const write = policies != null || next.type !== current.type
        ? await policyWriter(scope, { id: key, name: next.name, type: next.type, existing: true }, policies, actor)
        : undefined;
      const move = (trx: Db) => checkHostMove(trx, scope, key, next.host);
      const row = await ownHost(next.host, store.update(scope, key, { ...next, updated_at: stamp() }, write, move));
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
