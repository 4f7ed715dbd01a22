import type { AccessAppsStore, AppRow } from '../access-apps/access-apps-store.ts';
import type { AccountSnapshot, GrantCache } from '../platform/grant-cache.ts';
import type { TargetCoverage } from './target-coverage.ts';

/** A refusal in cloudflared's wire form: `{status, message}`; the message is for the person refused. */
export class Refusal extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}, readonly kind?: 'access_denied' | 'identity_unverified') {
    super(message);
  }
}

/** Which account a hint names: a bounded map, oldest out. */
function createHints(max: number) {
  const map = new Map<string, string>();
  return {
    get: (key: string) => map.get(key),
    set(key: string, accountId: string) {
      map.delete(key);
      map.set(key, accountId);
      if (map.size > max) map.delete(map.keys().next().value!);
    },
  };
}

/**
 * Finds the application a `cert_sign` token is for, and its account's snapshot for the rest of the
 * request. Which account to look in is only a hint (an app's aud tag never changes; a host can move);
 * what the snapshot returns is trusted only when it lies in that same account, since a snapshot is
 * invalidated by its own account's changes alone. Anything else falls back to the store, uncached.
 */
export function createTokenAppLookup(deps: {
  apps: Pick<AccessAppsStore, 'findByAud' | 'findByHost'>; cache: GrantCache; maxHints?: number;
  /** Infrastructure applications have no host of their own: the targets their criteria cover stand for it. */
  coverage?: Pick<TargetCoverage, 'covers' | 'coveringApps'> | undefined;
}) {
  const { apps, cache } = deps;
  const hints = createHints(deps.maxHints ?? 100_000);

  function onlyOne(candidates: AppRow[], none: string): AppRow {
    if (candidates.length === 0) throw new Refusal(404, none);
    if (candidates.length > 1) throw new Refusal(400, 'several applications match: send the hostname of exactly one');
    return candidates[0]!;
  }

  /** Rows for `key` from the hinted account's snapshot, or from the store when the hint is missing or wrong. */
  async function lookup<R extends AppRow | AppRow[] | undefined>(key: string, load: () => Promise<R>): Promise<{ rows: R; snapshot: AccountSnapshot | null }> {
    const rowsOf = (r: R): AppRow[] => (r === undefined ? [] : Array.isArray(r) ? r : [r]);
    const hinted = hints.get(key);
    if (hinted !== undefined) {
      const snapshot = await cache.snapshot(hinted);
      const rows = await snapshot.get(`app:${key}`, load);
      const found = rowsOf(rows);
      if (found.length > 0 && found.every((a) => a.account_id === hinted)) return { rows, snapshot };
    }
    const rows = await load();
    const accounts = new Set(rowsOf(rows).map((a) => a.account_id));
    if (accounts.size === 1) hints.set(key, [...accounts][0]!);
    return { rows, snapshot: null };
  }

  return {
    /**
     * The app a token is for: by the app's aud tag in the token (Cloudflare's app tokens); else, for a
     * provider's own ID token whose aud is a client id, by the hostname the request names.
     */
    async find(auds: readonly string[], hostname: string | undefined): Promise<{ app: AppRow; snapshot: AccountSnapshot }> {
      const byAud = await lookup(`aud:${[...auds].sort().join(' ')}`, () => apps.findByAud(auds));
      let app: AppRow;
      let snapshot = byAud.snapshot;
      if (byAud.rows.length > 0) {
        let chosen = byAud.rows;
        if (hostname !== undefined) {
          const host = hostname.toLowerCase();
          chosen = [];
          // An infrastructure application's hostname is a target it covers (read now, never remembered).
          for (const a of byAud.rows) if (a.host === host || (await deps.coverage?.covers(a, host))) chosen.push(a);
        }
        app = onlyOne(chosen, 'no application matches this token\'s audience and hostname');
      } else {
        if (hostname === undefined) throw new Refusal(404, 'no application matches this token\'s audience');
        const byHost = await lookup(`host:${hostname.toLowerCase()}`, () => apps.findByHost(hostname));
        if (byHost.rows) {
          app = byHost.rows;
          snapshot = byHost.snapshot;
        } else {
          // No application's domain: a target, covered by an infrastructure application of its account.
          const covering = deps.coverage ? await deps.coverage.coveringApps(hostname) : [];
          app = onlyOne(covering, `no application for host ${hostname}`);
          snapshot = null;
        }
      }
      // First sight (or a moved host): this request reads through a snapshot taken now, after the app.
      return { app, snapshot: snapshot ?? await cache.snapshot(app.account_id) };
    },
  };
}
