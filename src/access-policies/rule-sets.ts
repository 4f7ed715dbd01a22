import { errors } from '../platform/http/errors.ts';
import type { Scope } from '../identity/authenticate.ts';
import { parseRules, referencedIds, rulesFromJson, rulesJson, ruleView } from './access-rules.ts';
import type { RuleSet } from './policy-evaluator.ts';
import type { AccessPoliciesStore } from './access-policies-store.ts';

interface RulesInput {
  include: unknown[];
  exclude?: unknown[] | undefined;
  require?: unknown[] | undefined;
}

/** Checks a policy's or group's three rule lists; include needs at least one rule (an empty one would match nobody). */
export function parseRuleSet(input: RulesInput): RuleSet {
  const set = { include: parseRules(input.include, '/include'), exclude: parseRules(input.exclude, '/exclude'), require: parseRules(input.require, '/require') };
  if (set.include.length === 0) throw errors.invalidRequest('at least one include rule is needed', '/include');
  return set;
}

/**
 * Every group and identity provider a rule set names must exist where the rule set lives: a group of
 * the same account (account-level, or of the same zone) and a provider of the same account.
 */
export async function checkReferences(store: Pick<AccessPoliciesStore, 'groupsById' | 'existingIdps'>, scope: Scope, set: RuleSet, selfId?: string): Promise<void> {
  for (const list of ['include', 'exclude', 'require'] as const) {
    const { groups, idps } = referencedIds(set[list]);
    if (selfId !== undefined && groups.includes(selfId)) throw errors.invalidRequest('a group cannot include itself', `/${list}`);
    const found = new Map((await store.groupsById(scope.accountId, groups)).map((g) => [g.id, g]));
    for (const id of groups) {
      const g = found.get(id);
      if (!g || (g.zone_id !== null && g.zone_id !== scope.zoneId)) throw errors.invalidRequest(`no Access group ${id} here`, `/${list}`);
    }
    const known = new Set(await store.existingIdps(scope.accountId, idps));
    for (const id of idps) if (!known.has(id)) throw errors.invalidRequest(`no identity provider ${id} in this account`, `/${list}`);
  }
}

/** The rule columns of a row. */
export const ruleColumns = (set: RuleSet) => ({ include: rulesJson(set.include), exclude: rulesJson(set.exclude), require: rulesJson(set.require) });

/** A stored row's rules, read back. */
export const ruleSetOf = (row: { include: string; exclude: string; require: string }): RuleSet =>
  ({ include: rulesFromJson(row.include), exclude: rulesFromJson(row.exclude), require: rulesFromJson(row.require) });

/** The wire form of a stored row's rules. */
export function ruleViews(row: { include: string; exclude: string; require: string }) {
  const set = ruleSetOf(row);
  return { include: set.include.map(ruleView), exclude: set.exclude.map(ruleView), require: set.require.map(ruleView) };
}
