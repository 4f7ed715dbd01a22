import { errors } from '../platform/http/errors.ts';
import { parseCidr } from '../platform/cidr.ts';
import { canonicalEmail } from '../platform/text.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { AccessPoliciesStore } from './access-policies-store.ts';
import type { AccessCheckInput } from './access-policies-schemas.ts';
import { evaluate, MAX_GROUP_DEPTH, type Decision, type EvalPolicy, type Person, type RuleSet } from './policy-evaluator.ts';
import { ruleSetOf } from './rule-sets.ts';
import type { AccountSnapshot } from '../platform/grant-cache.ts';

/**
 * Who gets a certificate for an application: its Access policies, read from the store, or from the
 * account's snapshot when one is given (valid only at the store's current revision: see grant-cache.ts).
 */
export interface AccessDecider {
  decide(app: { id: string; account_id: string }, person: Person, cache?: Pick<AccountSnapshot, 'get'>): Promise<Decision>;
}

const groupIdsOf = (sets: RuleSet[]): string[] =>
  [...new Set(sets.flatMap((s) => [...s.include, ...s.exclude, ...s.require].flatMap((r) => (r.kind === 'group' ? [r.id] : []))))];

/**
 * Loads an application's policies in precedence order and every group they reach (level by level, at most
 * MAX_GROUP_DEPTH levels), then evaluates. A group that cannot be loaded makes the evaluation refuse.
 */
export function createAccessDecider(store: Pick<AccessPoliciesStore, 'policiesOfApp' | 'groupsById'>): AccessDecider {
  async function load(app: { id: string; account_id: string }) {
    const policies: EvalPolicy[] = (await store.policiesOfApp(app.id)).map((p) => ({
      id: p.id, name: p.name, decision: p.decision === 'allow' ? 'allow' : 'deny', ...ruleSetOf(p),
    }));
    const groups = new Map<string, RuleSet>();
    let wanted = groupIdsOf(policies);
    for (let depth = 0; depth <= MAX_GROUP_DEPTH && wanted.length > 0; depth++) {
      const loaded = await store.groupsById(app.account_id, wanted);
      for (const g of loaded) groups.set(g.id, ruleSetOf(g));
      wanted = groupIdsOf(loaded.map(ruleSetOf)).filter((id) => !groups.has(id));
    }
    return { policies, groups };
  }
  return {
    async decide(app, person, cache) {
      const { policies, groups } = await (cache ? cache.get(`rules:${app.id}`, () => load(app)) : load(app));
      return evaluate(policies, groups, person);
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
