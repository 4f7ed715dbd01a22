import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../platform/http/errors.ts';
import { parseRules } from './access-rules.ts';
import type { AccessPoliciesStore, GroupRow, LinkedPolicy } from './access-policies-store.ts';
import { createPolicyBudget, loadReach, MAX_POLICIES_PER_APP } from './policy-budget.ts';
import { MAX_APP_GROUPS, MAX_APP_RULES, type RuleSet } from './policy-evaluator.ts';
import { ruleColumns } from './rule-sets.ts';

const ACCOUNT = 'acct';
const gid = (n: number) => `99999999-0000-4000-8000-${String(n).padStart(12, '0')}`;
const emails = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ email: { email: `${tag}${i}@example.com` } }));
const set = (include: unknown[], more: { require?: unknown[]; exclude?: unknown[] } = {}): RuleSet =>
  ({ include: parseRules(include, ''), require: parseRules(more.require ?? [], ''), exclude: parseRules(more.exclude ?? [], '') });
/** A rule set of 300 rules (the most one holds), naming `names` groups in its require list. */
const big = (tag: string, names: number[] = []) =>
  set(emails(100, `${tag}a`), { require: [...names.map((n) => ({ group: { id: gid(n) } })), ...emails(100 - names.length, `${tag}b`)], exclude: emails(100, `${tag}c`) });

/** The store as the budget reads it, over groups and application policies held in memory; counts its group reads. */
function memoryStore(groups: Map<string, RuleSet>, apps: Map<string, { name: string; policies: (RuleSet & { id: string })[] }> = new Map()) {
  const reads: string[][] = [];
  const row = (id: string, s: RuleSet) => ({ id, account_id: ACCOUNT, zone_id: null, name: id, ...ruleColumns(s), created_at: '', updated_at: '' });
  const store: Pick<AccessPoliciesStore, 'groupsById' | 'policiesOfApps' | 'appsReaching'> = {
    async groupsById(_account, ids) {
      reads.push(ids);
      return ids.flatMap((id): GroupRow[] => (groups.has(id) ? [row(id, groups.get(id)!)] : []));
    },
    async policiesOfApps(ids) {
      return new Map(ids.map((id) => [id, apps.get(id)!.policies.map((p, i): LinkedPolicy => ({ ...row(p.id, p), app_id: id, decision: 'allow', session_duration: null, settings: '{}', connection_rules: null, precedence: i + 1 }))]));
    },
    async appsReaching(_account, id) {
      const names = (s: RuleSet): string[] => [...s.include, ...s.require, ...s.exclude].flatMap((r) => (r.kind === 'group' ? [r.id, ...names(groups.get(r.id) ?? set([]))] : []));
      return [...apps].filter(([, a]) => a.policies.some((p) => p.id === id || names(p).includes(id))).map(([appId, a]) => ({ id: appId, name: a.name }));
    },
  };
  return { store, reads };
}

const refusal = (message: RegExp) => (error: unknown) => error instanceof ApiError && error.status === 400 && error.code === 12130 && message.test(error.message);

describe('the policy budget', () => {
  it('loadReach reads each group once, level by level, and counts its rules once however often it is named', async () => {
    const groups = new Map([[gid(0), set([{ everyone: {} }])], [gid(1), set([{ group: { id: gid(0) } }, { email: { email: 'a@example.com' } }])]]);
    const { store, reads } = memoryStore(groups);
    const policies = [set([{ group: { id: gid(1) } }, { group: { id: gid(0) } }]), set([{ group: { id: gid(1) } }])];
    const reach = await loadReach(store, ACCOUNT, policies);
    assert.deepEqual([[...reach.groups.keys()].sort(), reach.rules, reach.truncated], [[gid(0), gid(1)], 3 + 1 + 2, false]);
    assert.deepEqual(reads, [[gid(1), gid(0)]], 'one read: the second level names only groups already read');
  });

  it('loadReach stops before a level that would pass the budget, and a replaced group stands for the stored one', async () => {
    const groups = new Map(Array.from({ length: 20 }, (_, n) => [gid(n), big(`g${n}`)]));
    const { store, reads } = memoryStore(groups);
    const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ group: { id: gid(from + i) } }));
    // 17 groups of 300 rules: more than 5,000, read in one level, then no further.
    const over = await loadReach(store, ACCOUNT, [set(names(0, 17))]);
    assert.equal(over.truncated, false, 'the level was read');
    assert.ok(over.rules > MAX_APP_RULES);
    const chain = new Map(groups);
    chain.set(gid(0), big('g0', [18]));
    const deeper = await loadReach(memoryStore(chain).store, ACCOUNT, [set(names(0, 17))]);
    assert.equal(deeper.truncated, true, 'past the budget, the next level is not read');
    const replaced = await loadReach(store, ACCOUNT, [set(names(0, 2))], { replaced: new Map([[gid(1), set([{ everyone: {} }])]]) });
    assert.equal(replaced.rules, 2 + 300 + 1);
    assert.ok(!reads.at(-1)!.includes(gid(1)), 'the replaced group is not read');
  });

  it('refuses a write that passes a limit, naming it, the application and what to merge; accepts one at the limit', async () => {
    const groups = new Map(Array.from({ length: 17 }, (_, n) => [gid(n), big(`g${n}`)]));
    const budget = createPolicyBudget(memoryStore(groups).store);
    const names = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ group: { id: gid(from + i) } }));
    await budget.application(ACCOUNT, { name: 'bastion' }, [set(names(0, 16)), set(emails(100, 'x'), { require: emails(84, 'y') })]);
    await assert.rejects(budget.application(ACCOUNT, { name: 'bastion' }, [set(names(0, 16)), set(emails(100, 'x'), { require: emails(85, 'y') })]),
      refusal(new RegExp(`at most ${MAX_APP_RULES} rules, and application "bastion" would hold ${MAX_APP_RULES + 1}\\. Merge adjacent ip ranges into fewer CIDRs`)));
    await assert.rejects(budget.alone(ACCOUNT, 'group', set(names(0, 17))), refusal(/this group would hold 5117/));
    await assert.rejects(budget.application(ACCOUNT, null, Array.from({ length: MAX_POLICIES_PER_APP + 1 }, () => set([{ everyone: {} }]))), refusal(/at most 100 policies/));
  });

  it('refuses more groups than the budget, counting nested ones', async () => {
    const groups = new Map(Array.from({ length: MAX_APP_GROUPS + 1 }, (_, n) => [gid(n), set([{ email: { email: `g${n}@example.com` } }])]));
    // Groups 0, 100 and 200 name the 99 or 100 after them.
    const naming = (first: number, count: number) => set(Array.from({ length: count }, (_, i) => ({ group: { id: gid(first + 1 + i) } })));
    groups.set(gid(0), naming(0, 99)).set(gid(100), naming(100, 99)).set(gid(200), naming(200, 100));
    const budget = createPolicyBudget(memoryStore(groups).store);
    await budget.application(ACCOUNT, { name: 'a' }, [set([{ group: { id: gid(0) } }, { group: { id: gid(100) } }])]);
    await assert.rejects(budget.application(ACCOUNT, { name: 'a' }, [set([{ group: { id: gid(0) } }, { group: { id: gid(100) } }]), set([{ group: { id: gid(200) } }])]),
      refusal(new RegExp(`may reach at most ${MAX_APP_GROUPS} groups \\(nested ones included\\), and application "a" would reach more than ${MAX_APP_GROUPS}\\. Merge groups`)));
  });

  it('a change to a group or a reusable policy is checked in every application that reaches it, as it would be', async () => {
    const groups = new Map([[gid(0), set([{ everyone: {} }])], [gid(1), set([{ group: { id: gid(0) } }])], [gid(2), big('spare')]]);
    const apps = new Map([
      ['app-1', { name: 'small', policies: [{ id: 'p1', ...set([{ group: { id: gid(1) } }]) }] }],
      ['app-2', { name: 'full', policies: [{ id: 'p2', ...set([{ group: { id: gid(1) } }]) }, ...Array.from({ length: 16 }, (_, i) => ({ id: `f${i}`, ...big(`f${i}`) }))] }],
    ]);
    const budget = createPolicyBudget(memoryStore(groups, apps).store);
    const grown = big('grown');
    await assert.rejects(budget.change(ACCOUNT, { groupId: gid(0), set: grown }), refusal(/application "full" would hold 5102/));
    await budget.change(ACCOUNT, { groupId: gid(0), set: set(emails(100, 'ok')) });
    await assert.rejects(budget.change(ACCOUNT, { policyId: 'p2', set: big('p') }), refusal(/application "full" would hold 5100/));
    await budget.change(ACCOUNT, { policyId: 'p1', set: set(emails(100, 'p')) });
    await budget.change(ACCOUNT, { groupId: gid(2), set: big('unused') });
  });
});
