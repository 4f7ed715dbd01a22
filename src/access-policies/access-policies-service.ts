import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { ApiError, errors } from '../platform/http/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AppPolicyLinks, PolicyHolder } from '../access-apps/access-apps-service.ts';
import type { AppPolicyEntry } from '../access-apps/access-apps-schemas.ts';
import type { AccessPoliciesStore, AppPoliciesWrite, LinkedPolicy, LinkRow, PolicyRow } from './access-policies-store.ts';
import { AppPolicyEntry as AppPolicyEntrySchema, type PolicyBody as PolicyInput, type PolicyView } from './access-policies-schemas.ts';
import { checkForApp, extrasColumns, extrasView, mergePolicyExtras, parseConnectionRules, parsePolicySettings } from './policy-settings.ts';
import { checkReferences, parseRuleSet, ruleColumns, ruleSetOf, ruleViews } from './rule-sets.ts';
import { createPolicyBudget, MAX_POLICIES_PER_APP } from './policy-budget.ts';
import { changedFields, type AuditEntry, type AuditSink } from '../audit/audit-log.ts';

const DEFAULT_SESSION = '24h';

/** The wire form of a policy; `precedence` when seen through an application, `reusable` and `app_count` for shared ones. */
export function policyView(row: PolicyRow, extra: { precedence?: number; appCount?: number } = {}): PolicyView {
  return {
    id: row.id, name: row.name, decision: row.decision, ...ruleViews(row),
    ...(extra.precedence === undefined ? {} : { precedence: extra.precedence }),
    session_duration: row.session_duration ?? DEFAULT_SESSION,
    ...extrasView(row),
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
const AUDITED_FIELDS = ['name', 'decision', 'include', 'exclude', 'require', 'session_duration', 'precedence', 'settings', 'connection_rules'] as const;

/** The keys of a `policies` entry that link a policy; any other key writes the policy inline. */
const LINK_KEYS = new Set(['id', 'precedence', 'account_id']);

/** How an application's `policies` list is written: its links only, or (with inline policies) its own policies too. */
export type AppPoliciesPlan = { kind: 'links'; links: LinkRow[] } | { kind: 'whole'; write: AppPoliciesWrite };

/** Runs a check whose refusal points into an inline policy: its pointer goes under `prefix`. */
async function under<T>(prefix: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError && error.code === 12130) {
      const pointer = error.items[0]?.source?.pointer ?? '';
      throw errors.invalidRequest(error.detail ?? 'invalid value', `${prefix}${pointer === '/' ? '' : pointer}`);
    }
    throw error;
  }
}

/**
 * Access policies (reusable and application-owned) and how applications link to them. Each change is an
 * audit event (`access_policy.created` / `.updated` / `.deleted`) by `actor`, naming the policy and what changed.
 */
export function createAccessPoliciesService(deps: { store: AccessPoliciesStore; apps: Pick<AccessAppsStore, 'get'>; clock: Clock; random: Random; audit: Pick<AuditSink, 'record' | 'row'> }) {
  const { store, apps, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());
  const budget = createPolicyBudget(store);

  /** The event of a change to a policy; `before` (an update) makes it say which fields changed. */
  function auditEntry(verb: 'created' | 'updated' | 'deleted', actor: string, row: PolicyRow & { precedence?: number }, before?: PolicyRow & { precedence?: number }): AuditEntry {
    return {
      accountId: row.account_id, type: `access_policy.${verb}`, actor, subject: row.id,
      data: {
        name: row.name, decision: row.decision,
        ...(row.app_id === null ? { reusable: true } : { app_id: row.app_id }),
        ...(row.zone_id === null ? {} : { zone_id: row.zone_id }),
        ...(before ? { changed: changedFields(before, row, AUDITED_FIELDS) } : {}),
      },
    };
  }
  const audited = (...args: Parameters<typeof auditEntry>) => deps.audit.record(auditEntry(...args));

  /** A policy's columns after a write over `stored` (its extras keep what the write leaves out). */
  async function fields(scope: Scope, input: PolicyInput, stored?: PolicyRow) {
    const name = input.name.trim();
    if (!name) throw errors.invalidRequest('name must not be blank', '/name');
    const decision = checkDecision(input.decision);
    const set = parseRuleSet({ include: input.include, exclude: input.exclude ?? undefined, require: input.require ?? undefined });
    await checkReferences(store, scope, set);
    const extras = mergePolicyExtras(stored && { settings: parsePolicySettings(stored), connection_rules: parseConnectionRules(stored) }, input, decision);
    return { set, columns: { name, decision, ...ruleColumns(set), session_duration: input.session_duration ?? null, ...extrasColumns(extras) } };
  }

  /** A reusable policy must suit every application that uses it (infrastructure ones only allow; only they take connection rules). */
  async function suitsItsApps(policyId: string, columns: Pick<PolicyRow, 'name' | 'decision' | 'connection_rules'>): Promise<void> {
    for (const app of await store.appsUsing(policyId)) checkForApp(app, columns, '');
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

  /**
   * One entry of an application's `policies` list, as the row it names or writes: a link names a reusable
   * policy or one of the application's own; an inline policy (any field beyond id, precedence and
   * account_id) is one of its own, changed when `id` names it, else new.
   */
  async function entryRow(scope: Scope, app: PolicyHolder, entry: AppPolicyEntry, at: string, now: string): Promise<{ row: PolicyRow; precedence: number | undefined; written?: 'add' | 'change'; before?: PolicyRow }> {
    const e = (typeof entry === 'string' ? { id: entry } : entry) as Record<string, unknown> & { id?: string; precedence?: number | null; account_id?: string };
    if (e.account_id !== undefined && e.account_id !== scope.accountId) throw errors.invalidRequest('the policy\'s account_id is not this application\'s account', `${at}/account_id`);
    const precedence = e.precedence ?? undefined;
    const body = Object.fromEntries(Object.entries(e).filter(([k]) => !LINK_KEYS.has(k)));
    const named = e.id === undefined ? undefined : await store.getPolicy(scope, e.id.toLowerCase());
    if (Object.keys(body).length === 0) {
      if (e.id === undefined) throw errors.invalidRequest('missing required field', `${at}/id`);
      if (!named || (named.app_id !== null && named.app_id !== (app.existing ? app.id : null))) throw errors.invalidRequest(`no policy ${e.id} that this application can use`, at);
      return { row: named, precedence };
    }
    if (e.id !== undefined && (!named || named.app_id !== app.id || !app.existing)) {
      if (named?.app_id === null) throw errors.invalidRequest(`policy ${e.id} is reusable: change it at /access/policies/${e.id}; an entry that names it takes only id and precedence`, at);
      throw errors.invalidRequest(`no policy ${e.id} of this application`, `${at}/id`);
    }
    for (const required of ['name', 'decision', 'include']) if (body[required] === undefined) throw errors.invalidRequest('missing required field', `${at}/${required}`);
    const { columns } = await under(at, () => fields(scope, body as PolicyInput, named));
    if (named) return { row: { ...named, ...columns, updated_at: now }, precedence, written: 'change', before: named };
    const row: PolicyRow = { id: random.uuid(), account_id: scope.accountId, zone_id: scope.zoneId, app_id: app.id, ...columns, created_at: now, updated_at: now };
    return { row, precedence, written: 'add' };
  }

  return {
    async createReusable(scope: Scope, input: PolicyInput, actor: string): Promise<PolicyView> {
      if (input.precedence != null) throw errors.invalidRequest('a reusable policy takes its precedence from each application\'s policies list', '/precedence');
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
      if (input.precedence != null) throw errors.invalidRequest('a reusable policy takes its precedence from each application\'s policies list', '/precedence');
      const row = await reusable(scope, id);
      const { set, columns } = await fields(scope, input, row);
      await suitsItsApps(row.id, columns);
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
      checkForApp(app, columns, '');
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
      const { set, columns } = await fields(scope, input, current);
      checkForApp((await requireApp(apps, scope, appId)), columns, '');
      await budget.change(scope.accountId, { policyId: current.id, set });
      const precedence = input.precedence == null ? undefined : { appId: current.app_id!, value: input.precedence };
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
     * Checks an application's `policies` list before anything is written: each entry names a reusable
     * policy of the same scope or one of the app's own, or writes one of its own inline; precedences are
     * unique, and every policy suits the application's type. Without a list (`entries` undefined), checks
     * the policies the app keeps against its type. A list of links replaces the app's links to reusable
     * policies and keeps its own policies; a list with inline policies is the app's whole set: own
     * policies it does not name are deleted (how Cloudflare and Terraform treat an application's legacy policies).
     */
    async resolveLinks(scope: Scope, app: PolicyHolder, entries: AppPolicyEntry[] | undefined, actor: string): Promise<AppPoliciesPlan | undefined> {
      const current = app.existing ? await store.policiesOfApp(app.id) : [];
      if (entries === undefined) {
        for (const p of current) checkForApp(app, p, '/type', true);
        return undefined;
      }
      if (entries.length > MAX_POLICIES_PER_APP) throw errors.invalidRequest(`an application has at most ${MAX_POLICIES_PER_APP} policies`, '/policies');
      const inline = entries.some((e) => typeof e === 'object' && Object.keys(e).some((k) => !LINK_KEYS.has(k)));
      const now = stamp();
      const seen = new Set<number>();
      const links: LinkRow[] = [];
      const listed: PolicyRow[] = [];
      const write: AppPoliciesWrite = { remove: [], change: [], add: [], links, audit: [] };
      for (const [i, entry] of entries.entries()) {
        const at = `/policies/${i}`;
        const { row, precedence, written, before } = await entryRow(scope, app, entry, at, now);
        checkForApp(app, row, at, !written);
        const p = precedence ?? i + 1;
        if (seen.has(p)) throw errors.invalidRequest(`precedence ${p} is given twice`, at);
        if (links.some((l) => l.policy_id === row.id)) throw errors.invalidRequest('the policy is listed twice', at);
        seen.add(p);
        links.push({ app_id: app.id, policy_id: row.id, precedence: p });
        listed.push(row);
        if (written === 'add') write.add.push(row);
        if (written === 'change') write.change.push(row);
        if (written) write.audit.push(deps.audit.row(auditEntry(written === 'add' ? 'created' : 'updated', actor, row, before)));
      }
      // The app's own policies the list does not name: kept by a list of links, deleted by a list that writes policies.
      const unnamed = current.filter((p) => p.app_id === app.id && !links.some((l) => l.policy_id === p.id));
      if (!inline) for (const p of unnamed) checkForApp(app, p, '/policies', true);
      await budget.application(scope.accountId, app.existing ? app : null, [...(inline ? [] : unnamed), ...listed].map(ruleSetOf));
      if (!inline) return { kind: 'links', links };
      write.remove = unnamed.map((p) => p.id);
      write.audit.push(...unnamed.map((p) => deps.audit.row(auditEntry('deleted', actor, p))));
      return { kind: 'whole', write };
    },
    /** The write half of `resolveLinks`, run inside the application's own transaction. */
    linkWriter(appId: string, plan: AppPoliciesPlan) {
      const write = plan.kind === 'links'
        ? store.replaceLinks(appId, plan.links.map((l) => ({ ...l, app_id: appId })))
        : store.replaceAppPolicies(appId, plan.write);
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
    /** The identity providers of the account among these ids (an application's allowed_idps). */
    existingIdps: (accountId: string, ids: string[]) => store.existingIdps(accountId, ids),
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
export function appPolicyLinks(policies: AccessPoliciesService): AppPolicyLinks<AppPoliciesPlan> {
  return {
    entrySchema: AppPolicyEntrySchema,
    resolve: policies.resolveLinks,
    writer: policies.linkWriter,
    views: policies.viewsForApps,
    existingIdps: policies.existingIdps,
  };
}
