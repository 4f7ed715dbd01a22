import type { Db } from '../platform/db/schema.ts';
import { zoneHolding } from '../identity/host-delegation.ts';

/** The wildcard hosts an application could hold that cover `host` (`a.b.example` → `*.b.example`, `*.example`). */
export function wildcardsCovering(host: string): string[] {
  const labels = host.split('.');
  const out: string[] = [];
  for (let i = 1; i < labels.length - 1 && out.length < 126; i++) out.push(`*.${labels.slice(i).join('.')}`);
  return out;
}

/**
 * Which account speaks for a host name towards SSH clients, and the known_hosts patterns its host CA is
 * trusted for. Only the operator's delegations decide: a zone (the account of the longest zone holding
 * it, for the zone's names), else an application holding the host (exact or wildcard, unique in the
 * deployment), else — while the deployment has a single account — a target of that account. A target
 * alone never does among several accounts: any tenant may name a target anything, and a client must not
 * trust one tenant's host CA for another's host.
 */
export async function hostOwner(db: Db, host: string): Promise<{ accountId: string; patterns: string[] } | undefined> {
  const zone = await zoneHolding(db, host);
  if (zone) return { accountId: zone.account_id, patterns: [zone.name, `*.${zone.name}`] };
  const apps = await db.selectFrom('access_apps').select(['account_id', 'host']).where('host', 'in', [host, ...wildcardsCovering(host)]).execute();
  // The most specific application holds it: the exact host, else the longest wildcard.
  const app = apps.sort((a, b) => (b.host === host ? 1 : 0) - (a.host === host ? 1 : 0) || b.host!.length - a.host!.length)[0];
  if (app) return { accountId: app.account_id, patterns: [app.host!] };
  const accounts = await db.selectFrom('accounts').select('id').limit(2).execute();
  if (accounts.length !== 1) return undefined;
  const target = await db.selectFrom('infrastructure_targets').select('account_id').where('account_id', '=', accounts[0]!.id).where('host', '=', host).executeTakeFirst();
  return target ? { accountId: target.account_id, patterns: [host] } : undefined;
}
