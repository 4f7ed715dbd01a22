import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { parseRules, rulesFromJson, rulesJson, RULE_TYPES, type Rule } from '../../src/access-policies/access-rules.ts';
import { evaluate, MAX_GROUP_DEPTH, type Decision, type EvalPolicy, type Person, type RuleSet } from '../../src/access-policies/policy-evaluator.ts';
import { ApiError } from '../../src/platform/http/errors.ts';
import { globMatch } from '../../src/ssh-certs/policy/glob.ts';
import { fuzzParams, PER_INPUT_MS } from './fuzz-config.ts';
import { addressString, domainString, emailString, jsonText, nastyString, objectText, required, stringText } from './fuzz-arbitraries.ts';

const RUNS = 1_000;

const IDP_A = '11111111-1111-4111-8111-111111111111';
const IDP_B = '22222222-2222-4222-8222-222222222222';
/** Group ids: enough of them that a chain can pass MAX_GROUP_DEPTH without repeating one. */
const GROUP_IDS = Array.from({ length: MAX_GROUP_DEPTH + 3 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
const MISSING_GROUP = 'ffffffff-ffff-4fff-8fff-ffffffffffff';

// ---- parseRules ----

const ruleShape: fc.Arbitrary<string> = fc.oneof(
  objectText({ email: required(objectText({ email: required(stringText(emailString)) })) }),
  objectText({ email_domain: required(objectText({ domain: required(stringText(domainString)) })) }),
  fc.constantFrom('{"everyone":{}}', '{"everyone":{"x":1}}', '{"everyone":[]}', '{"everyone":null}', '{"everyone":true}', '{}', '{"everyone":{},"email":{"email":"a@example.com"}}'),
  objectText({ group: required(objectText({ id: required(stringText(fc.constantFrom(...GROUP_IDS, GROUP_IDS[0]!.toUpperCase()), fc.uuid())) })) }),
  objectText({ login_method: required(objectText({ id: required(stringText(fc.constantFrom(IDP_A, IDP_A.toUpperCase()), fc.uuid())) })) }),
  objectText({
    oidc: required(objectText({
      claim_name: required(stringText(fc.constantFrom('groups', 'dept', 'a'.repeat(257)))),
      claim_value: required(stringText(fc.constantFrom('ops', 'admins', ''))),
      identity_provider_id: required(stringText(fc.constantFrom(IDP_A, IDP_B))),
    })),
  }),
  objectText({ ip: required(objectText({ ip: required(stringText(addressString)) })) }),
  fc.tuple(fc.constantFrom('geo', 'device_posture', 'saml', '__proto__', 'constructor', 'toString', 'EMAIL', 'Everyone'), jsonText()).map(([k, v]) => `{${JSON.stringify(k)}:${v}}`),
);
const rulesValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.array(ruleShape, { maxLength: 5 }).map((xs) => JSON.parse(`[${xs.join(',')}]`) as unknown) },
  { weight: 1, arbitrary: fc.array(ruleShape, { minLength: 101, maxLength: 102 }).map((xs) => JSON.parse(`[${xs.join(',')}]`) as unknown) },
  { weight: 2, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: jsonText(['email', 'email_domain', 'everyone', 'group', 'id', 'ip', 'oidc']).map((t) => JSON.parse(t) as unknown) },
  { weight: 1, arbitrary: fc.anything() },
  { weight: 1, arbitrary: nastyString },
);

// ---- a reference evaluator, written from the README's rules, not from the module ----

/** Which client addresses lie in which `ip` rule's block (worked out by hand; an IPv4-mapped client counts as IPv4). */
const BLOCKS: Record<string, string[]> = {
  '10.0.0.0/8': ['10.1.2.3', '10.2.0.1', '::ffff:10.1.2.3'],
  '10.1.0.0/16': ['10.1.2.3', '::ffff:10.1.2.3'],
  '0.0.0.0/0': ['10.1.2.3', '10.2.0.1', '192.168.1.7', '8.8.8.8', '::ffff:10.1.2.3'],
  '192.168.1.0/24': ['192.168.1.7'],
  '::/0': ['::1', '2001:db8::5', '2001:db9::1'],
  '2001:db8::/32': ['2001:db8::5'],
  '::1/128': ['::1'],
  '10.1.2.3': ['10.1.2.3', '::ffff:10.1.2.3'],
};
const CLIENTS = ['10.1.2.3', '10.2.0.1', '192.168.1.7', '8.8.8.8', '::1', '2001:db8::5', '2001:db9::1', '::ffff:10.1.2.3'];
const EMAILS = ['a@example.com', 'b@example.com', 'c@partner.example', 'root@example.com', 'x@example.com.evil'];
const DOMAINS = ['example.com', 'partner.example', 'evil', 'com'];

type Tri = 'yes' | 'no' | 'undecided';

/** The reference's decision, and whether it met the nesting limit on the way (where a known bug lies). */
function reference(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, who: Person): { allowed: boolean; policyId: string | null; depthLimited: boolean } {
  let depthLimited = false;
  const ruleMatch = (rule: Rule, entered: string[]): Tri => {
    switch (rule.kind) {
      case 'email': return rule.email === who.email ? 'yes' : 'no';
      case 'email_domain': return who.email.split('@').pop() === rule.domain ? 'yes' : 'no';
      case 'everyone': return 'yes';
      case 'login_method': return rule.id === who.idpId ? 'yes' : 'no';
      case 'oidc': {
        const claim = who.claims[rule.claimName];
        const has = typeof claim === 'string' ? claim === rule.claimValue : Array.isArray(claim) && claim.includes(rule.claimValue);
        return rule.idpId === who.idpId && has ? 'yes' : 'no';
      }
      case 'ip': return who.ip !== null && (BLOCKS[rule.cidr] ?? assert.fail(`no table row for ${rule.cidr}`)).includes(who.ip) ? 'yes' : 'no';
      case 'group': {
        const group = groups.get(rule.id);
        if (!group || entered.includes(rule.id)) return 'undecided';
        if (entered.length >= MAX_GROUP_DEPTH) {
          depthLimited = true;
          return 'undecided';
        }
        return setMatch(group, [...entered, rule.id]);
      }
      default: {
        const unreachable: never = rule;
        return unreachable;
      }
    }
  };
  const setMatch = (set: RuleSet, entered: string[]): Tri => {
    const [inc, req, exc] = [set.include, set.require, set.exclude].map((rules) => rules.map((r) => ruleMatch(r, entered)));
    // A rule that cannot be decided anywhere in the set leaves the whole set undecided: fail closed.
    if ([...inc!, ...req!, ...exc!].includes('undecided')) return 'undecided';
    return inc!.includes('yes') && req!.every((m) => m === 'yes') && !exc!.includes('yes') ? 'yes' : 'no';
  };
  for (const p of policies) {
    const m = setMatch(p, []);
    if (m === 'undecided') return { allowed: false, policyId: p.id, depthLimited };
    if (m === 'yes') return { allowed: p.decision === 'allow', policyId: p.id, depthLimited };
  }
  return { allowed: false, policyId: null, depthLimited };
}

// ---- generators of typed rules, groups, policies and people ----

const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  fc.constantFrom(...EMAILS).map((email) => ({ kind: 'email' as const, email })),
  fc.constantFrom(...DOMAINS).map((domain) => ({ kind: 'email_domain' as const, domain })),
  fc.constant({ kind: 'everyone' as const }),
  { weight: 2, arbitrary: fc.constantFrom(...GROUP_IDS, MISSING_GROUP).map((id) => ({ kind: 'group' as const, id })) },
  fc.constantFrom(IDP_A, IDP_B).map((id) => ({ kind: 'login_method' as const, id })),
  fc.record({ claimName: fc.constantFrom('groups', 'dept'), claimValue: fc.constantFrom('ops', 'admins'), idpId: fc.constantFrom(IDP_A, IDP_B) }).map((r) => ({ kind: 'oidc' as const, ...r })),
  fc.constantFrom(...Object.keys(BLOCKS)).map((cidr) => ({ kind: 'ip' as const, cidr })),
);
const ruleSetArb: fc.Arbitrary<RuleSet> = fc.record({
  include: fc.array(ruleArb, { maxLength: 3 }),
  exclude: fc.array(ruleArb, { maxLength: 2 }),
  require: fc.array(ruleArb, { maxLength: 2 }),
});
/** Groups: random rule sets (cycles and missing groups happen), or a chain deeper than the limit. */
const groupsArb: fc.Arbitrary<Map<string, RuleSet>> = fc.oneof(
  fc.array(fc.tuple(fc.constantFrom(...GROUP_IDS), ruleSetArb), { maxLength: GROUP_IDS.length }).map((entries) => new Map(entries)),
  fc.tuple(fc.integer({ min: 1, max: GROUP_IDS.length - 1 }), ruleSetArb).map(([length, last]) => new Map(GROUP_IDS.slice(0, length + 1).map((id, i) =>
    [id, i < length ? { include: [{ kind: 'group' as const, id: GROUP_IDS[i + 1]! }], exclude: [], require: [] } : last] as [string, RuleSet]))),
);
const policiesArb: fc.Arbitrary<EvalPolicy[]> = fc.array(fc.tuple(fc.constantFrom('allow', 'deny') as fc.Arbitrary<'allow' | 'deny'>, ruleSetArb), { maxLength: 4 })
  .map((ps) => ps.map(([decision, set], i) => ({ id: `policy-${i}`, name: `p${i}`, decision, ...set })));
const claimArb = fc.oneof(fc.constantFrom('ops', 'admins', 'dev', '', 'OPS'), fc.array(fc.constantFrom('ops', 'admins', 'dev'), { maxLength: 3 }), fc.constantFrom(1, null, true, { ops: 'ops' }, [['ops']]));
const personArb: fc.Arbitrary<Person> = fc.record({
  email: fc.constantFrom(...EMAILS),
  idpId: fc.constantFrom(IDP_A, IDP_B, ''),
  claims: fc.record({ groups: claimArb, dept: claimArb }, { requiredKeys: [] }),
  ip: fc.oneof(fc.constantFrom(...CLIENTS), fc.constant(null)),
});

function evaluateChecked(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, who: Person): Decision {
  const label = `policies ${JSON.stringify(policies)} groups ${JSON.stringify([...groups])} person ${JSON.stringify(who)}`;
  let decision: Decision;
  try {
    decision = evaluate(policies, groups, who);
  } catch (error) {
    assert.fail(`evaluate threw ${error instanceof Error ? error.stack : String(error)} for ${label}`);
  }
  assert.deepEqual(evaluate(policies, groups, who), decision, `not deterministic: ${label}`);
  if (decision.allowed) {
    assert.ok(decision.policy !== null && decision.policy.decision === 'allow', `allowed without an allow policy: ${label}`);
    const decider = policies.find((p) => p.id === decision.policy!.id);
    assert.ok(decider && decider.decision === 'allow', `allowed by a policy not in the list: ${label}`);
  }
  return decision;
}

// ---- glob: a memoized reference over the same code units ----

function globReference(pattern: string, text: string): boolean {
  const memo = new Map<number, boolean>();
  const at = (i: number, j: number): boolean => {
    const key = i * (text.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === pattern.length) r = j === text.length;
    else if (pattern[i] === '*') r = at(i + 1, j) || (j < text.length && at(i, j + 1));
    else r = j < text.length && (pattern[i] === '?' || pattern[i] === text[j]) && at(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return at(0, 0);
}

describe('fuzz: Access rules, the policy evaluator and principal globs', () => {
  it('parseRules: any JSON either parses or is refused with 400 12130 pointing into the list; what parses reads back the same', () => {
    fc.assert(fc.property(rulesValue, (value) => {
      const label = `rules ${JSON.stringify(value)?.slice(0, 500)}`;
      let rules: Rule[];
      try {
        rules = parseRules(value, '/include');
      } catch (error) {
        assert.ok(error instanceof ApiError, `threw ${error instanceof Error ? error.stack : String(error)} for ${label}`);
        assert.equal(error.code, 12130, label);
        assert.equal(error.status, 400, label);
        const pointer = error.items[0]!.source?.pointer;
        assert.ok(pointer === '/include' || pointer?.startsWith('/include/'), `pointer ${pointer}: ${label}`);
        return;
      }
      assert.ok(Array.isArray(value) || value === null || value === undefined, label);
      assert.ok(rules.length <= 100, label);
      for (const r of rules) {
        assert.ok((RULE_TYPES as readonly string[]).includes(r.kind), label);
        if (r.kind === 'email') assert.equal(r.email, r.email.toLowerCase(), label);
        if (r.kind === 'email_domain') assert.equal(r.domain, r.domain.toLowerCase(), label);
        if (r.kind === 'group' || r.kind === 'login_method') assert.equal(r.id, r.id.toLowerCase(), label);
      }
      assert.deepEqual(rulesFromJson(rulesJson(rules)), rules, `stored rules do not read back: ${label}`);
    }), fuzzParams(RUNS));
  });

  it('evaluate: never throws, is deterministic, and decides as the reference evaluator does', () => {
    fc.assert(fc.property(policiesArb, groupsArb, personArb, (policies, groups, who) => {
      const decision = evaluateChecked(policies, groups, who);
      const { depthLimited, ...expected } = reference(policies, groups, who);
      void depthLimited;
      assert.deepEqual({ allowed: decision.allowed, policyId: decision.policy?.id ?? null }, expected,
        `policies ${JSON.stringify(policies)} groups ${JSON.stringify([...groups])} person ${JSON.stringify(who)}: ${decision.reason}`);
    }), fuzzParams(RUNS));
  });

  it('evaluate: the order of rules within include, require and exclude (of policies and groups) never changes the decision', () => {
    const reversed = (s: RuleSet): RuleSet => ({ include: [...s.include].reverse(), exclude: [...s.exclude].reverse(), require: [...s.require].reverse() });
    fc.assert(fc.property(policiesArb, groupsArb, personArb, (policies, groups, who) => {
      const decision = evaluateChecked(policies, groups, who);
      const flipped = evaluateChecked(policies.map((p) => ({ ...p, ...reversed(p) })), new Map([...groups].map(([id, g]) => [id, reversed(g)])), who);
      assert.deepEqual([flipped.allowed, flipped.policy?.id], [decision.allowed, decision.policy?.id],
        `policies ${JSON.stringify(policies)} groups ${JSON.stringify([...groups])} person ${JSON.stringify(who)}: ${decision.reason} / reversed: ${flipped.reason}`);
    }), fuzzParams(RUNS));
  });

  it('evaluate: a matching deny policy placed first always refuses, whatever follows; no policies refuse everyone', () => {
    const denyFirst = fc.tuple(policiesArb, groupsArb, personArb, fc.constantFrom('everyone', 'email', 'domain', 'idp'), fc.boolean());
    fc.assert(fc.property(denyFirst, ([policies, groups, who, how, withRequire]) => {
      const include: Rule = how === 'everyone' ? { kind: 'everyone' } : how === 'email' ? { kind: 'email', email: who.email }
        : how === 'domain' ? { kind: 'email_domain', domain: who.email.slice(who.email.lastIndexOf('@') + 1) } : { kind: 'login_method', id: who.idpId };
      if (how === 'idp' && who.idpId === '') return;
      const deny: EvalPolicy = { id: 'deny-first', name: 'deny', decision: 'deny', include: [include], exclude: [], require: withRequire ? [{ kind: 'everyone' }] : [] };
      const decision = evaluateChecked([deny, ...policies], groups, who);
      assert.equal(decision.allowed, false);
      assert.equal(decision.policy?.id, 'deny-first');
      const none = evaluateChecked([], groups, who);
      assert.deepEqual([none.allowed, none.policy], [false, null]);
    }), fuzzParams(RUNS));
  });

  it('globMatch: the same answer as a memoized reference, on short patterns and texts over a small alphabet', () => {
    const small = (chars: string[], max: number) => fc.string({ unit: fc.constantFrom(...chars), maxLength: max });
    const cases = fc.oneof(
      fc.tuple(small(['a', 'b', '*', '?'], 10), small(['a', 'b', '*', '?'], 10)),
      fc.tuple(small(['a', 'b', '*', '?', '.', '-'], 16), small(['a', 'b', '.', '-'], 24)),
      fc.tuple(small(['a', '*', '?'], 40), small(['a', 'b'], 60)),
    );
    fc.assert(fc.property(cases, ([pattern, text]) => {
      const started = performance.now();
      const got = globMatch(pattern, text);
      assert.ok(performance.now() - started < PER_INPUT_MS);
      assert.equal(got, globReference(pattern, text), `globMatch(${JSON.stringify(pattern)}, ${JSON.stringify(text)})`);
    }), fuzzParams(RUNS * 3));
  });

  it('globMatch: patterns of up to 256 characters against 256-character principals answer in well under a millisecond each', () => {
    const long = fc.tuple(fc.string({ unit: fc.constantFrom('a', '*', '?', 'b'), minLength: 128, maxLength: 256 }), fc.string({ unit: fc.constantFrom('a', 'a', 'a', 'b'), minLength: 200, maxLength: 256 }));
    let worst = 0;
    fc.assert(fc.property(long, ([pattern, text]) => {
      const started = performance.now();
      for (let i = 0; i < 10; i++) globMatch(pattern, text);
      worst = Math.max(worst, (performance.now() - started) / 10);
      assert.equal(globMatch(pattern, text), globReference(pattern, text), `globMatch(${JSON.stringify(pattern)}, ${JSON.stringify(text)})`);
    }), fuzzParams(Math.ceil(RUNS / 5)));
    // A backtracking matcher takes seconds on some of these; the bound leaves room for a loaded machine.
    assert.ok(worst < 20, `slowest match ${worst.toFixed(3)} ms`);
  });
});
