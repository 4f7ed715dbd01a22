import type { Db } from '../platform/db/schema.ts';
import type { AppRow } from '../access-apps/access-apps-store.ts';
import { coversTarget, type TargetCriterion, type TargetFacts } from './target-criteria.ts';

/** Targets read for one name, and infrastructure applications read for one account: bounds, not expectations. */
const MAX_TARGETS_PER_NAME = 100;
const MAX_INFRASTRUCTURE_APPS = 1_000;

/** An application's stored `target_criteria`; none when it has none or the column cannot be read as a list. */
export function criteriaOf(app: { target_criteria?: string | null }): TargetCriterion[] {
  if (!app.target_criteria) return [];
  try {
    const parsed: unknown = JSON.parse(app.target_criteria);
    return Array.isArray(parsed) ? (parsed as TargetCriterion[]) : [];
  } catch {
    return [];
  }
}

const factsOf = (row: { host: string; tags: string }): TargetFacts => {
  let tags: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(row.tags);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) tags = parsed as Record<string, string>;
  } catch {
    // A target without readable tags is matched by its hostname alone.
  }
  return { hostname: row.host, tags };
};

/**
 * Which infrastructure applications cover which targets (their `target_criteria` over the target's
 * hostname and tags), always within one account: a target is covered only by its own account's
 * applications, and an application reaches only its own account's targets.
 */
export function createTargetCoverage(db: Db) {
  const targetsNamed = (host: string, accountId?: string) => {
    let q = db.selectFrom('infrastructure_targets').select(['account_id', 'host', 'tags']).where('host', '=', host.toLowerCase());
    if (accountId !== undefined) q = q.where('account_id', '=', accountId);
    return q.orderBy('account_id').limit(MAX_TARGETS_PER_NAME).execute();
  };
  const infrastructureApps = (accountId: string) =>
    db.selectFrom('access_apps').selectAll().where('account_id', '=', accountId).where('type', '=', 'infrastructure')
      .orderBy('id').limit(MAX_INFRASTRUCTURE_APPS).execute() as Promise<AppRow[]>;

  return {
    /** Whether `app` (infrastructure) covers a target of its own account named `host`. */
    async covers(app: AppRow, host: string): Promise<boolean> {
      if (app.type !== 'infrastructure') return false;
      const criteria = criteriaOf(app);
      if (criteria.length === 0) return false;
      return (await targetsNamed(host, app.account_id)).some((t) => coversTarget(criteria, factsOf(t)));
    },
    /** The infrastructure applications covering a target named `host`, in the account (or accounts) that hold one. */
    async coveringApps(host: string): Promise<AppRow[]> {
      const out: AppRow[] = [];
      const targets = await targetsNamed(host);
      for (const accountId of [...new Set(targets.map((t) => t.account_id))]) {
        const facts = targets.filter((t) => t.account_id === accountId).map(factsOf);
        for (const app of await infrastructureApps(accountId)) {
          const criteria = criteriaOf(app);
          if (facts.some((f) => coversTarget(criteria, f))) out.push(app);
        }
      }
      return out;
    },
    /** The ids of the target's account's infrastructure applications that cover it. */
    async appsCovering(target: { account_id: string; host: string; tags: string }): Promise<string[]> {
      const facts = factsOf(target);
      return (await infrastructureApps(target.account_id)).filter((app) => coversTarget(criteriaOf(app), facts)).map((app) => app.id);
    },
  };
}

export type TargetCoverage = ReturnType<typeof createTargetCoverage>;
