import { errors } from '../platform/http/errors.ts';
import type { AccessPoliciesStore } from './access-policies-store.ts';
import { MAX_APP_GROUPS, MAX_APP_RULES, MAX_GROUP_DEPTH, type RuleSet } from './policy-evaluator.ts';
import { ruleSetOf } from './rule-sets.ts';

/** Policies one application may use: enough for any real setup, and a bound on each evaluation. */
export const MAX_POLICIES_PER_APP = 100;

const groupIdsOf = (sets: RuleSet[]): string[] =>
  [...new Set(sets.flatMap((s) => [...s.include, ...s.exclude, ...s.require].flatMap((r) => (r.kind === 'group' ? [r.id] : []))))];
/** Rules a rule set holds, as the budget counts them. */
export const ruleCount = (s: RuleSet): number => s.include.length + s.exclude.length + s.require.length;

/** The groups some rule sets reach, and what they cost against the budget. */
export interface Reach {
  groups: Map<string, RuleSet>;
  /** The rules of the rule sets and of each group read, once. */
  rules: number;
  /** Reading stopped at the budget: groups past it were not read. */
  truncated: boolean;
}

/** Groups read once for several applications' checks: a group (or null, none such) by id. */
export type GroupCache = Map<string, RuleSet | null>;

/**
 * Every group these rule sets reach, read level by level as far as evaluation looks (MAX_GROUP_DEPTH levels
 * below them), each once. Reading stops before a level that would pass the budget, so that a set stored
 * before the budget existed costs no more than the budget to load. `replaced` stands in for a group's
 * stored rules (a write being checked).
 */
export async function loadReach(
  store: Pick<AccessPoliciesStore, 'groupsById'>, accountId: string, sets: RuleSet[],
  options: { replaced?: ReadonlyMap<string, RuleSet>; cache?: GroupCache } = {},
): Promise<Reach> {
  const groups = new Map<string, RuleSet>();
  const cache = options.cache ?? new Map<string, RuleSet | null>();
  let rules = sets.reduce((n, s) => n + ruleCount(s), 0);
  let wanted = groupIdsOf(sets);
  for (let depth = 0; depth <= MAX_GROUP_DEPTH && wanted.length > 0; depth++) {
    if (rules > MAX_APP_RULES || groups.size + wanted.length > MAX_APP_GROUPS) return { groups, rules, truncated: true };
    const unread = wanted.filter((id) => !options.replaced?.has(id) && !cache.has(id));
    // At most MAX_APP_GROUPS ids here, within what groupsById reads in one query.
    for (const row of await store.groupsById(accountId, unread)) cache.set(row.id, ruleSetOf(row));
    const level: RuleSet[] = [];
    for (const id of wanted) {
      const set = options.replaced?.get(id) ?? cache.get(id) ?? null;
      if (set === null) {
        cache.set(id, null);
        continue;
      }
      groups.set(id, set);
      rules += ruleCount(set);
      level.push(set);
    }
    wanted = groupIdsOf(level).filter((id) => !groups.has(id) && cache.get(id) !== null);
  }
  return { groups, rules, truncated: false };
}

/** The 400 for a write that would pass the budget: which limit, by how much, and what to merge. */
function overBudget(subject: string, reach: Reach): Error | null {
  if (reach.rules > MAX_APP_RULES) {
    const more = reach.truncated ? 'more than ' : '';
    return errors.invalidRequest(
      `over the policy budget: an application's Access policies, with the groups they reach (each counted once), may hold at most ${MAX_APP_RULES} rules, `
      + `and ${subject} would hold ${more}${reach.rules}. Merge adjacent ip ranges into fewer CIDRs, match people by email_domain, login_method or an oidc claim `
      + 'instead of one email rule each, and move rules that several policies repeat into one group they share',
    );
  }
  if (reach.truncated || reach.groups.size > MAX_APP_GROUPS) {
    return errors.invalidRequest(
      `over the policy budget: an application's Access policies may reach at most ${MAX_APP_GROUPS} groups (nested ones included), `
      + `and ${subject} would reach ${reach.truncated ? `more than ${MAX_APP_GROUPS}` : reach.groups.size}. Merge groups that are used together into one`,
    );
  }
  return null;
}

/**
 * The policy budget (policy-evaluator.ts MAX_APP_RULES, MAX_APP_GROUPS; MAX_POLICIES_PER_APP), checked on
 * every write that could grow what an application evaluates. Two writes racing may together pass it; the
 * evaluation then refuses from the policy where it is passed (fail closed), never spending more.
 */
export function createPolicyBudget(store: Pick<AccessPoliciesStore, 'groupsById' | 'policiesOfApps' | 'appsReaching'>) {
  async function check(accountId: string, subject: string, policies: RuleSet[], options: { replaced?: ReadonlyMap<string, RuleSet>; cache?: GroupCache } = {}) {
    if (policies.length > MAX_POLICIES_PER_APP) throw errors.invalidRequest(`an application has at most ${MAX_POLICIES_PER_APP} policies`);
    const refusal = overBudget(subject, await loadReach(store, accountId, policies, options));
    if (refusal) throw refusal;
  }

  return {
    /** One application's policies as the write would leave them. */
    application: (accountId: string, app: { name: string } | null, policies: RuleSet[]) =>
      check(accountId, app ? `application "${app.name}"` : 'the application', policies),
    /** A policy or group that no application uses yet: on its own, it must fit in one. */
    alone: (accountId: string, what: 'policy' | 'group', set: RuleSet) => check(accountId, `this ${what}`, [set]),

    /** A policy or group as the write would leave it, in every application that uses it (or `alone`, if none does). */
    async change(accountId: string, change: { policyId: string; set: RuleSet } | { groupId: string; set: RuleSet }) {
      const id = 'policyId' in change ? change.policyId : change.groupId;
      const apps = await store.appsReaching(accountId, id);
      if (apps.length === 0) return check(accountId, `this ${'policyId' in change ? 'policy' : 'group'}`, [change.set]);
      const byApp = await store.policiesOfApps(apps.map((a) => a.id));
      const options = { cache: new Map() as GroupCache, ...('groupId' in change ? { replaced: new Map([[change.groupId, change.set]]) } : {}) };
      for (const app of apps) {
        const policies = (byApp.get(app.id) ?? []).map((p) => ('policyId' in change && p.id === change.policyId ? change.set : ruleSetOf(p)));
        await check(accountId, `application "${app.name}"`, policies, options);
      }
    },
  };
}

export type PolicyBudget = ReturnType<typeof createPolicyBudget>;
