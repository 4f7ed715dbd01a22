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

/**
 * Claims and grants take turns, and each decides on what the one before it committed. On PostgreSQL that
 * is an advisory lock taken first in the transaction, at READ COMMITTED whatever the server's default (a
 * REPEATABLE READ snapshot would predate the lock); SQLite's write transactions (`begin immediate`) already
 * take turns.
 */
export async function takeHostTurn(trx: Db): Promise<void> {
  if (!(trx.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`set transaction isolation level read committed`.execute(trx);
  await sql`select pg_advisory_xact_lock(${HOST_CLAIMS_LOCK})`.execute(trx);
}

/** Where an application lives: its account, and for a zone-level application its zone. */
export interface AppPlace {
  accountId: string;
  zoneId: string | null;
}

async function checkHost(trx: Db, place: AppPlace, host: string): Promise<void> {
  const zone = await zoneHolding(trx, host);
  // A zone-level application holds hosts of its own zone only, as on Cloudflare: a zone's token cannot
  // reach into the account's other zones.
  if (place.zoneId !== null) {
    if (zone?.id === place.zoneId) return;
    if (zone && zone.account_id !== place.accountId) throw errors.hostOfAnotherAccount(host);
    throw errors.hostOutsideZone(host);
  }
  if (zone) {
    if (zone.account_id !== place.accountId) throw errors.hostOfAnotherAccount(host);
    return;
  }
  const another = await trx.selectFrom('accounts').select('id').where('id', '<>', place.accountId).limit(1).executeTakeFirst();
  if (another) throw errors.hostNotDelegated(host);
}

/**
 * Refuses, first in the transaction that writes a new application, a host it may not hold: another
 * account's zone is a 409; no zone among several accounts, or a host outside a zone-level app's zone, a 403.
 */
export async function checkHostClaim(trx: Db, place: AppPlace, host: string | null): Promise<void> {
  await takeHostTurn(trx);
  if (host !== null) await checkHost(trx, place, host);
}

/**
 * The same, first in the transaction that changes an application: an application keeps the host it holds
 * (rules may have tightened since it took it), so only a move to another host is a claim. The host it
 * holds is read here, after the lock, not before the transaction, so a concurrent move cannot slip by.
 */
export async function checkHostMove(trx: Db, place: AppPlace, appId: string, host: string | null): Promise<void> {
  await takeHostTurn(trx);
  const current = await trx.selectFrom('access_apps').select('host').where('id', '=', appId).executeTakeFirst();
  if (host !== null && current?.host !== host) await checkHost(trx, place, host);
}

/**
 * Why a new zone cannot go to this account, or undefined: its name is another account's zone, or another
 * account's application holds a host under it that no zone of its own account keeps.
 */
export async function zoneGrantConflict(trx: Db, zone: Pick<ZoneRow, 'account_id' | 'name'>): Promise<string | undefined> {
  await takeHostTurn(trx);
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
