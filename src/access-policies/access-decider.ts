import { errors } from '../platform/http/errors.ts';
import { parseCidr } from '../platform/cidr.ts';
import { canonicalEmail } from '../platform/text.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AccessPoliciesStore } from './access-policies-store.ts';
import type { AccessCheckInput } from './access-policies-schemas.ts';
import { compilePolicies, MAX_APP_RULES, type CompiledPolicies, type Decision, type EvalPolicy, type Person } from './policy-evaluator.ts';
import { loadReach, ruleCount } from './policy-budget.ts';
import { ruleSetOf } from './rule-sets.ts';
import type { AccountSnapshot } from '../platform/grant-cache.ts';

/**
 * Who gets a certificate for an application: its Access policies, read from the store, or from the
 * account's snapshot when one is given (valid only at the store's current revision: see grant-cache.ts).
 */
export interface AccessDecider {
  decide(app: { id: string; account_id: string }, person: Person, cache?: Pick<AccountSnapshot, 'get'>): Promise<Decision>;
}

/**
 * Loads an application's policies in precedence order and every group they reach (policy-budget.ts
 * `loadReach`: at most MAX_GROUP_DEPTH levels, and no further than the budget), and compiles them, once per
 * account revision when a snapshot is given: a decision then only looks the person up. A group that cannot
 * be loaded makes the evaluation refuse.
 */
export function createAccessDecider(store: Pick<AccessPoliciesStore, 'policiesOfApp' | 'groupsById'>): AccessDecider {
  async function load(app: { id: string; account_id: string }): Promise<CompiledPolicies> {
    const policies: EvalPolicy[] = [];
    let rules = 0;
    for (const p of await store.policiesOfApp(app.id)) {
      const set = ruleSetOf(p);
      policies.push({ id: p.id, name: p.name, decision: p.decision === 'allow' ? 'allow' : 'deny', ...set });
      rules += ruleCount(set);
      // Evaluation stops at the policy that passes the budget (compilePolicies): those after it are not read.
      if (rules > MAX_APP_RULES) break;
    }
    // The groups of the policies within the budget; the one that passes it refuses whatever its groups hold.
    const { groups, truncated } = await loadReach(store, app.account_id, rules > MAX_APP_RULES ? policies.slice(0, -1) : policies);
    return compilePolicies(policies, groups, { truncated });
  }
  return {
    async decide(app, person, cache) {
      const compiled = await (cache ? cache.get(`rules:${app.id}`, () => load(app)) : load(app));
      return compiled.decide(person);
    },
  };
}


/**
 * The operator's dry run: the same evaluation cert_sign makes, for a person described by hand. It says
 * which policy decided and why — what cert_sign keeps for the audit log and never tells the person.
 */
export async function checkAccess(
  deps: { apps: Pick<AccessAppsStore, 'get'>; decider: AccessDecider },
  scope: Scope,
  appId: string,
  input: AccessCheckInput,
) {
  const app = await requireApp(deps.apps, scope, appId);
  if (input.ip !== undefined && parseCidr(input.ip)?.prefix !== (input.ip.includes(':') ? 128 : 32)) {
    throw errors.invalidRequest('must be one IP address', '/ip');
  }
  const decision = await deps.decider.decide(app, {
    email: canonicalEmail(input.email), idpId: input.identity_provider_id?.toLowerCase() ?? '', claims: input.claims ?? {}, ip: input.ip ?? null,
  });
  return { decision: decision.policy?.decision ?? 'none', allowed: decision.allowed, policy: decision.policy, reason: decision.reason } as const;
}
