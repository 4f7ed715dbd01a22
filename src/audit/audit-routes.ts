import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { okPage, pageEnvelopeSchema } from '../platform/http/envelope.ts';
import { pageRequest } from '../platform/http/pagination.ts';
import type { Authenticator } from '../identity/authenticate.ts';
import { scopedRouter } from '../identity/scoped-route.ts';
import { AUDIT_READ } from '../identity/permission-groups.ts';
import { listAuditEvents, type AuditLog } from './audit-log.ts';

/** `page`, `per_page` and the two exact-match filters; other parameters are ignored, as on every list route. */
export const AuditQuery = Type.Object(
  {
    page: Type.Optional(Type.String()),
    per_page: Type.Optional(Type.String()),
    type: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,64}\\.[a-z0-9_]{1,64}$' })),
    subject: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,256}$' })),
  },
  { additionalProperties: true },
);

export const AuditEventView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  actor: Type.String(),
  subject: Type.String(),
  data: Type.Object({}, { additionalProperties: true }),
  created_at: Type.String(),
});

/** `GET /accounts/{id}/access/audit` (ours): the account's audit trail, newest first, paged; account form only. */
export function registerAuditRoutes(app: FastifyInstance, deps: { auth: Authenticator; basePath: string; audit: Pick<AuditLog, 'list'> }): void {
  const route = scopedRouter(app, deps.auth, deps.basePath);
  route({
    method: 'GET', path: '/access/audit', forms: ['account'], permissions: AUDIT_READ, status: 200,
    query: AuditQuery, response: pageEnvelopeSchema(AuditEventView),
    handler: async ({ scope, query }) => {
      const { items, info } = await listAuditEvents(deps.audit, scope.accountId, { type: query.type, subject: query.subject }, pageRequest(query));
      return okPage(items, info);
    },
  });
}
