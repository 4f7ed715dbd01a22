import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import type { AccessAppsStore, AppRow } from './access-apps-store.ts';
import type { AppInput, AppView } from './access-apps-schemas.ts';

/** The wire form of an app row. */
export function appView(row: AppRow): AppView {
  return {
    id: row.id,
    aud: row.aud,
    name: row.name,
    ...(row.domain === null ? {} : { domain: row.domain }),
    type: row.type,
    session_duration: row.session_duration,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function normalize(input: AppInput) {
  const type = input.type ?? 'self_hosted';
  if (type === 'self_hosted' && input.domain === undefined) {
    throw errors.invalidRequest('domain is required for a self_hosted application', '/domain');
  }
  const name = input.name.trim();
  if (name.length === 0) throw errors.invalidRequest('name must not be blank', '/name');
  return {
    name,
    domain: input.domain === undefined ? null : input.domain.toLowerCase(),
    type,
    session_duration: input.session_duration ?? '24h',
  };
}

/** Access applications: the objects a CA belongs to. */
export function createAccessAppsService(deps: { store: AccessAppsStore; clock: Clock; random: Random }) {
  const { store, clock, random } = deps;
  const stamp = () => rfc3339(clock.now());

  return {
    async create(scope: Scope, input: AppInput): Promise<AppView> {
      const at = stamp();
      const row: AppRow = {
        id: random.uuid(),
        account_id: scope.accountId,
        zone_id: scope.zoneId,
        aud: random.hex(32),
        ...normalize(input),
        created_at: at,
        updated_at: at,
      };
      await store.insert(row);
      return appView(row);
    },
    async get(scope: Scope, id: string): Promise<AppView> {
      const row = await store.get(scope, id.toLowerCase());
      if (!row) throw errors.notFound();
      return appView(row);
    },
    async list(scope: Scope, page: PageRequest) {
      const { rows, total } = await store.list(scope, pageOffset(page), page.perPage);
      return { items: rows.map(appView), info: resultInfo(page, rows.length, total) };
    },
    async update(scope: Scope, id: string, input: AppInput): Promise<AppView> {
      const row = await store.update(scope, id.toLowerCase(), { ...normalize(input), updated_at: stamp() });
      if (!row) throw errors.notFound();
      return appView(row);
    },
    async delete(scope: Scope, id: string): Promise<{ id: string }> {
      if (!(await store.delete(scope, id.toLowerCase()))) throw errors.notFound();
      return { id: id.toLowerCase() };
    },
  };
}

export type AccessAppsService = ReturnType<typeof createAccessAppsService>;
