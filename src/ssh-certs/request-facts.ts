import { unmappedAddress } from '../platform/client-address.ts';
import type { AppRow } from '../access-apps/access-apps-store.ts';
import { noteAuditRow, type AuditRow } from '../audit/audit-log.ts';

/** What the server saw of a signing request: the client's address and the request's id (its ray id). */
export interface RequestContext {
  ip: string;
  /** Fastify's request id: random per request, in every log line of it (app.ts genReqId). */
  rayId: string;
}

/** Which route decided: cloudflared's `cert_sign` for people, `…/ca/sign` for automation. */
export type SignSource = 'cert_sign' | 'api';

/**
 * The facts of a signing decision that its audit event keeps for the authentication log (Cloudflare's
 * access_requests shape, audit/access-requests-store.ts): where it came from, which request, which
 * application and how the caller authenticated. Nothing secret: no token, no key.
 */
export function requestFacts(app: Pick<AppRow, 'domain' | 'type'>, req: RequestContext, source: SignSource, connection?: string) {
  return {
    ip: unmappedAddress(req.ip), ray_id: req.rayId, source, app_domain: app.domain ?? '', app_type: app.type,
    connection: connection ?? (source === 'api' ? 'api_token' : ''),
  };
}

/** The audit event of a refused signing decision: for the audit trail and the authentication log. */
export function refusalEvent(app: Pick<AppRow, 'id' | 'account_id' | 'domain' | 'type'>, actor: string, reason: string, policyId: string | null,
  facts: ReturnType<typeof requestFacts>, made: { id: string; at: Date }): AuditRow {
  return noteAuditRow({
    id: made.id, account_id: app.account_id, type: 'ssh_certificate.refused', actor, subject: app.id,
    data: JSON.stringify({ app_id: app.id, reason, policy_id: policyId, ...facts }), created_at: made.at.toISOString(),
  });
}
