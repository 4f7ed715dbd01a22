import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rfc3339 } from '../platform/clock.ts';
import { envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOfList, PageQuery, pageRequest } from '../platform/http/pagination.ts';
import type { Authenticator } from './authenticate.ts';
import type { IdentityStore, ZoneRow } from './identity-store.ts';
import { PERMISSION_GROUPS } from './permission-groups.ts';
import { scopedRouter } from './scoped-route.ts';

/** Cloudflare's zone object, as much of it as access-ca has: a name delegated to an account, always active. */
const ZoneView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Literal('active'),
  account: Type.Object({ id: Type.String(), name: Type.String() }),
  created_on: Type.String(),
});

const ZonesQuery = Type.Intersect([PageQuery, Type.Object({ name: Type.Optional(Type.String({ maxLength: 253 })) })]);

const zoneView = (z: ZoneRow & { account_name: string }) => ({
  id: z.id, name: z.name, status: 'active' as const, account: { id: z.account_id, name: z.account_name }, created_on: rfc3339(new Date(z.created_at)),
});

/**
 * `GET /zones` (optionally `?name=`) and `GET /zones/{zone_id}`: the DNS names delegated to the accounts a
 * credential acts on (a zone token: its zone), so a tenant sees which hosts its applications may take
 * (identity/host-delegation.ts). Zones are made by the operator (`access-ca zone create`), not through the API.
 */
export function registerZonesRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; store: Pick<IdentityStore, 'zonesIn'> }): void {
  const { auth, store } = deps;
  app.get('/zones', { schema: { querystring: ZonesQuery, response: { 200: pageEnvelopeSchema(ZoneView) } } }, async (request) => {
    const query = request.query as { page?: string; per_page?: string; name?: string };
    const reach = await auth.reachOf(request.headers, request.ip);
    const page = pageRequest(query);
    const { items, info } = pageOfList(await store.zonesIn(reach.accounts, reach.zones, query.name?.toLowerCase()), page, zoneView);
    return okPage(items, info);
  });
  scopedRouter(app, auth, deps.basePath)({
    method: 'GET', path: '', forms: ['zone'], permissions: PERMISSION_GROUPS, status: 200, response: envelopeSchema(ZoneView),
    handler: async ({ scope }) => {
      const [row] = await store.zonesIn([], [scope.zoneId!]);
      if (!row) throw errors.authenticationError();
      return ok(zoneView(row));
    },
  });
}
