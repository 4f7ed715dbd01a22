import { parseCidr, type Cidr } from '../platform/cidr.ts';
import { unmappedAddress } from '../platform/client-address.ts';
import type { Rule } from './access-rules.ts';
import { addressBlocks, type AddressBlocks } from './address-blocks.ts';

/** Who is asking, as far as the identity provider vouched for it and the server saw it. */
export interface Person {
  /** Lowercased. */
  email: string;
  /** The identity provider whose token was verified. */
  idpId: string;
  claims: Record<string, unknown>;
  /** The client address cert_sign saw; null when there is none (a dry run without one). */
  ip: string | null;
}

export interface RuleSet {
  include: Rule[];
  exclude: Rule[];
  require: Rule[];
}

export interface EvalPolicy extends RuleSet {
  id: string;
  name: string;
  decision: 'allow' | 'deny';
}

export interface Decision {
  allowed: boolean;
  /** The policy that decided; null when none matched (or the evaluation could not be completed). */
  policy: { id: string; name: string; decision: 'allow' | 'deny' } | null;
  /** For the audit log and the operator's dry run, never for the person refused. */
  reason: string;
}

/** Groups can name groups; deeper nesting than this is refused as indeterminate. */
export const MAX_GROUP_DEPTH = 8;

/**
 * The budget of one application: its policies, with every group they reach (each group counted once, at
 * any depth), may hold at most MAX_APP_RULES rules and reach at most MAX_APP_GROUPS groups; with
 * MAX_POLICIES_PER_APP (100) and MAX_GROUP_DEPTH these are all the limits. Writes that would pass it are
 * refused (policy-budget.ts); a set stored before it existed refuses from the policy that passes it.
 *
 * Why these numbers. A decision does not scan rules (`compilePolicies`): the person's attributes are looked
 * up once (a hash lookup each; for `ip`, a binary search and a walk up the blocks that hold the address),
 * then it costs one step per list of each policy tried and group reached, one per group reference and one
 * per rule the person matches. So the rule count bounds references and matches, the group count the groups
 * evaluated; plain rules (ip ranges, emails) cost when the set is loaded, not per decision. Measured on this
 * project's 2-core machines (Node 20; one P-256 verify ≈ 90–110 µs of CPU there) for the worst set the
 * budget accepts (test/helpers/policy-worst-case.ts: 100 policies each tried to its end, 300 groups nested
 * 8 deep and all evaluated, the rest of the 5,000 rules matched by the person, over every IPv6 prefix
 * length): ≈ 30 µs per decision (policy-cost.test.ts), against ≈ 0.5 µs for a one-rule policy and ≈ 25 ms
 * for the rule-by-rule scan this replaced, on the same set. At 10,000 rules the same shape took 60–110 µs.
 * The first decision after a change also reads and compiles the set, once per account revision: ≈ 20–40 ms
 * at 5,000 rules, most of it checking each stored rule again as it is read. Cloudflare's own limits are
 * 1,000 rules per application and 300 groups per account, with up to 1,000 addresses in one rule (a rule
 * here holds one).
 */
export const MAX_APP_RULES = 5_000;
/** Groups one application's policies may reach: Cloudflare's limit of groups per account. */
export const MAX_APP_GROUPS = 300;

/** A rule set's lists, in the order evaluation takes them; list number 3s + k is list k of rule set s. */
const LISTS = ['include', 'require', 'exclude'] as const;

/** List numbers. */
type Lists = number[];

/**
 * For each kind of plain rule, which lists hold such a rule with this value: a person's attributes are
 * looked up here once per decision, instead of each rule being compared with them.
 */
interface RuleIndex {
  everyone: Lists;
  emails: Map<string, Lists>;
  domains: Map<string, Lists>;
  logins: Map<string, Lists>;
  /** Provider → claim name → claim value → lists. */
  claims: Map<string, Map<string, Map<string, Lists>>>;
  /** Address blocks, sorted, finding those that hold an address without looking at the others. */
  blocks: AddressBlocks<Lists>;
}

/** An application's policies, compiled once: deciding for a person does not scan the rules. */
export interface CompiledPolicies {
  /** Decides as `evaluate` does. */
  decide(person: Person): Decision;
  /** What was compiled: the rules and groups counted against the budget, up to where evaluation stops. */
  readonly size: { rules: number; groups: number };
}

function add<K>(map: Map<K, Lists>, key: K, list: number): void {
  const lists = map.get(key);
  if (lists) lists.push(list);
  else map.set(key, [list]);
}

const rulesOf = (set: RuleSet): Rule[] => [...set.include, ...set.require, ...set.exclude];

/**
 * Finds, policy by policy in precedence order, why one cannot be evaluated: a group that does not exist,
 * groups nested deeper than MAX_GROUP_DEPTH or in a cycle anywhere below its group rules, or the budget
 * passed by the policies up to it (with the groups they reach). `truncated`: the loader stopped at the
 * budget (policy-budget.ts), so a group it did not read is past the budget, not missing.
 */
function stopFinder(groups: ReadonlyMap<string, RuleSet>, truncated: boolean) {
  const heights = new Map<string, number>();
  /** How many levels of groups lie below this one, up to MAX_GROUP_DEPTH; that much for a missing group or a cycle. */
  function heightOf(id: string, stack: Set<string>): number {
    const memo = heights.get(id);
    if (memo !== undefined) return memo;
    const group = groups.get(id);
    if (!group || stack.has(id)) return MAX_GROUP_DEPTH;
    stack.add(id);
    let h = 0;
    for (const r of rulesOf(group)) if (r.kind === 'group' && h < MAX_GROUP_DEPTH) h = Math.max(h, Math.min(MAX_GROUP_DEPTH, 1 + heightOf(r.id, stack)));
    stack.delete(id);
    heights.set(id, h);
    return h;
  }
  const overBudget = `with the policies before it and the groups they reach, it passes the budget of ${MAX_APP_RULES} rules and ${MAX_APP_GROUPS} groups`;
  const size = { rules: 0, groups: 0 };
  const reached = new Set<string>();

  return {
    size,
    /** Why this policy cannot be evaluated, or null (and then what it reaches is counted). */
    stopOf(policy: EvalPolicy): string | null {
      // The groups it reaches that the policies before it did not.
      const fresh = new Set<string>();
      let unread = false;
      const visit = (set: RuleSet) => {
        for (const r of rulesOf(set)) {
          if (r.kind !== 'group' || reached.has(r.id) || fresh.has(r.id)) continue;
          const group = groups.get(r.id);
          if (!group) unread = true;
          else {
            fresh.add(r.id);
            visit(group);
          }
        }
      };
      visit(policy);
      let rules = rulesOf(policy).length;
      for (const id of fresh) rules += rulesOf(groups.get(id)!).length;
      if (size.rules + rules > MAX_APP_RULES || size.groups + fresh.size > MAX_APP_GROUPS || (unread && truncated)) return overBudget;
      // In the order the scan met them: the first rule that cannot be decided names the reason.
      for (const list of LISTS) {
        for (const r of policy[list]) {
          if (r.kind !== 'group') continue;
          if (!groups.has(r.id)) return `group ${r.id} does not exist`;
          // Nesting depends only on how deep the groups go below this one, never on which rule reached a group first.
          if (heightOf(r.id, new Set()) >= MAX_GROUP_DEPTH) return `groups are nested more than ${MAX_GROUP_DEPTH} deep, or in a cycle`;
        }
      }
      size.rules += rules;
      size.groups += fresh.size;
      for (const id of fresh) reached.add(id);
      return null;
    },
  };
}

/**
 * Rule sets (policies and the groups they name, each group once) turned into lists: per list, the number
 * of its plain rules, indexed by value in `index`, and the rule sets of the groups it names.
 */
function listBuilder(groups: ReadonlyMap<string, RuleSet>) {
  const index: Omit<RuleIndex, 'blocks'> = { everyone: [], emails: new Map(), domains: new Map(), logins: new Map(), claims: new Map() };
  const blocks: [Cidr, Lists][] = [];
  // Policies often repeat the same blocks; each text is parsed once.
  const parsed = new Map<string, Cidr | null>();
  const plain: number[] = [];
  const named: number[][] = [];
  const setOfGroup = new Map<string, number>();
  let sets = 0;

  function indexRule(rule: Exclude<Rule, { kind: 'group' }>, list: number): void {
    switch (rule.kind) {
      case 'everyone': index.everyone.push(list); break;
      case 'email': add(index.emails, rule.email, list); break;
      case 'email_domain': add(index.domains, rule.domain, list); break;
      case 'login_method': add(index.logins, rule.id, list); break;
      case 'oidc': {
        let byName = index.claims.get(rule.idpId);
        if (!byName) index.claims.set(rule.idpId, (byName = new Map()));
        let byValue = byName.get(rule.claimName);
        if (!byValue) byName.set(rule.claimName, (byValue = new Map()));
        add(byValue, rule.claimValue, list);
        break;
      }
      case 'ip': {
        // A block that does not parse holds no address: the rule never matches (and a require never holds).
        let cidr = parsed.get(rule.cidr);
        if (cidr === undefined) parsed.set(rule.cidr, (cidr = parseCidr(rule.cidr)));
        if (cidr) blocks.push([cidr, [list]]);
        break;
      }
      default: {
        const unreachable: never = rule;
        return unreachable;
      }
    }
  }
  /** The number of a rule set, added with the groups it names. */
  function addSet(set: RuleSet): number {
    const s = sets++;
    for (const [k, name] of LISTS.entries()) {
      const list = 3 * s + k;
      plain[list] = 0;
      named[list] = [];
      for (const rule of set[name]) {
        if (rule.kind === 'group') named[list].push(groupSet(rule.id));
        else {
          plain[list]++;
          indexRule(rule, list);
        }
      }
    }
    return s;
  }
  function groupSet(id: string): number {
    let s = setOfGroup.get(id);
    if (s === undefined) setOfGroup.set(id, (s = addSet(groups.get(id)!)));
    return s;
  }
  return {
    add: addSet,
    build() {
      const lists = 3 * sets;
      // A group is added inside the set that names it, so lists were filled out of order: packed copies
      // keep evaluation on V8's fast elements. The groups of list l are named[start[l]] .. named[start[l + 1] - 1].
      const start = new Uint32Array(lists + 1);
      for (let l = 0; l < lists; l++) start[l + 1] = start[l]! + named[l]!.length;
      return {
        sets, lists, index: { ...index, blocks: addressBlocks(blocks, (a, b) => [...a, ...b]) } as RuleIndex,
        plain: Uint16Array.from({ length: lists }, (_, l) => plain[l]!), start, named: Uint32Array.from(named.flat()),
      };
    },
  };
}

/**
 * Compiles policies (in precedence order) and the groups they reach. What evaluation would refuse as
 * indeterminate is found here, once (`stopFinder`); evaluation stops at the first such policy, so nothing
 * after it is compiled. Deciding is then a lookup of the person's attributes in the index, one step per
 * list of each policy tried and group reached, and one per group it names.
 */
export function compilePolicies(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, options: { truncated?: boolean } = {}): CompiledPolicies {
  const stops = stopFinder(groups, options.truncated ?? false);
  const builder = listBuilder(groups);
  const steps: ({ policy: EvalPolicy; set: number } | { policy: EvalPolicy; reason: string })[] = [];
  for (const policy of policies) {
    const reason = stops.stopOf(policy);
    if (reason !== null) {
      steps.push({ policy, reason });
      break;
    }
    steps.push({ policy, set: builder.add(policy) });
  }
  const { sets, lists, index, plain, start, named } = builder.build();
  const noneMatched = policies.length === 0 ? 'the application has no Access policies' : `none of the ${policies.length} policies matched`;

  // Scratch for one decision at a time (a decision runs to its end without yielding): per list, how many
  // of its plain rules the person matches; per rule set, its result once known (1 matches, 2 does not).
  const hits = new Uint16Array(lists);
  const known = new Uint8Array(sets);
  const groupMatches = (s: number): boolean => {
    if (known[s] === 0) known[s] = setMatches(s) ? 1 : 2;
    return known[s] === 1;
  };
  // A group already decided is read from `known` in the loop: most references are such, and a call per
  // reference costs several times the read.
  const anyOf = (list: number) => {
    if (hits[list]! > 0) return true;
    for (let i = start[list]!, end = start[list + 1]!; i < end; i++) {
      const g = named[i]!;
      if (known[g] === 1 || (known[g] === 0 && groupMatches(g))) return true;
    }
    return false;
  };
  const allOf = (list: number) => {
    if (hits[list] !== plain[list]) return false;
    for (let i = start[list]!, end = start[list + 1]!; i < end; i++) {
      const g = named[i]!;
      if (known[g] === 2 || (known[g] === 0 && !groupMatches(g))) return false;
    }
    return true;
  };
  // Include is OR, require is AND, exclude is NOT. No rule can be undecidable here (that was found at
  // compile time), so a list may stop at its first answer.
  const setMatches = (s: number) => anyOf(3 * s) && allOf(3 * s + 1) && !anyOf(3 * s + 2);

  return {
    size: { ...stops.size },
    decide(person: Person): Decision {
      hits.fill(0);
      known.fill(0);
      countMatches(index, hits, person);
      for (const step of steps) {
        const { id, name, decision } = step.policy;
        const policy = { id, name, decision };
        if ('reason' in step) return { allowed: false, policy, reason: `policy "${name}" cannot be evaluated: ${step.reason}` };
        if (setMatches(step.set)) return { allowed: decision === 'allow', policy, reason: `policy "${name}" matched: ${decision}` };
      }
      return { allowed: false, policy: null, reason: noneMatched };
    },
  };
}

/** Counts, for every list that holds them, the plain rules this attribute value matches. */
function mark(hits: Uint16Array, lists: Lists | undefined): void {
  if (lists) for (let i = 0; i < lists.length; i++) hits[lists[i]!]!++;
}

/** Counts, per list, the plain rules the person matches: the index looked up with each attribute once. */
function countMatches(index: RuleIndex, hits: Uint16Array, person: Person): void {
  mark(hits, index.everyone);
  mark(hits, index.emails.get(person.email));
  mark(hits, index.domains.get(person.email.slice(person.email.lastIndexOf('@') + 1)));
  mark(hits, index.logins.get(person.idpId));
  const byName = index.claims.get(person.idpId);
  if (byName) {
    // The person's claims are walked once (their size is the token's); an array claim matches each
    // distinct string it holds.
    for (const name of Object.keys(person.claims)) {
      const byValue = byName.get(name);
      if (!byValue) continue;
      const value = person.claims[name];
      if (typeof value === 'string') mark(hits, byValue.get(value));
      else if (Array.isArray(value)) for (const v of new Set(value)) if (typeof v === 'string') mark(hits, byValue.get(v));
    }
  }
  if (person.ip !== null && index.blocks.size > 0) {
    // Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d; rules hold such blocks as IPv4.
    const address = parseCidr(unmappedAddress(person.ip));
    if (address) for (const lists of index.blocks.holding(address)) mark(hits, lists);
  }
}

/**
 * Evaluates Access policies as Cloudflare documents them: a rule set matches when any include rule,
 * every require rule and no exclude rule matches; policies are tried in precedence order and the
 * first allow or deny that matches decides; nothing matching means refused. A policy that cannot be
 * evaluated (a missing group, a cycle, nesting past MAX_GROUP_DEPTH, the budget) refuses, naming it.
 * For one decision; an application's policies are compiled once and kept (access-decider.ts).
 */
export function evaluate(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, person: Person): Decision {
  return compilePolicies(policies, groups).decide(person);
}
