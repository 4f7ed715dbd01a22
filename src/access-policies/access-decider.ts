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
import { parsePolicySettings } from './policy-settings.ts';
import { allowedIdps, parseSettings } from '../access-apps/access-app-settings.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import type { AccountSnapshot } from '../platform/grant-cache.ts';

/**
 * Who gets a certificate for an application: its Access policies, read from the store, or from the
 * account's snapshot when one is given (valid only at the store's current revision: see grant-cache.ts).
 */
export interface AccessDecider {
  /**
   * The decision for a person. A refusal that is the application's or the deciding policy's rule rather
   * than a match — a provider not in `allowed_idps`, a policy that needs approval or a justification, a
   * sign-in older than the session duration — is thrown (403 12140), so the person learns what to do.
   */
  decide(app: { id: string; account_id: string }, person: Person, cache?: Pick<AccountSnapshot, 'get'>): Promise<Decision>;
  /** The same evaluation for the operator's dry run: every refusal is a decision, with its reason. */
  explain(app: { id: string; account_id: string }, person: Person, cache?: Pick<AccountSnapshot, 'get'>): Promise<Decision>;
}

/** What decides issuance besides the rules: the application's and each policy's settings. */
interface Gates {
  appName: string;
  /** Lowercased; empty: every provider of the account. */
  allowedIdps: string[];
  /** The application's session duration, as written and in seconds; null when it has none. */
  session: { text: string; seconds: number } | null;
  policies: Map<string, { name: string; approval: boolean; justification: boolean; session: { text: string; seconds: number } | null }>;
}

const duration = (text: string | null | undefined) => {
  const seconds = text ? parseGoDuration(text) : null;
  return seconds === null ? null : { text: text!, seconds };
};

/**
 * The decision and, when a gate refused what the rules allowed, why. The order is Cloudflare's: the
 * provider is chosen before any policy is tried; a policy's session duration replaces the application's.
 */
function judge(compiled: CompiledPolicies, gates: Gates, person: Person, nowSeconds: number): { decision: Decision; gate?: string } {
  const refuse = (policy: Decision['policy'], reason: string) => ({ decision: { allowed: false, policy, reason }, gate: reason });
  const app = `application "${gates.appName}"`;
  if (gates.allowedIdps.length > 0 && !gates.allowedIdps.includes(person.idpId.toLowerCase())) {
    return refuse(null, `${app} takes sign-ins only from its allowed identity providers (allowed_idps), and this sign-in is from ${person.idpId ? `provider ${person.idpId}` : 'no provider'}: sign in with one of them`);
  }
  const decision = compiled.decide(person);
  if (!decision.allowed || !decision.policy) return { decision };
  const policy = gates.policies.get(decision.policy.id);
  if (policy?.approval) {
    return refuse(decision.policy, `policy "${policy.name}" of ${app} requires an administrator's approval (approval_required), and access-ca takes no access requests yet: it issues no certificate under this policy`);
  }
  if (policy?.justification) {
    return refuse(decision.policy, `policy "${policy.name}" of ${app} requires a purpose justification (purpose_justification_required), which access-ca cannot take yet: it issues no certificate under this policy`);
  }
  const limit = policy?.session ?? gates.session;
  const iat = person.claims['iat'];
  if (limit && typeof iat === 'number' && nowSeconds - iat > limit.seconds) {
    const whose = policy?.session ? `policy "${policy.name}"'s` : `${app}'s`;
    return refuse(decision.policy, `the sign-in is older than ${whose} session duration (${limit.text}): sign in again`);
  }
  return { decision };
}

/**
 * Loads an application's policies in precedence order and every group they reach (policy-budget.ts
 * `loadReach`: at most MAX_GROUP_DEPTH levels, and no further than the budget), and compiles them, once per
 * account revision when a snapshot is given: a decision then only looks the person up. A group that cannot
 * be loaded makes the evaluation refuse. Sign-in age is measured on `clock`.
 */
export function createAccessDecider(store: Pick<AccessPoliciesStore, 'policiesOfApp' | 'groupsById' | 'appGates'>, clock: Clock = systemClock): AccessDecider {
  async function load(app: { id: string; account_id: string }): Promise<{ compiled: CompiledPolicies; gates: Gates }> {
    const [own, rows] = await Promise.all([store.appGates(app.id), store.policiesOfApp(app.id)]);
    const policies: EvalPolicy[] = [];
    const gates: Gates = {
      appName: own?.name ?? app.id,
      allowedIdps: own ? allowedIdps(parseSettings(own.settings)).map((id) => id.toLowerCase()) : [],
      session: duration(own?.session_duration),
      policies: new Map(),
    };
    let rules = 0;
    for (const p of rows) {
      const set = ruleSetOf(p);
      policies.push({ id: p.id, name: p.name, decision: p.decision === 'allow' ? 'allow' : 'deny', ...set });
      const settings = parsePolicySettings(p);
      gates.policies.set(p.id, {
        name: p.name, approval: settings.approval_required === true, justification: settings.purpose_justification_required === true, session: duration(p.session_duration),
      });
      rules += ruleCount(set);
      // Evaluation stops at the policy that passes the budget (compilePolicies): those after it are not read.
      if (rules > MAX_APP_RULES) break;
    }
    // The groups of the policies within the budget; the one that passes it refuses whatever its groups hold.
    const { groups, truncated } = await loadReach(store, app.account_id, rules > MAX_APP_RULES ? policies.slice(0, -1) : policies);
    return { compiled: compilePolicies(policies, groups, { truncated }), gates };
  }
  async function evaluate(app: { id: string; account_id: string }, person: Person, cache?: Pick<AccountSnapshot, 'get'>) {
    const { compiled, gates } = await (cache ? cache.get(`rules:${app.id}`, () => load(app)) : load(app));
    return judge(compiled, gates, person, Math.floor(clock.now().getTime() / 1000));
  }
  return {
    async decide(app, person, cache) {
      const { decision, gate } = await evaluate(app, person, cache);
      if (gate !== undefined) throw errors.policyRefused(gate);
      return decision;
    },
    explain: async (app, person, cache) => (await evaluate(app, person, cache)).decision,
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
  const decision = await deps.decider.explain(app, {
    email: canonicalEmail(input.email), idpId: input.identity_provider_id?.toLowerCase() ?? '', claims: input.claims ?? {}, ip: input.ip ?? null,
  });
  return { decision: decision.policy?.decision ?? 'none', allowed: decision.allowed, policy: decision.policy, reason: decision.reason } as const;
}
