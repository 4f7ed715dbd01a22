import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { rfc3339 } from '../platform/clock.ts';
import { envelopeSchema, ok, okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { errors } from '../platform/http/errors.ts';
import { pageOfList, PageQuery, pageRequest } from '../platform/http/pagination.ts';
import type { Authenticator } from './authenticate.ts';
import type { AccountRow, IdentityStore } from './identity-store.ts';
import { PERMISSION_GROUPS } from './permission-groups.ts';
import { scopedRouter } from './scoped-route.ts';

/** Cloudflare's account object, as much of it as access-ca has: every account is a standard one. */
const AccountView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.Literal('standard'),
  created_on: Type.String(),
});

const accountView = (a: AccountRow) => ({ id: a.id, name: a.name, type: 'standard' as const, created_on: rfc3339(new Date(a.created_at)) });

/**
 * `GET /accounts` and `GET /accounts/{account_id}`: how a script or the SDK (`client.accounts.list()`)
 * finds the account id its credential works in. Any valid credential reads its own accounts, with any
 * permission group: the id and name are what it already acts on, nothing else is shown.
 */
export function registerAccountsRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; store: Pick<IdentityStore, 'accountsIn' | 'getAccount'> }): void {
  const { auth, store } = deps;
  app.get('/accounts', { schema: { querystring: PageQuery, response: { 200: pageEnvelopeSchema(AccountView) } } }, async (request) => {
    // Who asks comes first, as on every route: a caller without a credential learns nothing of the query's rules.
    const reach = await auth.reachOf(request.headers, request.ip);
    const page = pageRequest(request.query as { page?: string; per_page?: string });
    const { items, info } = pageOfList(await store.accountsIn(reach.accounts), page, accountView);
    return okPage(items, info);
  });
  scopedRouter(app, auth, deps.basePath)({
    method: 'GET', path: '', forms: ['account'], permissions: PERMISSION_GROUPS, status: 200, response: envelopeSchema(AccountView),
    handler: async ({ scope }) => {
      const row = await store.getAccount(scope.accountId);
      if (!row) throw errors.authenticationError();
      return ok(accountView(row));
    },
  });
}
