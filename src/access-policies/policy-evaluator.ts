import { cidrContains, parseCidr } from '../platform/cidr.ts';
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

/** A rule that cannot be decided (a missing group, a cycle): the whole evaluation refuses. */
class Indeterminate extends Error {}

function ipMatches(block: string, ip: string | null): boolean {
  if (ip === null) return false;
  // Node reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d.
  const plain = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(ip)?.[1] ?? ip;
  const outer = parseCidr(block);
  const inner = parseCidr(plain);
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
        if (path.includes(rule.id)) throw new Indeterminate(`group ${rule.id} includes itself`);
        if (path.length >= MAX_GROUP_DEPTH) throw new Indeterminate(`groups are nested more than ${MAX_GROUP_DEPTH} deep`);
        return setMatches(group, [...path, rule.id]);
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
