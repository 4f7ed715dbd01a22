import assert from 'node:assert/strict';
import { parseCidr } from '../../src/platform/cidr.ts';
import { MAX_APP_GROUPS, MAX_APP_RULES, MAX_GROUP_DEPTH } from '../../src/access-policies/policy-evaluator.ts';
import { MAX_POLICIES_PER_APP } from '../../src/access-policies/policy-budget.ts';
import { MAX_RULES } from '../../src/access-policies/access-rules.ts';

/** Rules as the API takes them. */
export type WireRule = Record<string, Record<string, string>>;
export interface WireSet { include: WireRule[]; require: WireRule[]; exclude: WireRule[] }

/** The identity provider the rules name: replace it with a real provider's id where the set is written. */
export const WORST_CASE_IDP = '0000aaaa-0000-4000-8000-000000000000';
/** The person every policy is tried for, to the end (none matches): what a long refusal costs. */
export const WORST_CASE_PERSON = {
  email: 'worst@example.com',
  ip: '2001:db8::1',
  /** A real token's claims: twenty strings and a `groups` array of 100. */
  claims: {
    groups: Array.from({ length: 100 }, (_, i) => `team-${i}`),
    ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`claim-${i}`, `value-${i}`])),
  } as Record<string, unknown>,
};

/** Group ids, in creation order; a set's group rules name these (replace them with the ids the API gives). */
export const worstCaseGroupId = (n: number) => `0000bbbb-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** Every block that holds this address, one per prefix length (129 for IPv6, 33 for IPv4). */
function blocksHolding(address: string): WireRule[] {
  const { family, network: a } = parseCidr(address) ?? assert.fail(address);
  const bits = family === 4 ? 32 : 128;
  return Array.from({ length: bits + 1 }, (_, prefix) => {
    const network = prefix === 0 ? 0n : (a >> BigInt(bits - prefix)) << BigInt(bits - prefix);
    const text = family === 4
      ? [24n, 16n, 8n, 0n].map((s) => String((network >> s) & 255n)).join('.')
      : network.toString(16).padStart(32, '0').match(/.{4}/g)!.join(':');
    return { ip: { ip: `${text}/${prefix}` } };
  });
}

/**
 * The most expensive policy set the budget accepts, for one decision about WORST_CASE_PERSON: MAX_POLICIES_PER_APP
 * policies, each tried to its end (its include matches only through its last group, its require holds, its
 * exclude then matches); MAX_APP_GROUPS groups, nested as deep as MAX_GROUP_DEPTH allows, none matching, so that all are
 * evaluated; and the rest of MAX_APP_RULES as require rules the person matches, spread over every block that
 * holds `address` (the person's, by default: an IPv6 address, 129 blocks), the provider, the email, its domain,
 * everyone and the claims. `groups` come in an order they can be created in (each after those it names).
 * With `admits`, the last policy lets the person in (its exclude does not match): the same work, ending in a
 * certificate.
 */
export function worstCasePolicySet(options: { address?: string; admits?: boolean } = {}): { groups: WireSet[]; policies: (WireSet & { name: string; decision: 'allow' | 'deny' })[] } {
  const nobody: WireRule = { email_domain: { domain: 'nobody.example' } };
  // Layers of groups: layer 0 holds one plain rule that does not match; each group above names two of the
  // layer below, so every group is reached, and none matches. The last group matches everyone.
  const layers = MAX_GROUP_DEPTH;
  const groups: WireSet[] = [];
  const layerIds: number[][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const size = Math.floor((MAX_APP_GROUPS - 1) / layers) + (layer < (MAX_APP_GROUPS - 1) % layers ? 1 : 0);
    const ids: number[] = [];
    for (let k = 0; k < size; k++) {
      const below = layerIds[layer - 1];
      const include = below ? [nobody, ...[k, k + 1].map((j) => ({ group: { id: worstCaseGroupId(below[j % below.length]!) } }))] : [nobody];
      ids.push(groups.length);
      groups.push({ include, require: [], exclude: [] });
    }
    layerIds.push(ids);
  }
  const matching = groups.length;
  groups.push({ include: [{ everyone: {} }], require: [], exclude: [] });
  const top = layerIds[layers - 1]!;

  const matched: WireRule[] = [
    { everyone: {} }, { email: { email: WORST_CASE_PERSON.email } }, { email_domain: { domain: 'example.com' } }, { login_method: { id: WORST_CASE_IDP } },
    ...blocksHolding(options.address ?? WORST_CASE_PERSON.ip),
    ...Object.entries(WORST_CASE_PERSON.claims).flatMap(([name, value]) => (Array.isArray(value) ? value : [value])
      .map((v) => ({ oidc: { claim_name: name, claim_value: String(v), identity_provider_id: WORST_CASE_IDP } }))),
  ];
  const groupRules = groups.reduce((n, g) => n + g.include.length, 0);
  // Each policy: its top groups and the matching one (include), one matched rule (exclude), and its share of the rest (require).
  const perPolicyTop = Math.ceil(top.length / MAX_POLICIES_PER_APP) + 1;
  const left = MAX_APP_RULES - groupRules - MAX_POLICIES_PER_APP * (perPolicyTop + 2);
  let next = 0;
  const policies = Array.from({ length: MAX_POLICIES_PER_APP }, (_, i) => {
    const share = Math.min(MAX_RULES, Math.floor(left / MAX_POLICIES_PER_APP) + (i < left % MAX_POLICIES_PER_APP ? 1 : 0));
    const require = Array.from({ length: share }, () => matched[next++ % matched.length]!);
    return {
      name: `worst ${i}`, decision: 'allow' as const,
      include: [...Array.from({ length: perPolicyTop }, (_, j) => ({ group: { id: worstCaseGroupId(top[(i * perPolicyTop + j) % top.length]!) } })), { group: { id: worstCaseGroupId(matching) } }],
      require,
      exclude: [options.admits && i === MAX_POLICIES_PER_APP - 1 ? nobody : { everyone: {} }],
    };
  });
  return { groups, policies };
}
