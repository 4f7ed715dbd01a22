/**
 * Which targets an infrastructure application covers: Cloudflare's `target_criteria`, evaluated over a
 * target's hostname and tags. Deny by default: a criterion that names no target covers none, and an
 * exclude that matches wins over everything else.
 */

/** What criteria look at: a target's hostname (compared without case) and its tags. */
export interface TargetFacts {
  hostname: string;
  tags: Record<string, string>;
}

/** One selector rule: tag values by key (values within a key are OR'd) and hostnames. */
export interface TargetSelector {
  tags?: Record<string, string[]> | undefined;
  target_attributes?: { hostname?: string[] | undefined } | undefined;
}

/** Cloudflare's criterion: a port and protocol, and which targets, by selector or the deprecated attribute map. */
export interface TargetCriterion {
  port: number;
  protocol: string;
  include?: TargetSelector | undefined;
  require?: TargetSelector | undefined;
  exclude?: TargetSelector | undefined;
  /** Deprecated by Cloudflare, still sent by Terraform: `hostname` lists hostnames; any other key a tag's values. */
  target_attributes?: Record<string, string[]> | undefined;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Each condition a selector states, as a test of the target; a selector with none states nothing. */
function conditions(selector: TargetSelector | undefined): ((t: TargetFacts) => boolean)[] {
  if (!selector) return [];
  const out: ((t: TargetFacts) => boolean)[] = [];
  for (const [key, values] of Object.entries(selector.tags ?? {})) {
    out.push((t) => Object.hasOwn(t.tags, key) && values.includes(t.tags[key]!));
  }
  const hostnames = selector.target_attributes?.hostname;
  if (hostnames) out.push((t) => hostnames.some((h) => same(h, t.hostname)));
  return out;
}

/** The deprecated map as conditions: `hostname` against the hostname, any other key against that tag. */
function attributeConditions(attributes: Record<string, string[]> | undefined): ((t: TargetFacts) => boolean)[] {
  return Object.entries(attributes ?? {}).map(([key, values]) => key === 'hostname'
    ? (t: TargetFacts) => values.some((h) => same(h, t.hostname))
    : (t: TargetFacts) => Object.hasOwn(t.tags, key) && values.includes(t.tags[key]!));
}

/**
 * Whether one criterion covers the target: excluded when any exclude condition matches; otherwise every
 * require condition must match, and at least one include condition (or deprecated attribute) must, unless
 * the criterion is made of requirements only. A criterion with no condition at all covers nothing.
 */
export function criterionCovers(criterion: TargetCriterion, target: TargetFacts): boolean {
  if (conditions(criterion.exclude).some((c) => c(target))) return false;
  const required = conditions(criterion.require);
  const included = [...conditions(criterion.include), ...attributeConditions(criterion.target_attributes)];
  if (required.length === 0 && included.length === 0) return false;
  if (!required.every((c) => c(target))) return false;
  return included.length === 0 || included.some((c) => c(target));
}

/** Whether an application with these criteria covers the target on SSH (any criterion, protocol SSH). */
export function coversTarget(criteria: readonly TargetCriterion[], target: TargetFacts): boolean {
  return criteria.some((c) => c.protocol === 'SSH' && criterionCovers(c, target));
}
