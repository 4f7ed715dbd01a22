import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cidrContains, parseCidr } from '../platform/cidr.ts';
import { unmappedAddress } from '../platform/client-address.ts';
import { parseRules, parseRule, type Rule } from './access-rules.ts';
import { compilePolicies, evaluate, MAX_APP_GROUPS, MAX_APP_RULES, MAX_GROUP_DEPTH, type Decision, type EvalPolicy, type Person, type RuleSet } from './policy-evaluator.ts';
import { fuzzParams, ranEnough } from '../../test/fuzz/fuzz-config.ts';

/**
 * The reference: the evaluator as it was before policies were compiled, a scan of every rule per decision
 * (without its work limit, which the compiled evaluator's budget replaces). The compiled one must decide
 * exactly as it does, reasons included.
 */
function referenceEvaluate(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, person: Person): Decision {
  class Indeterminate extends Error {}
  const domain = person.email.slice(person.email.lastIndexOf('@') + 1);
  const known = new Map<string, boolean>();
  const heights = new Map<string, number>();
  function heightOf(id: string, stack: string[] = []): number {
    const memo = heights.get(id);
    if (memo !== undefined) return memo;
    const group = groups.get(id);
    if (!group || stack.includes(id)) return Infinity;
    let h = 0;
    for (const r of [...group.include, ...group.require, ...group.exclude]) if (r.kind === 'group') h = Math.max(h, 1 + heightOf(r.id, [...stack, id]));
    heights.set(id, h);
    return h;
  }
  function ipMatches(block: string, ip: string | null): boolean {
    if (ip === null) return false;
    const outer = parseCidr(block);
    const inner = parseCidr(unmappedAddress(ip));
    return outer !== null && inner !== null && cidrContains(outer, inner);
  }
  const claimMatches = (value: unknown, wanted: string) => (typeof value === 'string' ? value === wanted : Array.isArray(value) && value.some((v) => v === wanted));
  function ruleMatches(rule: Rule, path: string[]): boolean {
    switch (rule.kind) {
      case 'email': return rule.email === person.email;
      case 'email_domain': return rule.domain === domain;
      case 'everyone': return true;
      case 'login_method': return rule.id === person.idpId;
      case 'oidc': return rule.idpId === person.idpId && claimMatches(person.claims[rule.claimName], rule.claimValue);
      case 'ip': return ipMatches(rule.cidr, person.ip);
      case 'group': {
        const group = groups.get(rule.id);
        if (!group) throw new Indeterminate(`group ${rule.id} does not exist`);
        if (path.length + heightOf(rule.id) >= MAX_GROUP_DEPTH) throw new Indeterminate(`groups are nested more than ${MAX_GROUP_DEPTH} deep, or in a cycle`);
        const state = known.get(rule.id);
        if (state !== undefined) return state;
        const result = setMatches(group, [...path, rule.id]);
        known.set(rule.id, result);
        return result;
      }
      default: {
        const unreachable: never = rule;
        return unreachable;
      }
    }
  }
  function setMatches(set: RuleSet, path: string[]): boolean {
    const included = set.include.map((r) => ruleMatches(r, path));
    const required = set.require.map((r) => ruleMatches(r, path));
    const excluded = set.exclude.map((r) => ruleMatches(r, path));
    return included.some(Boolean) && required.every(Boolean) && !excluded.some(Boolean);
  }
  for (const policy of policies) {
    let matched: boolean;
    try {
      matched = setMatches(policy, []);
    } catch (error) {
      if (!(error instanceof Indeterminate)) throw error;
      return { allowed: false, policy: { id: policy.id, name: policy.name, decision: policy.decision }, reason: `policy "${policy.name}" cannot be evaluated: ${error.message}` };
    }
    if (matched) {
      const { id, name, decision } = policy;
      return { allowed: decision === 'allow', policy: { id, name, decision }, reason: `policy "${name}" matched: ${decision}` };
    }
  }
  return { allowed: false, policy: null, reason: policies.length === 0 ? 'the application has no Access policies' : `none of the ${policies.length} policies matched` };
}

const IDP = '11111111-1111-4111-8111-111111111111';
const OTHER_IDP = '22222222-2222-4222-8222-222222222222';
const ADMINS = '33333333-3333-4333-8333-333333333333';
const CONTRACTORS = '44444444-4444-4444-8444-444444444444';
const LOOP = '55555555-5555-4555-8555-555555555555';
const MISSING = '66666666-6666-4666-8666-666666666666';

const rules = (...r: unknown[]): Rule[] => parseRules(r, '');
const policy = (name: string, decision: 'allow' | 'deny', include: unknown[], more: { exclude?: unknown[]; require?: unknown[] } = {}): EvalPolicy =>
  ({ id: name, name, decision, include: rules(...include), exclude: rules(...(more.exclude ?? [])), require: rules(...(more.require ?? [])) });
const set = (include: unknown[], more: { exclude?: unknown[]; require?: unknown[] } = {}): RuleSet =>
  ({ include: rules(...include), exclude: rules(...(more.exclude ?? [])), require: rules(...(more.require ?? [])) });

const groups = new Map<string, RuleSet>([
  [ADMINS, set([{ email: { email: 'root@example.com' } }, { oidc: { claim_name: 'groups', claim_value: 'admins', identity_provider_id: IDP } }])],
  [CONTRACTORS, set([{ email_domain: { domain: 'partner.example' } }], { exclude: [{ group: { id: ADMINS } }] })],
  [LOOP, set([{ group: { id: LOOP } }])],
]);

const person = (email: string, more: Partial<Person> = {}): Person => ({ email, idpId: IDP, claims: {}, ip: '10.1.2.3', ...more });

// ---- random policies, groups and people, as the API would store them ----

const RUNS = 2_000;
const GROUP_POOL = Array.from({ length: MAX_GROUP_DEPTH + 3 }, (_, i) => `88888888-0000-4000-8000-${String(i).padStart(12, '0')}`);
const IDPS = [IDP, OTHER_IDP];
const CLAIM_NAMES = ['groups', 'dept', 'constructor', '__proto__'];
const CLAIM_VALUES = ['ops', 'admins', 'dev', '1'];
const V4 = ['10.0.0.0', '10.1.2.3', '10.1.255.7', '192.168.1.7', '203.0.113.5', '0.0.0.0'];
const V6 = ['2001:db8::1', '2001:db8:1::5', '2001:db9::', '::1', 'fe80::1:2'];
const v4Number = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const v4Text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
/** Prefix lengths, the usual ones more often, so that blocks and addresses meet. */
const v4Prefix = fc.oneof(fc.constantFrom(0, 8, 16, 24, 31, 32), fc.integer({ min: 0, max: 32 }));
/** A block of `prefix` bits around an address of the pool, host bits cleared. */
const v4Block = fc.tuple(fc.constantFrom(...V4), v4Prefix).map(([a, p]) => `${v4Text(p === 0 ? 0 : (v4Number(a) >>> (32 - p)) << (32 - p) >>> 0)}/${p}`);
const v6Block = fc.tuple(fc.constantFrom(...V6), fc.integer({ min: 0, max: 128 })).map(([a, p]) => {
  const n = parseCidr(a)!.network;
  const network = p === 0 ? 0n : (n >> BigInt(128 - p)) << BigInt(128 - p);
  return `${network.toString(16).padStart(32, '0').match(/.{4}/g)!.join(':')}/${p}`;
});
/** An IPv4 block written the IPv6 way (kept as IPv4), or a short prefix that reaches past the mapped range. */
const mappedBlock = fc.tuple(fc.constantFrom(...V4), v4Prefix).map(([a, p]) => `::ffff:${v4Text(p === 0 ? 0 : (v4Number(a) >>> (32 - p)) << (32 - p) >>> 0)}/${96 + p}`);
/** A rule in wire form; group rules come `groupWeight` in 10 or so (groups name groups less often than policies do). */
const wireRule = (groupWeight: number): fc.Arbitrary<unknown> => fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('a@example.com', 'b@example.com', 'c@partner.example', 'A@Example.com').map((email) => ({ email: { email } })) },
  { weight: 2, arbitrary: fc.constantFrom('example.com', 'partner.example', 'example.org').map((domain) => ({ email_domain: { domain } })) },
  { weight: 1, arbitrary: fc.constant({ everyone: {} }) },
  { weight: groupWeight, arbitrary: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...GROUP_POOL) }, { weight: 1, arbitrary: fc.constant(MISSING) }).map((id) => ({ group: { id } })) },
  { weight: 1, arbitrary: fc.constantFrom(...IDPS).map((id) => ({ login_method: { id } })) },
  { weight: 2, arbitrary: fc.record({ claim_name: fc.constantFrom(...CLAIM_NAMES), claim_value: fc.constantFrom(...CLAIM_VALUES), identity_provider_id: fc.constantFrom(...IDPS) }).map((oidc) => ({ oidc })) },
  { weight: 4, arbitrary: fc.oneof(v4Block, v6Block, mappedBlock, fc.constantFrom('::/0', '0.0.0.0/0', '::ffff:0:0/96', '::/64')).map((ip) => ({ ip: { ip } })) },
);
const wireList = (min: number, max: number, groupWeight: number) => fc.array(wireRule(groupWeight), { minLength: min, maxLength: max }).map((r) => parseRules(r, ''));
const ruleSetArb = (groupWeight: number): fc.Arbitrary<RuleSet> => fc.record({ include: wireList(1, 4, groupWeight), require: wireList(0, 2, groupWeight), exclude: wireList(0, 2, groupWeight) });
/** Random groups (cycles and missing ones happen), or a chain that goes past MAX_GROUP_DEPTH. */
const groupsArb: fc.Arbitrary<Map<string, RuleSet>> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(...GROUP_POOL.map(() => fc.option(ruleSetArb(1), { freq: 6 })))
      .map((sets) => new Map(sets.flatMap((s, i) => (s === null ? [] : [[GROUP_POOL[i]!, s] as [string, RuleSet]])))),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: GROUP_POOL.length - 1 }), ruleSetArb(0), fc.array(fc.tuple(fc.constantFrom(...GROUP_POOL), ruleSetArb(1)), { maxLength: 3 })).map(([length, last, extra]) => new Map([
      ...extra,
      ...GROUP_POOL.slice(0, length + 1).map((id, i) => [id, i < length ? { include: [{ kind: 'group' as const, id: GROUP_POOL[i + 1]! }], exclude: [], require: [] } : last] as [string, RuleSet]),
    ])),
  },
);
const policiesArb: fc.Arbitrary<EvalPolicy[]> = fc.array(fc.tuple(fc.constantFrom('allow', 'deny') as fc.Arbitrary<'allow' | 'deny'>, ruleSetArb(2)), { maxLength: 5 })
  .map((ps) => ps.map(([decision, s], i) => ({ id: `policy-${i}`, name: `p${i}`, decision, ...s })));
const claimArb = fc.oneof(fc.constantFrom(...CLAIM_VALUES, '', 'OPS'), fc.array(fc.constantFrom(...CLAIM_VALUES, 'x'), { maxLength: 4 }), fc.constantFrom(1, null, true, { ops: 'ops' }, [['ops']], [1, 'ops']));
/** Client addresses near the pools' blocks, mapped the ways Node and proxies write them, absent, or not addresses. */
const addressArb = fc.oneof(
  fc.tuple(fc.constantFrom(...V4), fc.integer({ min: 0, max: 1023 })).map(([a, low]) => v4Text((v4Number(a) ^ low) >>> 0)),
  // The first and last addresses of blocks around the pool's.
  fc.tuple(fc.constantFrom(...V4), v4Prefix, fc.boolean()).map(([a, p, last]) => {
    const host = p === 0 ? 0xffffffff : (1 << (32 - p)) - 1;
    return v4Text((last ? v4Number(a) | host : v4Number(a) & ~host) >>> 0);
  }),
  fc.tuple(fc.constantFrom(...V4), fc.integer({ min: 0, max: 255 })).map(([a, low]) => `::ffff:${v4Text((v4Number(a) ^ low) >>> 0)}`),
  fc.constantFrom('::ffff:a01:203', '::ffff:cb00:7105', '2001:db8::1', '2001:db8:1::5', '2001:db8::ffff', '::1', 'fe80::1:2', '::', 'not an address', '10.0.0.0/8'),
);
const personArb: fc.Arbitrary<Person> = fc.record({
  email: fc.constantFrom('a@example.com', 'b@example.com', 'c@partner.example', 'x@com'),
  idpId: fc.constantFrom(...IDPS, ''),
  claims: fc.array(fc.tuple(fc.constantFrom(...CLAIM_NAMES), claimArb), { maxLength: 4 }).map((entries) => Object.fromEntries(entries) as Record<string, unknown>),
  ip: fc.oneof({ weight: 5, arbitrary: addressArb }, { weight: 1, arbitrary: fc.constant(null) }),
});

describe('Access policy evaluator', () => {
  const table: { name: string; policies: EvalPolicy[]; who: Person; allowed: boolean; by: string | null }[] = [
    { name: 'no policy: nobody', policies: [], who: person('a@example.com'), allowed: false, by: null },
    { name: 'everyone', policies: [policy('all', 'allow', [{ everyone: {} }])], who: person('a@example.com'), allowed: true, by: 'all' },
    { name: 'email matches, case-insensitively at write', policies: [policy('p', 'allow', [{ email: { email: 'A@Example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'email does not match', policies: [policy('p', 'allow', [{ email: { email: 'a@example.com' } }])], who: person('b@example.com'), allowed: false, by: null },
    { name: 'email_domain matches', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'email_domain is the exact domain, not a suffix', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@evil-example.com'), allowed: false, by: null },
    { name: 'email_domain: a subdomain is another domain', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@sub.example.com'), allowed: false, by: null },
    { name: 'login_method matches the provider', policies: [policy('p', 'allow', [{ login_method: { id: IDP } }])], who: person('a@x.org'), allowed: true, by: 'p' },
    { name: 'login_method: another provider', policies: [policy('p', 'allow', [{ login_method: { id: OTHER_IDP } }])], who: person('a@x.org'), allowed: false, by: null },
    { name: 'oidc claim string', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'dept', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { dept: 'ops' } }), allowed: true, by: 'p' },
    { name: 'oidc claim array contains', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { groups: ['dev', 'ops'] } }), allowed: true, by: 'p' },
    { name: 'oidc: an array claim holding the value twice meets a require once', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }, { oidc: { claim_name: 'groups', claim_value: 'dev', identity_provider_id: IDP } }] })], who: person('a@x.org', { claims: { groups: ['ops', 'ops', 'x'] } }), allowed: false, by: null },
    { name: 'oidc: require of two values, both held', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }, { oidc: { claim_name: 'groups', claim_value: 'dev', identity_provider_id: IDP } }] })], who: person('a@x.org', { claims: { groups: ['ops', 'dev', 'ops'] } }), allowed: true, by: 'p' },
    { name: 'ip: the last address of a block', policies: [policy('p', 'allow', [{ ip: { ip: '10.1.0.0/16' } }], { require: [{ ip: { ip: '10.1.255.255' } }] })], who: person('a@x.org', { ip: '10.1.255.255' }), allowed: true, by: 'p' },
    { name: 'ip: a block holding another and the address in both', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ ip: { ip: '10.0.0.0/8' } }, { ip: { ip: '10.1.0.0/16' } }, { ip: { ip: '10.1.2.0/24' } }] })], who: person('a@x.org', { ip: '10.1.2.3' }), allowed: true, by: 'p' },
    { name: 'ip: nested blocks, the address past the inner one', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ ip: { ip: '10.0.0.0/8' } }, { ip: { ip: '10.1.0.0/16' } }] })], who: person('a@x.org', { ip: '10.2.0.1' }), allowed: false, by: null },
    { name: 'oidc claim array without it', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { groups: ['dev'] } }), allowed: false, by: null },
    { name: 'oidc claim from another provider', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'dept', claim_value: 'ops', identity_provider_id: OTHER_IDP } }])], who: person('a@x.org', { claims: { dept: 'ops' } }), allowed: false, by: null },
    { name: 'oidc: a number is not the string', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'level', claim_value: '1', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { level: 1 } }), allowed: false, by: null },
    { name: 'ip within the block', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org'), allowed: true, by: 'p' },
    { name: 'ip: IPv4-mapped IPv6 client', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org', { ip: '::ffff:10.9.9.9' }), allowed: true, by: 'p' },
    { name: 'ip: a mapped IPv6 block is an IPv4 block', policies: [policy('p', 'deny', [{ ip: { ip: '::ffff:203.0.113.0/120' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('a@x.org', { ip: '203.0.113.5' }), allowed: false, by: 'p' },
    { name: 'ip: a proxy\'s hex-mapped client address', policies: [policy('p', 'allow', [{ ip: { ip: '203.0.113.0/24' } }])], who: person('a@x.org', { ip: '::ffff:cb00:7105' }), allowed: true, by: 'p' },
    { name: 'ip outside', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org', { ip: '192.168.1.1' }), allowed: false, by: null },
    { name: 'ip: no address known', policies: [policy('p', 'allow', [{ ip: { ip: '0.0.0.0/0' } }])], who: person('a@x.org', { ip: null }), allowed: false, by: null },
    { name: 'include is OR', policies: [policy('p', 'allow', [{ email: { email: 'x@x.org' } }, { email_domain: { domain: 'example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'require is AND: one missing', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ email_domain: { domain: 'example.com' } }, { ip: { ip: '192.168.0.0/16' } }] })], who: person('a@example.com'), allowed: false, by: null },
    { name: 'require is AND: all present', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ email_domain: { domain: 'example.com' } }, { ip: { ip: '10.0.0.0/8' } }] })], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'exclude is NOT', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }], { exclude: [{ email: { email: 'mallory@example.com' } }] })], who: person('mallory@example.com'), allowed: false, by: null },
    { name: 'group include', policies: [policy('p', 'allow', [{ group: { id: ADMINS } }])], who: person('a@x.org', { claims: { groups: ['admins'] } }), allowed: true, by: 'p' },
    { name: 'group exclude', policies: [policy('p', 'allow', [{ everyone: {} }], { exclude: [{ group: { id: ADMINS } }] })], who: person('root@example.com'), allowed: false, by: null },
    { name: 'nested group with its own exclude', policies: [policy('p', 'allow', [{ group: { id: CONTRACTORS } }])], who: person('bob@partner.example'), allowed: true, by: 'p' },
    { name: 'nested group: excluded inside', policies: [policy('p', 'allow', [{ group: { id: CONTRACTORS } }])], who: person('bob@partner.example', { claims: { groups: ['admins'] } }), allowed: false, by: null },
    { name: 'precedence: deny before allow', policies: [policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('bob@partner.example'), allowed: false, by: 'deny-partner' },
    { name: 'precedence: allow before deny', policies: [policy('all', 'allow', [{ everyone: {} }]), policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }])], who: person('bob@partner.example'), allowed: true, by: 'all' },
    { name: 'a deny that does not match passes on', policies: [policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('a@example.com'), allowed: true, by: 'all' },
    { name: 'only deny policies: nobody', policies: [policy('d', 'deny', [{ email: { email: 'x@x.org' } }])], who: person('a@example.com'), allowed: false, by: null },
    { name: 'missing group: fail closed even in exclude', policies: [policy('p', 'allow', [{ everyone: {} }], { exclude: [{ group: { id: MISSING } }] })], who: person('a@example.com'), allowed: false, by: 'p' },
    { name: 'group cycle: fail closed', policies: [policy('p', 'allow', [{ group: { id: LOOP } }, { everyone: {} }])], who: person('a@example.com'), allowed: false, by: 'p' },
  ];
  for (const row of table) {
    it(row.name, () => {
      const d = evaluate(row.policies, groups, row.who);
      assert.equal(d.allowed, row.allowed, d.reason);
      assert.equal(d.policy?.id ?? null, row.by, d.reason);
    });
  }

  it('nested groups cost their distinct rules once: 100 copies of a group, 8 levels deep, answers at once', () => {
    const ids = Array.from({ length: 9 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const deep = new Map<string, RuleSet>();
    deep.set(ids[8]!, set([{ email_domain: { domain: 'example.com' } }]));
    for (let i = 7; i >= 1; i--) {
      const copies = Array.from({ length: 100 }, () => ({ group: { id: ids[i + 1]! } }));
      deep.set(ids[i]!, { include: rules(...copies), require: rules(...copies), exclude: [] });
    }
    const p = [policy('deep', 'allow', [{ group: { id: ids[1]! } }])];
    const start = performance.now();
    assert.equal(evaluate(p, deep, person('a@example.com')).allowed, true);
    assert.equal(evaluate(p, deep, person('a@other.example')).allowed, false);
    assert.ok(performance.now() - start < 1000, 'not exponential');
  });

  it('a stored set past the budget refuses from the policy that passes it; the policies before it still decide', () => {
    // 100 policies of 201 rules: the 25th passes 5,000 (written before the budget; the API refuses it now).
    const many = Array.from({ length: 100 }, (_, i) => policy(`p${i}`, 'allow', Array.from({ length: 100 }, (_, j) => ({ email: { email: `x${j}@x${i}.org` } })), { require: Array.from({ length: 100 }, (_, j) => ({ email_domain: { domain: `d${j}.example.com` } })), exclude: [{ email: { email: 'y@x.org' } }] }));
    const passing = Math.floor(MAX_APP_RULES / 201);
    const d = evaluate(many, groups, person('a@example.com'));
    assert.deepEqual([d.allowed, d.policy?.id], [false, `p${passing}`]);
    assert.match(d.reason, new RegExp(`passes the budget of ${MAX_APP_RULES} rules`));
    const early = evaluate(many, groups, person('x3@x7.org'));
    assert.equal(early.allowed, false, 'x3@x7.org matches the include of p7 but not its require');
    const allowedEarly = evaluate([policy('first', 'allow', [{ email: { email: 'x3@x7.org' } }]), ...many], groups, person('x3@x7.org'));
    assert.deepEqual([allowedEarly.allowed, allowedEarly.policy?.id], [true, 'first']);
    assert.deepEqual(compilePolicies(many, groups).size, { rules: passing * 201, groups: 0 }, 'nothing past it is compiled');
  });

  it('more groups than the budget: the policy that reaches past it refuses; an unloaded group past the budget is not called missing', () => {
    const id = (n: number) => `77777777-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const many = new Map<string, RuleSet>(Array.from({ length: MAX_APP_GROUPS + 1 }, (_, n) => [id(n), set([{ email: { email: `g${n}@x.org` } }])]));
    const naming = (from: number, to: number) => Array.from({ length: to - from }, (_, n) => ({ group: { id: id(from + n) } }));
    const policies = [policy('a', 'deny', naming(0, 100)), policy('b', 'deny', naming(100, 200)), policy('c', 'deny', naming(200, MAX_APP_GROUPS)), policy('d', 'allow', naming(MAX_APP_GROUPS, MAX_APP_GROUPS + 1))];
    const d = evaluate(policies, many, person('a@example.com'));
    assert.deepEqual([d.allowed, d.policy?.id], [false, 'd']);
    assert.match(d.reason, /passes the budget/);
    assert.equal(evaluate(policies, many, person('g250@x.org')).policy?.id, 'c', 'a group within the budget still decides');
    const unloaded = [policy('p', 'allow', [{ group: { id: MISSING } }])];
    assert.match(compilePolicies(unloaded, groups).decide(person('a@example.com')).reason, /does not exist/);
    assert.match(compilePolicies(unloaded, groups, { truncated: true }).decide(person('a@example.com')).reason, /passes the budget/);
  });

  it('decides exactly as the reference scan, reasons included, on random policies, groups and people', () => {
    const seen = { allowed: 0, denied: 0, none: 0, indeterminate: 0, byAddress: 0 };
    fc.assert(fc.property(policiesArb, groupsArb, personArb, (policies, groupSets, who) => {
      const expected = referenceEvaluate(policies, groupSets, who);
      seen[expected.allowed ? 'allowed' : expected.policy === null ? 'none' : / cannot be evaluated: /.test(expected.reason) ? 'indeterminate' : 'denied']++;
      if (referenceEvaluate(policies, groupSets, { ...who, ip: null }).allowed !== expected.allowed) seen.byAddress++;
      const compiled = compilePolicies(policies, groupSets);
      assert.deepEqual(compiled.decide(who), expected);
      // The scratch space of one decision does not leak into the next.
      assert.deepEqual(compiled.decide({ ...who, email: 'other@elsewhere.example', claims: {}, ip: null }), referenceEvaluate(policies, groupSets, { ...who, email: 'other@elsewhere.example', claims: {}, ip: null }));
      assert.deepEqual(compiled.decide(who), expected);
    }), fuzzParams(RUNS));
    // The generators reach every outcome, and addresses decide some of them.
    if (ranEnough(RUNS)) for (const [outcome, n] of Object.entries(seen)) assert.ok(n >= RUNS / 100, `${outcome}: ${JSON.stringify(seen)} of ${RUNS}`);
  });

  it('refuses unknown rule types and bad values at write time, naming them', () => {
    const bad: [unknown, string, RegExp][] = [
      [{ geo: { country_code: 'US' } }, '/0', /rule type "geo" is not supported/],
      [{ service_token: { token_id: 'x' } }, '/0', /"service_token" is not supported/],
      [{ email: { email: 'nope' } }, '/0/email/email', /an email address/],
      [{ email: { email: 'a@b.com', extra: 1 } }, '/0/email/extra', /unknown field/],
      [{ email_domain: { domain: '*.example.com' } }, '/0/email_domain/domain', /a domain/],
      [{ ip: { ip: '10.0.0.1/8' } }, '/0/ip/ip', /host bits zero/],
      [{ group: { id: 'not-a-uuid' } }, '/0/group/id', /group id/],
      [{ oidc: { claim_name: 'a\u001b[2J', claim_value: 'v', identity_provider_id: IDP } }, '/0/oidc/claim_name', /a claim name/],
      [{ email: { email: 'a@b.com' }, everyone: {} }, '/0', /exactly one rule type/],
      ['everyone', '/0', /a rule is an object/],
    ];
    for (const [rule, pointer, message] of bad) {
      assert.throws(() => parseRules([rule], ''), (e: any) => e.code === 12130 && e.items[0].source?.pointer === pointer && message.test(e.message), JSON.stringify(rule));
    }
    assert.deepEqual(parseRule({ everyone: {} }, ''), { kind: 'everyone' });
    assert.deepEqual(parseRule({ ip: { ip: '::ffff:10.0.0.0/104' } }, ''), { kind: 'ip', cidr: '10.0.0.0/8' });
    assert.throws(() => parseRule({ email: { email: 'Bob@\u212Apmg.com' } }, ''), /an email address/, 'a Kelvin sign is not a k');
    assert.equal(parseRules([{ email: { email: 'a@b.com' } }, { email: { email: 'A@B.com' } }], '').length, 1, 'the same rule twice is kept once');
  });
});
