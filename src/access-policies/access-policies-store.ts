import { sql, type Selectable } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import type { AuditRow } from '../platform/audit-events.ts';
import type { Scope } from '../identity/authenticate.ts';
import { inScope } from '../access-apps/access-apps-store.ts';
import { MAX_GROUP_DEPTH } from './policy-evaluator.ts';

export type PolicyRow = Selectable<Database['access_policies']>;
export type GroupRow = Database['access_groups'];
export type LinkRow = Database['access_app_policies'];
/** A policy as an application uses it: with its precedence in that application. */
export type LinkedPolicy = PolicyRow & { precedence: number };

type RuleFields = Pick<PolicyRow, 'name' | 'include' | 'exclude' | 'require' | 'updated_at'>;
/** What a policy's write sets: its rules, decision, session duration and extras (settings, connection rules). */
export type PolicyFields = RuleFields & Pick<PolicyRow, 'decision' | 'session_duration'> & Partial<Pick<PolicyRow, 'settings' | 'connection_rules'>>;

/**
 * An application's whole set of own policies and links, as a `policies` list with inline policies makes
 * it: own policies to delete, to change and to create, every link, and the audit rows of the changes.
 */
export interface AppPoliciesWrite {
  remove: string[];
  change: PolicyRow[];
  add: PolicyRow[];
  links: LinkRow[];
  audit: AuditRow[];
}

/** What the decider needs of an application besides its policies: its name, type, session duration and settings. */
export type AppGatesRow = Pick<Selectable<Database['access_apps']>, 'name' | 'type' | 'session_duration' | 'settings'>;

/** Persistence of Access policies, groups and the links from applications to policies. */
export interface AccessPoliciesStore {
  insertPolicy(row: PolicyRow, link?: LinkRow): Promise<void>;
  getPolicy(scope: Scope, id: string): Promise<PolicyRow | undefined>;
  listReusable(scope: Scope, offset: number, limit: number): Promise<{ rows: PolicyRow[]; total: number }>;
  updatePolicy(scope: Scope, id: string, fields: PolicyFields, precedence?: { appId: string; value: number }): Promise<boolean>;
  /** Deletes a policy (an app's own with its link); a reusable one still linked fails on the foreign key. */
  deletePolicy(scope: Scope, id: string): Promise<boolean>;
  /** How many applications use each of these policies. */
  appCounts(ids: string[]): Promise<Map<string, number>>;
  /** The policies an application evaluates, in precedence order. */
  policiesOfApp(appId: string): Promise<LinkedPolicy[]>;
  /** The same for several applications at once (list pages). */
  policiesOfApps(appIds: string[]): Promise<Map<string, LinkedPolicy[]>>;
  /** Replaces an application's links to reusable policies and sets the precedence of its own, in one transaction. */
  replaceLinks(appId: string, links: LinkRow[]): (trx: Db) => Promise<void>;
  /** Writes an application's own policies and links anew (AppPoliciesWrite), in the application's transaction. */
  replaceAppPolicies(appId: string, write: AppPoliciesWrite): (trx: Db) => Promise<void>;
  /** The applications that use a policy, with their types: whom a change to a reusable policy must suit. */
  appsUsing(policyId: string): Promise<{ id: string; name: string; type: string }[]>;
  /** The application's own fields that decide issuance (allowed_idps, session duration), or undefined when it is gone. */
  appGates(appId: string): Promise<AppGatesRow | undefined>;
  nextPrecedence(appId: string): Promise<number>;
  insertGroup(row: GroupRow): Promise<void>;
  getGroup(scope: Scope, id: string): Promise<GroupRow | undefined>;
  listGroups(scope: Scope, offset: number, limit: number): Promise<{ rows: GroupRow[]; total: number }>;
  updateGroup(scope: Scope, id: string, fields: RuleFields): Promise<boolean>;
  deleteGroup(scope: Scope, id: string): Promise<boolean>;
  /** Groups by id within an account, whatever their zone: what an evaluation loads. */
  groupsById(accountId: string, ids: string[]): Promise<GroupRow[]>;
  /** Names of policies and groups whose rules mention this id (a group or a provider), and of applications whose allowed_idps name it. */
  referencesTo(accountId: string, id: string): Promise<string[]>;
  /**
   * Applications that use this policy, or whose policies reach this group (through up to MAX_GROUP_DEPTH
   * groups, as far as evaluation looks): whom a change to it could push past the policy budget.
   */
  appsReaching(accountId: string, id: string): Promise<{ id: string; name: string }[]>;
  /** Identity providers of the account among these ids. */
  existingIdps(accountId: string, ids: string[]): Promise<string[]>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createAccessPoliciesStore(db: Db): AccessPoliciesStore {
  /** Rows of the account whose rules mention one of these ids (UUIDs, checked at the edge, so no LIKE wildcards). */
  const mentioning = (table: 'access_policies' | 'access_groups', accountId: string, ids: string[]) =>
    db.selectFrom(table).where('account_id', '=', accountId).where((eb) => eb.or(ids.flatMap((id) => {
      const pattern = `%"${id}"%`;
      return [eb('include', 'like', pattern), eb('exclude', 'like', pattern), eb('require', 'like', pattern)];
    })));
  /** Ids of rows that mention any of `ids`, asked a few ids at a time (an OR of LIKEs has a depth limit on SQLite). */
  const idsMentioning = async (table: 'access_policies' | 'access_groups', accountId: string, ids: string[]) => {
    const found: string[] = [];
    for (let i = 0; i < ids.length; i += 50) found.push(...(await mentioning(table, accountId, ids.slice(i, i + 50)).select('id').execute()).map((r) => r.id));
    return found;
  };
  const linked = (q: Db) => q.selectFrom('access_app_policies')
    .innerJoin('access_policies', 'access_policies.id', 'access_app_policies.policy_id')
    .selectAll('access_policies').select(['access_app_policies.precedence', 'access_app_policies.app_id as link_app_id']);

  return {
    async insertPolicy(row, link) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('access_policies').values(row).execute();
        if (link) await trx.insertInto('access_app_policies').values(link).execute();
      });
    },
    getPolicy: (scope, id) =>
      inScope(db.selectFrom('access_policies').selectAll(), scope, 'access_policies').where('id', '=', id).executeTakeFirst(),
    async listReusable(scope, offset, limit) {
      const base = () => inScope(db.selectFrom('access_policies'), scope, 'access_policies').where('app_id', 'is', null);
      const [rows, total] = await Promise.all([
        base().selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        base().select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(total?.n ?? 0) };
    },
    async updatePolicy(scope, id, fields, precedence) {
      return db.transaction().execute(async (trx) => {
        const r = await inScope(trx.updateTable('access_policies').set(fields), scope, 'access_policies').where('id', '=', id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        if (precedence) {
          await trx.updateTable('access_app_policies').set({ precedence: precedence.value })
            .where('app_id', '=', precedence.appId).where('policy_id', '=', id).execute();
        }
        return true;
      });
    },
    async deletePolicy(scope, id) {
      return db.transaction().execute(async (trx) => {
        const row = await inScope(trx.selectFrom('access_policies').select(['id', 'app_id']), scope, 'access_policies').where('id', '=', id).executeTakeFirst();
        if (!row) return false;
        // An app's own policy goes with its link; a linked reusable one is kept by the foreign key, on any node.
        if (row.app_id !== null) await trx.deleteFrom('access_app_policies').where('app_id', '=', row.app_id).where('policy_id', '=', id).execute();
        await trx.deleteFrom('access_policies').where('id', '=', id).execute();
        return true;
      });
    },
    async appCounts(ids) {
      if (ids.length === 0) return new Map();
      const rows = await db.selectFrom('access_app_policies').select(['policy_id', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('policy_id', 'in', ids).groupBy('policy_id').execute();
      return new Map(rows.map((r) => [r.policy_id, Number(r.n)]));
    },
    async policiesOfApp(appId) {
      const rows = await linked(db).where('access_app_policies.app_id', '=', appId)
        .orderBy('access_app_policies.precedence').execute();
      return rows.map(({ link_app_id: _, ...row }) => row);
    },
    async policiesOfApps(appIds) {
      const out = new Map<string, LinkedPolicy[]>(appIds.map((id) => [id, []]));
      if (appIds.length === 0) return out;
      const rows = await linked(db).where('access_app_policies.app_id', 'in', appIds)
        .orderBy('access_app_policies.precedence').execute();
      for (const { link_app_id, ...row } of rows) out.get(link_app_id)?.push(row);
      return out;
    },
    replaceLinks(appId, links) {
      return async (trx) => {
        const ownIds = (await trx.selectFrom('access_policies').select('id').where('app_id', '=', appId).execute()).map((r) => r.id);
        // Links to reusable policies are replaced; the app's own policies stay, with any new precedence.
        let del = trx.deleteFrom('access_app_policies').where('app_id', '=', appId);
        if (ownIds.length > 0) del = del.where('policy_id', 'not in', ownIds);
        await del.execute();
        const own = links.filter((l) => ownIds.includes(l.policy_id));
        // Two steps, so that a swap of two precedences never collides with itself midway.
        for (const l of own) {
          await trx.updateTable('access_app_policies').set({ precedence: -l.precedence }).where('app_id', '=', appId).where('policy_id', '=', l.policy_id).execute();
        }
        for (const l of own) {
          await trx.updateTable('access_app_policies').set({ precedence: l.precedence }).where('app_id', '=', appId).where('policy_id', '=', l.policy_id).execute();
        }
        const reusable = links.filter((l) => !ownIds.includes(l.policy_id));
        if (reusable.length > 0) await trx.insertInto('access_app_policies').values(reusable).execute();
      };
    },
    replaceAppPolicies(appId, write) {
      return async (trx) => {
        // Every link goes, then the own policies the list dropped; what remains is written as listed.
        await trx.deleteFrom('access_app_policies').where('app_id', '=', appId).execute();
        if (write.remove.length > 0) await trx.deleteFrom('access_policies').where('app_id', '=', appId).where('id', 'in', write.remove).execute();
        for (const { id, account_id: _a, zone_id: _z, app_id: _p, created_at: _c, ...fields } of write.change) {
          await trx.updateTable('access_policies').set(fields).where('app_id', '=', appId).where('id', '=', id).execute();
        }
        if (write.add.length > 0) await trx.insertInto('access_policies').values(write.add).execute();
        if (write.links.length > 0) await trx.insertInto('access_app_policies').values(write.links).execute();
        if (write.audit.length > 0) await trx.insertInto('audit_events').values(write.audit).execute();
      };
    },
    appsUsing: (policyId) => db.selectFrom('access_app_policies').innerJoin('access_apps', 'access_apps.id', 'access_app_policies.app_id')
      .select(['access_apps.id', 'access_apps.name', 'access_apps.type']).where('access_app_policies.policy_id', '=', policyId).orderBy('access_apps.id').execute(),
    appGates: (appId) => db.selectFrom('access_apps').select(['name', 'type', 'session_duration', 'settings']).where('id', '=', appId).executeTakeFirst(),
    async nextPrecedence(appId) {
      const r = await db.selectFrom('access_app_policies').select((eb) => eb.fn.max('precedence').as('p')).where('app_id', '=', appId).executeTakeFirst();
      return Number(r?.p ?? 0) + 1;
    },
    async insertGroup(row) {
      await db.insertInto('access_groups').values(row).execute();
    },
    getGroup: (scope, id) =>
      inScope(db.selectFrom('access_groups').selectAll(), scope, 'access_groups').where('id', '=', id).executeTakeFirst(),
    async listGroups(scope, offset, limit) {
      const base = () => inScope(db.selectFrom('access_groups'), scope, 'access_groups');
      const [rows, total] = await Promise.all([
        base().selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute(),
        base().select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(total?.n ?? 0) };
    },
    async updateGroup(scope, id, fields) {
      const r = await inScope(db.updateTable('access_groups').set(fields), scope, 'access_groups').where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async deleteGroup(scope, id) {
      const r = await inScope(db.deleteFrom('access_groups'), scope, 'access_groups').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async groupsById(accountId, ids) {
      if (ids.length === 0) return [];
      return db.selectFrom('access_groups').selectAll().where('account_id', '=', accountId).where('id', 'in', ids.slice(0, 500)).execute();
    },
    async referencesTo(accountId, id) {
      const mentions = (table: 'access_policies' | 'access_groups') => mentioning(table, accountId, [id]).select('name').limit(5).execute();
      // allowed_idps names providers by id (a UUID, checked at the edge: no LIKE wildcards); ids compare without case.
      const apps = () => db.selectFrom('access_apps').select('name').where('account_id', '=', accountId)
        .where(sql<string>`lower(settings)`, 'like', `%"${id.toLowerCase()}"%`).limit(5).execute();
      const [policies, groups, using] = await Promise.all([mentions('access_policies'), mentions('access_groups'), apps()]);
      return [...policies.map((p) => `policy "${p.name}"`), ...groups.map((g) => `group "${g.name}"`), ...using.map((a) => `application "${a.name}"`)];
    },
    async appsReaching(accountId, id) {
      // The groups above this one, level by level, then the policies naming any of them (or it), then their apps.
      const above = new Set([id]);
      let level = [id];
      for (let depth = 0; depth < MAX_GROUP_DEPTH && level.length > 0; depth++) {
        level = (await idsMentioning('access_groups', accountId, level)).filter((g) => !above.has(g));
        for (const g of level) above.add(g);
      }
      const policies = [id, ...(await idsMentioning('access_policies', accountId, [...above]))];
      const apps = new Map<string, string>();
      for (let i = 0; i < policies.length; i += 500) {
        const rows = await db.selectFrom('access_app_policies').innerJoin('access_apps', 'access_apps.id', 'access_app_policies.app_id')
          .select(['access_apps.id', 'access_apps.name']).where('access_apps.account_id', '=', accountId)
          .where('access_app_policies.policy_id', 'in', policies.slice(i, i + 500)).execute();
        for (const r of rows) apps.set(r.id, r.name);
      }
      return [...apps].map(([appId, name]) => ({ id: appId, name }));
    },
    async existingIdps(accountId, ids) {
      if (ids.length === 0) return [];
      const rows = await db.selectFrom('identity_providers').select('id').where('account_id', '=', accountId).where('id', 'in', ids).execute();
      return rows.map((r) => r.id);
    },
  };
}
