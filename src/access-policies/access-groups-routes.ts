import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { registerCrudRoutes } from '../identity/crud-routes.ts';
import { GROUPS_READ, GROUPS_WRITE } from '../identity/permission-groups.ts';
import { DeletedId } from '../access-apps/access-apps-schemas.ts';
import { GroupIdParams, GroupInput, GroupView } from './access-policies-schemas.ts';
import type { AccessGroupsService } from './access-groups-service.ts';

/** Cloudflare's Access groups (`/access/groups`), in account and zone form. */
export function registerAccessGroupsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; groups: AccessGroupsService }): void {
  registerCrudRoutes(scopedRouter(app, deps.auth, deps.basePath), {
    path: '/access/groups', idParams: GroupIdParams, read: GROUPS_READ, write: GROUPS_WRITE,
    input: GroupInput, view: GroupView, deleted: DeletedId, service: deps.groups,
  });
}
