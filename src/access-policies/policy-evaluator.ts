import { cidrContains, parseCidr } from '../platform/cidr.ts';
import { unmappedAddress } from '../platform/client-address.ts';
import type { Rule } from './access-rules.ts';

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
 * Rules one evaluation may look at. Each group is evaluated once (its result is remembered), so the
 * cost is the number of distinct rules reached; an account that writes more than this gets a refusal,
 * not a stalled event loop.
 */
export const MAX_RULE_EVALUATIONS = 20_000;

/** A rule that cannot be decided (a missing group, a cycle, too much work): the whole evaluation refuses. */
class Indeterminate extends Error {}

function ipMatches(block: string, ip: string | null): boolean {
  if (ip === null) return false;
  // Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d; rules hold such blocks as IPv4.
  const outer = parseCidr(block);
  const inner = parseCidr(unmappedAddress(ip));
  return outer !== null && inner !== null && cidrContains(outer, inner);
}

function claimMatches(value: unknown, wanted: string): boolean {
  if (typeof value === 'string') return value === wanted;
  return Array.isArray(value) && value.some((v) => v === wanted);
}

/**
 * Evaluates Access policies as Cloudflare documents them: a rule set matches when any include rule,
 * every require rule and no exclude rule matches; policies are tried in precedence order and the
 * first allow or deny that matches decides; nothing matching means refused.
 */
export function evaluate(policies: EvalPolicy[], groups: ReadonlyMap<string, RuleSet>, person: Person): Decision {
  const domain = person.email.slice(person.email.lastIndexOf('@') + 1);
  // Each group's result, once known.
  const known = new Map<string, boolean>();
  let budget = MAX_RULE_EVALUATIONS;
  const heights = new Map<string, number>();

  /** How many levels of groups lie below this one: 0 for a group of plain rules; infinite for a cycle or a missing group. */
  function heightOf(id: string, stack: string[] = []): number {
    const memo = heights.get(id);
    if (memo !== undefined) return memo;
    const group = groups.get(id);
    if (!group || stack.includes(id)) return Infinity;
    let h = 0;
    for (const r of [...group.include, ...group.require, ...group.exclude]) {
      if (--budget < 0) throw new Indeterminate(`more than ${MAX_RULE_EVALUATIONS} rules to evaluate`);
      if (r.kind === 'group') h = Math.max(h, 1 + heightOf(r.id, [...stack, id]));
    }
    heights.set(id, h);
    return h;
  }

  function ruleMatches(rule: Rule, path: string[]): boolean {
    if (--budget < 0) throw new Indeterminate(`more than ${MAX_RULE_EVALUATIONS} rules to evaluate`);
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
        // The nesting limit depends only on how deep the groups go below this one, never on which rule
        // reached a group first (whose result is then remembered).
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
    // Every rule is evaluated (no short cut past an undecidable one), so a broken group anywhere refuses.
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
  return {
    allowed: false,
    policy: null,
    reason: policies.length === 0 ? 'the application has no Access policies' : `none of the ${policies.length} policies matched`,
  };
}
