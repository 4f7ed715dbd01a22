import { isIP, isIPv4, isIPv6 } from 'node:net';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, pageRequest, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import { ipAddressKey } from '../platform/db/migrations.ts';
import { asciiLower, isPrintableText } from '../platform/text.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Db } from '../platform/db/schema.ts';
import type { TargetsStore, TargetRow, TargetFilter, TargetOrder, AddressRange } from './targets-store.ts';
import { HOSTNAME_PATTERN, type TargetInput, type TargetQuery, type TargetView } from './targets-schemas.ts';

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

/** The stored fields of a target body, checked: addresses of their family, names lowercased and unique. `at` prefixes pointers (a batch item's index). */
function normalize(input: TargetInput, at = '') {
  const v4 = input.ip?.ipv4;
  const v6 = input.ip?.ipv6;
  if (v4 && !isIPv4(v4.ip_addr)) throw errors.invalidRequest('not an IPv4 address', `${at}/ip/ipv4/ip_addr`);
  if (v6 && !isIPv6(v6.ip_addr)) throw errors.invalidRequest('not an IPv6 address', `${at}/ip/ipv6/ip_addr`);
  // TypeBox does not bound a record's keys: a tag's name is checked here.
  for (const name of Object.keys(input.tags ?? {})) {
    if (name.length < 1 || name.length > 255 || !isPrintableText(name)) throw errors.invalidRequest('a tag name is 1 to 255 printable characters', `${at}/tags`);
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

type TargetFields = ReturnType<typeof normalize>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const HOSTNAME = new RegExp(HOSTNAME_PATTERN);
/** An `ip_like` pattern: address characters and `*`, nothing a LIKE pattern would read as a wildcard. */
const IP_LIKE = /^[0-9A-Fa-f.:*]{1,64}$/;

/** A list query's values, each checked; a bad one is a 400 whose pointer names the parameter (and item). */
const query = {
  refuse: (param: string, why: string, index?: number): never => {
    throw errors.invalidRequest(`${param}${index === undefined ? '' : `[${index}]`} ${why}`, `/${param}${index === undefined ? '' : `/${index}`}`);
  },
  list: (value: string | string[] | undefined) => (value === undefined ? undefined : Array.isArray(value) ? value : [value]),
  address(value: string | undefined, name: string, family?: 4 | 6, index?: number): string | undefined {
    if (value !== undefined && (family === undefined ? isIP(value) === 0 : isIP(value) !== family)) query.refuse(name, `must be an IPv${family ?? '4 or IPv6'} address`, index);
    return value;
  },
  range(start: string | undefined, end: string | undefined, family: 4 | 6): AddressRange | undefined {
    const [from, to] = [query.address(start, `ipv${family}_start`, family), query.address(end, `ipv${family}_end`, family)];
    if (from === undefined && to === undefined) return undefined;
    if (from === undefined || to === undefined) return query.refuse(`ipv${family}_${from === undefined ? 'start' : 'end'}`, `is required with ipv${family}_${from === undefined ? 'end' : 'start'}`);
    if (ipAddressKey(from)! > ipAddressKey(to)!) return query.refuse(`ipv${family}_start`, `is after ipv${family}_end`);
    return { start: from, end: to };
  },
  /**
   * Times are shown to the second (rfc3339) and compared as shown, inclusively: `after` a time is from the
   * first whole second at or after it, `before` it is up to the end of its second.
   */
  time(value: string | undefined, name: string, edge: 'from' | 'to'): string | undefined {
    if (value === undefined) return undefined;
    const ms = Date.parse(value);
    if (!RFC3339.test(value) || Number.isNaN(ms)) return query.refuse(name, 'must be an RFC 3339 time');
    return new Date(edge === 'from' ? Math.ceil(ms / 1000) * 1000 : Math.floor(ms / 1000) * 1000 + 999).toISOString();
  },
  oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
    if (value !== undefined && !allowed.includes(value as T)) query.refuse(name, `must be one of ${allowed.join(', ')}`);
    return value as T | undefined;
  },
};

/** A list query in the forms it is matched in: the filter, the order and the page; any bad value is refused (400 12130, pointer). */
export function targetListRequest(q: TargetQuery): { filter: TargetFilter; order: TargetOrder; page: PageRequest } {
  if (q.hostname !== undefined && !HOSTNAME.test(q.hostname)) query.refuse('hostname', 'is not a target hostname');
  if (q.hostname_contains !== undefined && (q.hostname_contains === '' || !isPrintableText(q.hostname_contains))) query.refuse('hostname_contains', 'must be 1 to 253 printable characters');
  if (q.ip_like !== undefined && !IP_LIKE.test(q.ip_like)) query.refuse('ip_like', 'takes digits, a-f, `.`, `:` and `*` only');
  if (q.virtual_network_id !== undefined && !UUID.test(q.virtual_network_id.toLowerCase())) query.refuse('virtual_network_id', 'must be a UUID');
  const ips = query.list(q.ips);
  ips?.forEach((ip, i) => query.address(ip, 'ips', undefined, i));
  const ids = query.list(q.target_ids)?.map((id) => id.toLowerCase());
  ids?.forEach((id, i) => { if (!UUID.test(id)) query.refuse('target_ids', 'must be a UUID', i); });
  const tags = query.list(q.tag)?.map((tag, i): [string, string] => {
    const colon = tag.indexOf(':');
    if (colon < 1 || colon === tag.length - 1) query.refuse('tag', 'must be key:value, both non-empty', i);
    return [tag.slice(0, colon), tag.slice(colon + 1)];
  });
  return {
    filter: {
      host: q.hostname === undefined ? undefined : asciiLower(q.hostname),
      hostContains: q.hostname_contains === undefined ? undefined : asciiLower(q.hostname_contains),
      ipv4: query.address(q.ip_v4, 'ip_v4', 4), ipv6: query.address(q.ip_v6, 'ip_v6', 6), ips, ipLike: q.ip_like,
      ipv4Range: query.range(q.ipv4_start, q.ipv4_end, 4), ipv6Range: query.range(q.ipv6_start, q.ipv6_end, 6),
      virtualNetworkId: q.virtual_network_id?.toLowerCase(), ids, tags,
      createdFrom: query.time(q.created_after, 'created_after', 'from'), createdTo: query.time(q.created_before, 'created_before', 'to'),
      modifiedFrom: query.time(q.modified_after, 'modified_after', 'from'), modifiedTo: query.time(q.modified_before, 'modified_before', 'to'),
    },
    order: { by: query.oneOf(q.order, 'order', ['created_at', 'hostname'] as const) ?? 'created_at', direction: query.oneOf(q.direction, 'direction', ['asc', 'desc'] as const) ?? 'asc' },
    page: pageRequest(q),
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
  const checkNames = async (accountId: string, fields: TargetFields, at = '') => {
    const names: [string, string][] = [[fields.host, `${at}/hostname`], ...(JSON.parse(fields.aliases) as string[]).map((a, i): [string, string] => [a, `${at}/aliases/${i}`])];
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
    async list(accountId: string, request: { filter: TargetFilter; order: TargetOrder; page: PageRequest }) {
      const { filter, order, page } = request;
      const { rows, total } = await store.list(accountId, filter, pageOffset(page), page.perPage, order);
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
    /**
     * Cloudflare's `PUT …/targets/batch`, all or nothing: each body updates the account's one target with
     * its hostname (ours: a target's hostname is what hosts enroll and applications match by), or makes
     * one when none has it; a hostname twice in the batch, or held by several targets, refuses the batch.
     * Every change is audited as the single routes audit it. Answers the targets in the batch's order.
     */
    async bulkUpdate(accountId: string, inputs: TargetInput[], actor: string): Promise<TargetView[]> {
      const at = now();
      const items = inputs.map((input, i) => normalize(input, `/${i}`));
      const first = new Map<string, number>();
      items.forEach((item, i) => {
        if (first.has(item.host)) throw errors.invalidRequest(`the batch names the hostname ${item.hostname} twice (items ${first.get(item.host)} and ${i})`, `/${i}/hostname`);
        first.set(item.host, i);
      });
      for (const [i, item] of items.entries()) await checkNames(accountId, item, `/${i}`);
      let written: { row: TargetRow; created: boolean }[] = [];
      await store.upsertByHost(accountId, items.map((item) => item.host), (existing) => {
        written = items.map((item, i) => {
          const holders = existing.filter((row) => row.host === item.host);
          if (holders.length > 1) throw errors.invalidRequest(`the account has ${holders.length} targets with the hostname ${item.hostname}; update one by its id`, `/${i}/hostname`);
          const held = holders[0];
          return held
            ? { row: { ...held, ...item, modified_at: at }, created: false }
            : { row: { id: random.uuid(), account_id: accountId, ...item, created_at: at, modified_at: at }, created: true };
        });
        return {
          insert: written.filter((w) => w.created).map((w) => w.row),
          update: written.filter((w) => !w.created).map((w) => w.row),
          also: async (trx) => {
            for (const { row, created } of written) {
              await (created ? event(accountId, 'infrastructure_target.created', actor, row.id, { hostname: row.hostname }) : event(accountId, 'infrastructure_target.updated', actor, row.id))(trx);
            }
          },
        };
      });
      return written.map((w) => targetView(w.row));
    },
    /**
     * Cloudflare's `POST …/targets/batch_delete` (and the deprecated `DELETE …/targets/batch`), all or
     * nothing: an id that is not this account's target (none such, or another account's: one answer)
     * is a 404 and nothing is deleted. Each deletion is audited as the single route audits it.
     */
    async bulkDelete(accountId: string, ids: string[], actor: string): Promise<{ id: string }[]> {
      const keys = [...new Set(ids.map((id) => id.toLowerCase()))];
      const { missing } = await store.deleteMany(accountId, keys, async (trx) => {
        for (const key of keys) await event(accountId, 'infrastructure_target.deleted', actor, key)(trx);
      });
      if (missing.length > 0) throw errors.notFound(`no target ${missing[0]} in this account (${missing.length} of the batch); nothing was deleted`);
      return keys.map((id) => ({ id }));
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
