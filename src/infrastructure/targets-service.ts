import { isIPv4, isIPv6 } from 'node:net';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import { asciiLower, isPrintableText } from '../platform/text.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Db } from '../platform/db/schema.ts';
import type { TargetsStore, TargetRow, TargetFilter } from './targets-store.ts';
import type { TargetInput, TargetQuery, TargetView } from './targets-schemas.ts';

/** The wire form of a target row. */
export function targetView(row: TargetRow): TargetView {
  const address = (ip: string | null, vnet: string | null) => (ip === null ? undefined : { ip_addr: ip, ...(vnet === null ? {} : { virtual_network_id: vnet }) });
  const ipv4 = address(row.ipv4, row.ipv4_vnet);
  const ipv6 = address(row.ipv6, row.ipv6_vnet);
  return {
    id: row.id, hostname: row.hostname,
    ip: { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) },
    tags: JSON.parse(row.tags) as Record<string, string>, aliases: JSON.parse(row.aliases) as string[],
    created_at: rfc3339(new Date(row.created_at)), modified_at: rfc3339(new Date(row.modified_at)),
  };
}

/** The stored fields of a target body, checked: addresses of their family, names lowercased and unique. */
function normalize(input: TargetInput) {
  const v4 = input.ip?.ipv4;
  const v6 = input.ip?.ipv6;
  if (v4 && !isIPv4(v4.ip_addr)) throw errors.invalidRequest('not an IPv4 address', '/ip/ipv4/ip_addr');
  if (v6 && !isIPv6(v6.ip_addr)) throw errors.invalidRequest('not an IPv6 address', '/ip/ipv6/ip_addr');
  // TypeBox does not bound a record's keys: a tag's name is checked here.
  for (const name of Object.keys(input.tags ?? {})) {
    if (name.length < 1 || name.length > 255 || !isPrintableText(name)) throw errors.invalidRequest('a tag name is 1 to 255 printable characters', '/tags');
  }
  const host = asciiLower(input.hostname);
  const aliases = [...new Set((input.aliases ?? []).map(asciiLower))].filter((a) => a !== host);
  return {
    hostname: input.hostname, host,
    ipv4: v4?.ip_addr ?? null, ipv4_vnet: v4?.virtual_network_id?.toLowerCase() ?? null,
    ipv6: v6?.ip_addr ?? null, ipv6_vnet: v6?.virtual_network_id?.toLowerCase() ?? null,
    tags: JSON.stringify(input.tags ?? {}), aliases: JSON.stringify(aliases),
  };
}

/** A list query's filters, in the forms they are stored in. */
export function targetFilter(q: TargetQuery): TargetFilter {
  return {
    host: q.hostname === undefined ? undefined : asciiLower(q.hostname),
    hostContains: q.hostname_contains === undefined ? undefined : asciiLower(q.hostname_contains),
    ipv4: q.ip_v4, ipv6: q.ip_v6, virtualNetworkId: q.virtual_network_id?.toLowerCase(),
  };
}

/** Cloudflare's infrastructure targets: the hosts of an account. Every change is audited. */
export function createTargetsService(deps: { store: TargetsStore; audit: Pick<AuditLog, 'row'>; clock: Clock; random: Random }) {
  const { store, audit, clock, random } = deps;
  const now = () => clock.now().toISOString();
  const event = (accountId: string, type: string, actor: string, subject: string, data: Record<string, unknown> = {}) =>
    async (trx: Db) => {
      await trx.insertInto('audit_events').values(audit.row({ accountId, type, actor, subject, data })).execute();
    };
  /**
   * A target may not take a name in another account's zone: its host certificates would name a host that
   * tenant's clients trust another host CA for, and it could be matched against that tenant's names.
   */
  const checkNames = async (accountId: string, fields: ReturnType<typeof normalize>) => {
    const names: [string, string][] = [[fields.host, '/hostname'], ...(JSON.parse(fields.aliases) as string[]).map((a, i): [string, string] => [a, `/aliases/${i}`])];
    for (const [name, pointer] of names) {
      const owner = await store.zoneAccount(name);
      if (owner !== undefined && owner !== accountId) throw errors.hostOfAnotherAccount(name, pointer);
    }
  };
  const require = async (accountId: string, id: string) => {
    const row = await store.get(accountId, id.toLowerCase());
    if (!row) throw errors.notFound();
    return row;
  };
  return {
    async create(accountId: string, input: TargetInput, actor: string): Promise<TargetView> {
      const at = now();
      const fields = normalize(input);
      await checkNames(accountId, fields);
      const row: TargetRow = { id: random.uuid(), account_id: accountId, ...fields, created_at: at, modified_at: at };
      await store.insert(row, event(accountId, 'infrastructure_target.created', actor, row.id, { hostname: row.hostname }));
      return targetView(row);
    },
    get: async (accountId: string, id: string) => targetView(await require(accountId, id)),
    /** The row itself, for the capabilities that act on a target (enrollment, bundles). */
    row: require,
    async list(accountId: string, filter: TargetFilter, page: PageRequest) {
      const { rows, total } = await store.list(accountId, filter, pageOffset(page), page.perPage);
      return { items: rows.map(targetView), info: resultInfo(page, rows.length, total) };
    },
    async update(accountId: string, id: string, input: TargetInput, actor: string): Promise<TargetView> {
      const key = id.toLowerCase();
      const fields = normalize(input);
      await checkNames(accountId, fields);
      const row = await store.update(accountId, key, { ...fields, modified_at: now() }, event(accountId, 'infrastructure_target.updated', actor, key));
      if (!row) throw errors.notFound();
      return targetView(row);
    },
    async delete(accountId: string, id: string, actor: string): Promise<{ id: string }> {
      const key = id.toLowerCase();
      if (!(await store.delete(accountId, key, event(accountId, 'infrastructure_target.deleted', actor, key)))) throw errors.notFound();
      return { id: key };
    },
    /** The account's one target with this hostname, made when there is none; several are a 409 (name one by id). */
    async ensure(accountId: string, hostname: string, actor: string): Promise<{ target: TargetRow; created: boolean }> {
      const found = await store.byHost(accountId, asciiLower(hostname));
      if (found.length > 1) throw errors.invalidRequest(`the account has ${found.length} targets with the hostname ${hostname}; name one by its id`);
      if (found[0]) return { target: found[0], created: false };
      const view = await this.create(accountId, { hostname }, actor);
      return { target: await require(accountId, view.id), created: true };
    },
  };
}

export type TargetsService = ReturnType<typeof createTargetsService>;
