import { PostgresAdapter, sql } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import { errors } from '../platform/http/errors.ts';

type ZoneRow = Database['zones'];

/**
 * Which account may give an application a host. A zone is the operator's delegation of a DNS name to one
 * account (`access-ca zone create`), as a Cloudflare zone is: a host inside a zone belongs to the account
 * of the longest zone that holds it. A host in no zone can be taken only while the deployment has a single
 * account; once there are several, an account holds no host the operator has not delegated to it, so no
 * tenant can take, or steer sign-in for, a host another tenant will need.
 */

// Any constant both claims agree on: PostgreSQL's advisory lock that orders host claims against zone grants.
const HOST_CLAIMS_LOCK = 7_341_002;

/** Zone names that could hold a host, longest first (`a.b.example.com`, `b.example.com`, `example.com`); a wildcard host is held as the name after its star. */
export function zoneNamesHolding(host: string): string[] {
  const labels = host.toLowerCase().replace(/^\*\./, '').split('.');
  const names: string[] = [];
  // A zone has at least two labels (example.com), and a DNS name at most 127.
  for (let i = Math.max(0, labels.length - 127); i <= labels.length - 2; i++) names.push(labels.slice(i).join('.'));
  return names;
}

/** The zone that holds a host: the longest name wins, and of two same-named zones (made before zone names were checked) the older. */
export async function zoneHolding(db: Db, host: string): Promise<ZoneRow | undefined> {
  const names = zoneNamesHolding(host);
  if (names.length === 0) return undefined;
  const rows = await db.selectFrom('zones').selectAll().where('name', 'in', names).execute();
  return rows.sort((a, b) => b.name.length - a.name.length || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))[0];
}

/** A zone the operator cannot grant as asked; its message says why and what to do. */
export class ZoneConflictError extends Error {
  override name = 'ZoneConflictError';
}

/** Claims and grants take turns on PostgreSQL; SQLite's write transactions (`begin immediate`) already do. */
async function serialize(trx: Db): Promise<void> {
  if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(${HOST_CLAIMS_LOCK})`.execute(trx);
}

/** Refuses, inside the transaction that writes it, a host this account may not hold: another's zone is a 409, no zone among several accounts a 403. */
export async function checkHostClaim(trx: Db, accountId: string, host: string): Promise<void> {
  await serialize(trx);
  const zone = await zoneHolding(trx, host);
  if (zone) {
    if (zone.account_id !== accountId) throw errors.hostOfAnotherAccount(host);
    return;
  }
  const another = await trx.selectFrom('accounts').select('id').where('id', '<>', accountId).limit(1).executeTakeFirst();
  if (another) throw errors.hostNotDelegated(host);
}

/**
 * Why a new zone cannot go to this account, or undefined: its name is another account's zone, or another
 * account's application holds a host under it that no zone of its own account keeps.
 */
export async function zoneGrantConflict(trx: Db, zone: Pick<ZoneRow, 'account_id' | 'name'>): Promise<string | undefined> {
  await serialize(trx);
  const same = await trx.selectFrom('zones').select('account_id').where('name', '=', zone.name)
    .where('account_id', '<>', zone.account_id).executeTakeFirst();
  if (same) return `zone ${zone.name} is already delegated to account ${same.account_id}`;
  // Zone names are [a-z0-9.-] only, so they hold no LIKE wildcard.
  const under = [zone.name, `%.${zone.name}`];
  const apps = await trx.selectFrom('access_apps').select(['id', 'account_id', 'host'])
    .where('account_id', '<>', zone.account_id)
    .where((eb) => eb.or([eb('host', '=', under[0]!), eb('host', 'like', under[1]!)]))
    .orderBy('created_at').execute();
  for (const app of apps) {
    const holder = await zoneHolding(trx, app.host!);
    const keptByOwnZone = holder !== undefined && holder.account_id === app.account_id && holder.name.length > zone.name.length;
    if (!keptByOwnZone) return `application ${app.id} of account ${app.account_id} holds the host ${app.host}; move it first`;
  }
  return undefined;
}
