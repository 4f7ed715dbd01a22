import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import type { AccessPoliciesStore, GroupRow } from './access-policies-store.ts';
import type { GroupInput, GroupView } from './access-policies-schemas.ts';
import { checkReferences, parseRuleSet, ruleColumns, ruleViews } from './rule-sets.ts';
import { createPolicyBudget } from './policy-budget.ts';
import { changedFields, type AuditLog } from '../audit/audit-log.ts';

/** The wire form of a group row. */
export const groupView = (row: GroupRow): GroupView => ({
  id: row.id, name: row.name, ...ruleViews(row), created_at: row.created_at, updated_at: row.updated_at,
});

/**
 * Access groups: named rule sets that policies (and other groups) include, exclude or require. Each change
 * is an audit event (`access_group.created` / `.updated` / `.deleted`) by `actor`, naming the group and what changed.
 */
export function createAccessGroupsService(deps: { store: AccessPoliciesStore; clock: Clock; random: Random; audit: Pick<AuditLog, 'record'> }) {
  const { store, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());
  const budget = createPolicyBudget(store);

  function audited(verb: 'created' | 'updated' | 'deleted', actor: string, row: GroupRow, before?: GroupRow) {
    return deps.audit.record({
      accountId: row.account_id, type: `access_group.${verb}`, actor, subject: row.id,
      data: {
        name: row.name,
        ...(row.zone_id === null ? {} : { zone_id: row.zone_id }),
        ...(before ? { changed: changedFields(before, row, ['name', 'include', 'exclude', 'require']) } : {}),
      },
    });
  }

  async function fields(scope: Scope, input: GroupInput, selfId?: string) {
    const name = input.name.trim();
    if (!name) throw errors.invalidRequest('name must not be blank', '/name');
    const set = parseRuleSet(input);
    await checkReferences(store, scope, set, selfId);
    return { set, columns: { name, ...ruleColumns(set) } };
  }

  async function found(scope: Scope, id: string): Promise<GroupRow> {
    const row = await store.getGroup(scope, id.toLowerCase());
    if (!row) throw errors.notFound();
    return row;
  }

  return {
    async create(scope: Scope, input: GroupInput, actor: string): Promise<GroupView> {
      const { set, columns } = await fields(scope, input);
      await budget.alone(scope.accountId, 'group', set);
      const at = stamp();
      const row: GroupRow = { id: random.uuid(), account_id: scope.accountId, zone_id: scope.zoneId, ...columns, created_at: at, updated_at: at };
      await store.insertGroup(row);
      await audited('created', actor, row);
      return groupView(row);
    },
    get: async (scope: Scope, id: string) => groupView(await found(scope, id)),
    async list(scope: Scope, page: PageRequest) {
      const { rows, total } = await store.listGroups(scope, pageOffset(page), page.perPage);
      return { items: rows.map(groupView), info: resultInfo(page, rows.length, total) };
    },
    async update(scope: Scope, id: string, input: GroupInput, actor: string): Promise<GroupView> {
      const key = id.toLowerCase();
      const { set, columns } = await fields(scope, input, key);
      const before = await found(scope, key);
      await budget.change(scope.accountId, { groupId: key, set });
      if (!(await store.updateGroup(scope, key, { ...columns, updated_at: stamp() }))) throw errors.notFound();
      const after = await found(scope, key);
      await audited('updated', actor, after, before);
      return groupView(after);
    },
    async delete(scope: Scope, id: string, actor: string): Promise<{ id: string }> {
      const row = await found(scope, id);
      // A group in an exclude rule keeps people out: removing it silently would let them in.
      const users = await store.referencesTo(row.account_id, row.id);
      if (users.length > 0) throw errors.inUse(`the group is used by ${users.join(', ')}: remove it from them first`);
      if (!(await store.deleteGroup(scope, row.id))) throw errors.notFound();
      await audited('deleted', actor, row);
      return { id: row.id };
    },
  };
}

export type AccessGroupsService = ReturnType<typeof createAccessGroupsService>;
