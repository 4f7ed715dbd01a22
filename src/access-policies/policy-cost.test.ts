import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { ApiError } from '../platform/http/errors.ts';
import { parseRules } from './access-rules.ts';
import type { AccessPoliciesStore } from './access-policies-store.ts';
import { createPolicyBudget, MAX_POLICIES_PER_APP } from './policy-budget.ts';
import { compilePolicies, MAX_APP_GROUPS, MAX_APP_RULES, type EvalPolicy, type Person, type RuleSet } from './policy-evaluator.ts';
import { ruleColumns } from './rule-sets.ts';
import { worstCaseGroupId, worstCasePolicySet, WORST_CASE_IDP, WORST_CASE_PERSON, type WireSet } from '../../test/helpers/policy-worst-case.ts';

const parsed = (w: WireSet): RuleSet => ({ include: parseRules(w.include, ''), require: parseRules(w.require, ''), exclude: parseRules(w.exclude, '') });

describe('the cost of a decision', () => {
  const worst = worstCasePolicySet();
  const groups = new Map(worst.groups.map((g, i) => [worstCaseGroupId(i), parsed(g)]));
  const policies: EvalPolicy[] = worst.policies.map((p, i) => ({ id: `p${i}`, name: p.name, decision: p.decision, ...parsed(p) }));
  const person: Person = { email: WORST_CASE_PERSON.email, idpId: WORST_CASE_IDP, claims: WORST_CASE_PERSON.claims, ip: WORST_CASE_PERSON.ip };
  const store: Pick<AccessPoliciesStore, 'groupsById' | 'policiesOfApps' | 'appsReaching'> = {
    groupsById: async (_account, ids) => ids.map((id) => ({ id, account_id: 'a', zone_id: null, name: id, ...ruleColumns(groups.get(id)!), created_at: '', updated_at: '' })),
    policiesOfApps: async () => new Map(),
    appsReaching: async () => [],
  };

  it('the worst set the budget accepts is at every limit, and one rule more is refused', async () => {
    const budget = createPolicyBudget(store);
    await budget.application('a', { name: 'worst' }, policies);
    assert.equal(policies.length, MAX_POLICIES_PER_APP);
    assert.deepEqual(compilePolicies(policies, groups).size, { rules: MAX_APP_RULES, groups: MAX_APP_GROUPS });
    const more = [...policies.slice(0, -1), { ...policies.at(-1)!, exclude: [...policies.at(-1)!.exclude, ...parseRules([{ email: { email: 'one@more.example' } }], '')] }];
    await assert.rejects(budget.application('a', { name: 'worst' }, more), (e: unknown) => e instanceof ApiError && e.status === 400 && /would hold 5001/.test(e.message));
  });

  it('decides for the person who makes it try every policy to the end in well under 1 ms (the median of many decisions)', (t) => {
    // Tests here never assert on time; this one does because issue 23 asks for the bound: under 1 ms per
    // decision for the worst set the API accepts. About 30 µs is expected (policy-evaluator.ts), so the
    // margin is some 30×, for loaded machines; a return to scanning rules (25 ms here) fails it at once.
    const started = performance.now();
    const compiled = compilePolicies(policies, groups);
    const compileMs = performance.now() - started;
    assert.equal(compiled.decide(person).reason, `none of the ${MAX_POLICIES_PER_APP} policies matched`, 'every policy is tried');
    for (let i = 0; i < 500; i++) compiled.decide(person);
    const perDecision: number[] = [];
    for (let sample = 0; sample < 101; sample++) {
      const begin = performance.now();
      for (let i = 0; i < 20; i++) compiled.decide(person);
      perDecision.push((performance.now() - begin) / 20);
    }
    perDecision.sort((a, b) => a - b);
    const median = perDecision[50]!;
    t.diagnostic(`worst accepted set: ${(median * 1000).toFixed(1)} µs per decision (median; fastest ${(perDecision[0]! * 1000).toFixed(1)} µs), compiled in ${compileMs.toFixed(1)} ms`);
    assert.ok(median < 1, `median ${median.toFixed(3)} ms per decision`);
  });
});
