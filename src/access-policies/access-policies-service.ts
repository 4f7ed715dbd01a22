import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AppPolicyLinks } from '../access-apps/access-apps-service.ts';
import type { AccessPoliciesStore, LinkedPolicy, LinkRow, PolicyRow } from './access-policies-store.ts';
import type { PolicyInput, PolicyView } from './access-policies-schemas.ts';
import { checkReferences, parseRuleSet, ruleColumns, ruleSetOf, ruleViews } from './rule-sets.ts';
import { createPolicyBudget, MAX_POLICIES_PER_APP } from './policy-budget.ts';
import { changedFields, type AuditLog } from '../audit/audit-log.ts';

const DEFAULT_SESSION = '24h';

/** The wire form of a policy; `precedence` when seen through an application, `reusable` and `app_count` for shared ones. */
export function policyView(row: PolicyRow, extra: { precedence?: number; appCount?: number } = {}): PolicyView {
  return {
    id: row.id, name: row.name, decision: row.decision, ...ruleViews(row),
    ...(extra.precedence === undefined ? {} : { precedence: extra.precedence }),
    session_duration: row.session_duration ?? DEFAULT_SESSION,
    ...(row.app_id === null ? { reusable: true, ...(extra.appCount === undefined ? {} : { app_count: extra.appCount }) } : {}),
    created_at: row.created_at, updated_at: row.updated_at,
  };
}

const linkedView = (p: LinkedPolicy) => policyView(p, { precedence: p.precedence });

/** A policy as an application list page shows it: what it is and where it stands, without its rules. */
export type PolicySummary = Pick<PolicyView, 'id' | 'name' | 'decision' | 'precedence' | 'reusable'>;
const policySummary = (p: LinkedPolicy): PolicySummary =>
  ({ id: p.id, name: p.name, decision: p.decision, precedence: p.precedence, ...(p.app_id === null ? { reusable: true } : {}) });

function checkDecision(decision: string): 'allow' | 'deny' {
  if (decision === 'allow' || decision === 'deny') return decision;
  if (decision === 'bypass' || decision === 'non_identity') {
    throw errors.invalidRequest(`decision ${decision} cannot be used for SSH certificates: a certificate always needs a person (use allow or deny)`, '/decision');
  }
  throw errors.invalidRequest('decision must be allow or deny', '/decision');
}

/** Turns a lost race for a precedence into a 400 that names the field. */
async function precedenceFree<T>(work: Promise<T>, pointer: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isUniqueViolation(error)) throw errors.invalidRequest('another policy of this application has this precedence', pointer);
    throw error;
  }
}

/** The fields an `access_policy.updated` event names when they change. */
const AUDITED_FIELDS = ['name', 'decision', 'include', 'exclude', 'require', 'session_duration', 'precedence'] as const;

/**
 * Access policies (reusable and application-owned) and how applications link to them. Each change is an
 * audit event (`access_policy.created` / `.updated` / `.deleted`) by `actor`, naming the policy and what changed.
 */
export function createAccessPoliciesService(deps: { store: AccessPoliciesStore; apps: Pick<AccessAppsStore, 'get'>; clock: Clock; random: Random; audit: Pick<AuditLog, 'record'> }) {
  const { store, apps, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());
  const budget = createPolicyBudget(store);

  /** Records a change to a policy; `before` (an update) makes it say which fields changed. */
  function audited(verb: 'created' | 'updated' | 'deleted', actor: string, row: PolicyRow & { precedence?: number }, before?: PolicyRow & { precedence?: number }) {
    return deps.audit.record({
      accountId: row.account_id, type: `access_policy.${verb}`, actor, subject: row.id,
      data: {
        name: row.name, decision: row.decision,
        ...(row.app_id === null ? { reusable: true } : { app_id: row.app_id }),
        ...(row.zone_id === null ? {} : { zone_id: row.zone_id }),
        ...(before ? { changed: changedFields(before, row, AUDITED_FIELDS) } : {}),
      },
    });
  }

  async function fields(scope: Scope, input: PolicyInput) {
    const name = input.name.trim();
    if (!name) throw errors.invalidRequest('name must not be blank', '/name');
    const decision = checkDecision(input.decision);
    const set = parseRuleSet(input);
    await checkReferences(store, scope, set);
    return { set, columns: { name, decision, ...ruleColumns(set), session_duration: input.session_duration ?? null } };
  }

  async function reusable(scope: Scope, id: string): Promise<PolicyRow> {
    const row = await store.getPolicy(scope, id.toLowerCase());
    if (!row || row.app_id !== null) throw errors.notFound();
    return row;
  }

  async function reusableView(row: PolicyRow): Promise<PolicyView> {
    return policyView(row, { appCount: (await store.appCounts([row.id])).get(row.id) ?? 0 });
  }

  async function linkedTo(scope: Scope, appId: string, policyId: string): Promise<LinkedPolicy> {
    const app = await requireApp(apps, scope, appId);
    const found = (await store.policiesOfApp(app.id)).find((p) => p.id === policyId.toLowerCase());
    if (!found) throw errors.notFound();
    return found;
  }

  function ownedBy(p: LinkedPolicy, appId: string): void {
    if (p.app_id !== appId.toLowerCase()) {
      throw errors.invalidRequest(`policy ${p.id} is reusable: change it at /access/policies/${p.id}, or drop it from the application's policies list`);
    }
  }

  return {
    async createReusable(scope: Scope, input: PolicyInput, actor: string): Promise<PolicyView> {
      if (input.precedence !== undefined) throw errors.invalidRequest('a reusable policy takes its precedence from each application\'s policies list', '/precedence');
      const { set, columns } = await fields(scope, input);
      await budget.alone(scope.accountId, 'policy', set);
      const at = stamp();
      const row: PolicyRow = { id: random.uuid(), account_id: scope.accountId, zone_id: scope.zoneId, app_id: null, ...columns, created_at: at, updated_at: at };
      await store.insertPolicy(row);
      await audited('created', actor, row);
      return policyView(row, { appCount: 0 });
    },
    getReusable: async (scope: Scope, id: string): Promise<PolicyView> => reusableView(await reusable(scope, id)),
    async listReusable(scope: Scope, page: PageRequest) {
      const { rows, total } = await store.listReusable(scope, pageOffset(page), page.perPage);
      const counts = await store.appCounts(rows.map((r) => r.id));
      return { items: rows.map((r) => policyView(r, { appCount: counts.get(r.id) ?? 0 })), info: resultInfo(page, rows.length, total) };
    },
    async updateReusable(scope: Scope, id: string, input: PolicyInput, actor: string): Promise<PolicyView> {
      if (input.precedence !== undefined) throw errors.invalidRequest('a reusable policy takes its precedence from each application\'s policies list', '/precedence');
      const row = await reusable(scope, id);
      const { set, columns } = await fields(scope, input);
      await budget.change(scope.accountId, { policyId: row.id, set });
      if (!(await store.updatePolicy(scope, row.id, { ...columns, updated_at: stamp() }))) throw errors.notFound();
      const updated = await reusable(scope, row.id);
      await audited('updated', actor, updated, row);
      return reusableView(updated);
    },
    async deleteReusable(scope: Scope, id: string, actor: string): Promise<{ id: string }> {
      const row = await reusable(scope, id);
      const count = (await store.appCounts([row.id])).get(row.id) ?? 0;
      // A deny policy keeps people out: detaching it silently would let them in.
      const inUse = () => errors.inUse(`the policy is used by ${Math.max(count, 1)} application(s): remove it from their policies lists first`);
      if (count > 0) throw inUse();
      try {
        if (!(await store.deletePolicy(scope, row.id))) throw errors.notFound();
      } catch (error) {
        // An application linked it after the count: the database keeps the link, and so the policy.
        if (isForeignKeyViolation(error)) throw inUse();
        throw error;
      }
      await audited('deleted', actor, row);
      return { id: row.id };
    },

    async createForApp(scope: Scope, appId: string, input: PolicyInput, actor: string): Promise<PolicyView> {
      const app = await requireApp(apps, scope, appId);
      const { set, columns } = await fields(scope, input);
      await budget.application(scope.accountId, app, [...(await store.policiesOfApp(app.id)).map(ruleSetOf), set]);
      const at = stamp();
      const row: PolicyRow = { id: random.uuid(), account_id: scope.accountId, zone_id: scope.zoneId, app_id: app.id, ...columns, created_at: at, updated_at: at };
      const precedence = input.precedence ?? (await store.nextPrecedence(app.id));
      await precedenceFree(store.insertPolicy(row, { app_id: app.id, policy_id: row.id, precedence }), '/precedence');
      await audited('created', actor, row);
      return policyView(row, { precedence });
    },
    getForApp: async (scope: Scope, appId: string, policyId: string) => linkedView(await linkedTo(scope, appId, policyId)),
    async listForApp(scope: Scope, appId: string, page: PageRequest) {
      const app = await requireApp(apps, scope, appId);
      const all = await store.policiesOfApp(app.id);
      const items = all.slice(pageOffset(page), pageOffset(page) + page.perPage).map(linkedView);
      return { items, info: resultInfo(page, items.length, all.length) };
    },
    async updateForApp(scope: Scope, appId: string, policyId: string, input: PolicyInput, actor: string): Promise<PolicyView> {
      const current = await linkedTo(scope, appId, policyId);
      ownedBy(current, current.app_id ?? '');
      const { set, columns } = await fields(scope, input);
      await budget.change(scope.accountId, { policyId: current.id, set });
      const precedence = input.precedence === undefined ? undefined : { appId: current.app_id!, value: input.precedence };
      if (!(await precedenceFree(store.updatePolicy(scope, current.id, { ...columns, updated_at: stamp() }, precedence), '/precedence'))) throw errors.notFound();
      const updated = await linkedTo(scope, appId, policyId);
      await audited('updated', actor, updated, current);
      return linkedView(updated);
    },
    async deleteForApp(scope: Scope, appId: string, policyId: string, actor: string): Promise<{ id: string }> {
      const current = await linkedTo(scope, appId, policyId);
      ownedBy(current, appId);
      if (!(await store.deletePolicy(scope, current.id))) throw errors.notFound();
      await audited('deleted', actor, current);
      return { id: current.id };
    },

    /**
     * Checks an application's `policies` list (ids, or `{id, precedence}`) before anything is written:
     * each is a reusable policy of the same scope or one of the app's own; precedences are unique.
     */
    async resolveLinks(scope: Scope, appId: string | null, entries: (string | { id: string; precedence?: number | undefined })[]): Promise<LinkRow[]> {
      if (entries.length > MAX_POLICIES_PER_APP) throw errors.invalidRequest(`an application has at most ${MAX_POLICIES_PER_APP} policies`, '/policies');
      const seen = new Set<number>();
      const links: LinkRow[] = [];
      const listed: PolicyRow[] = [];
      for (const [i, entry] of entries.entries()) {
        const { id, precedence } = typeof entry === 'string' ? { id: entry, precedence: undefined } : entry;
        const row = await store.getPolicy(scope, id.toLowerCase());
        if (!row || (row.app_id !== null && row.app_id !== appId)) throw errors.invalidRequest(`no policy ${id} that this application can use`, `/policies/${i}`);
        const p = precedence ?? i + 1;
        if (seen.has(p)) throw errors.invalidRequest(`precedence ${p} is given twice`, `/policies/${i}`);
        if (links.some((l) => l.policy_id === row.id)) throw errors.invalidRequest('the policy is listed twice', `/policies/${i}`);
        seen.add(p);
        links.push({ app_id: appId ?? '', policy_id: row.id, precedence: p });
        listed.push(row);
      }
      // The app keeps its own policies whether listed or not; the list replaces its reusable ones.
      const own = appId === null ? [] : (await store.policiesOfApp(appId)).filter((p) => p.app_id === appId && !listed.some((l) => l.id === p.id));
      await budget.application(scope.accountId, appId === null ? null : (await apps.get(scope, appId)) ?? null, [...own, ...listed].map(ruleSetOf));
      return links;
    },
    /** The write half of `resolveLinks`, run inside the application's own transaction. */
    linkWriter(appId: string, links: LinkRow[]) {
      const write = store.replaceLinks(appId, links.map((l) => ({ ...l, app_id: appId })));
      return async (trx: Parameters<typeof write>[0]) => {
        try {
          await write(trx);
        } catch (error) {
          if (isUniqueViolation(error)) throw errors.invalidRequest('a precedence in the list is already used by one of the application\'s own policies', '/policies');
          if (isForeignKeyViolation(error)) throw errors.invalidRequest('a listed policy was deleted meanwhile', '/policies');
          throw error;
        }
      };
    },
    /** The policies each application uses, in the wire form, for application views. */
    async viewsForApps(appIds: string[], summary = false): Promise<Map<string, (PolicyView | PolicySummary)[]>> {
      const byApp = await store.policiesOfApps(appIds);
      const render = (p: LinkedPolicy) => (summary ? policySummary(p) : linkedView(p));
      return new Map([...byApp].map(([id, list]) => [id, list.map(render)]));
    },
  };
}

export type AccessPoliciesService = ReturnType<typeof createAccessPoliciesService>;

/** The policies capability as the apps capability sees it: an application's `policies` list. */
export function appPolicyLinks(policies: AccessPoliciesService): AppPolicyLinks<LinkRow> {
  return { resolve: policies.resolveLinks, writer: policies.linkWriter, views: policies.viewsForApps };
}
