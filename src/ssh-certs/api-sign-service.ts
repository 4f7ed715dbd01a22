import type { FastifyBaseLogger } from 'fastify';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { ApiError } from '../platform/http/errors.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import type { GrantCache } from '../platform/grant-cache.ts';
import type { HotPathMetrics } from '../observability/metrics.ts';
import type { AuthFailureLimiter } from '../identity/auth-failure-limiter.ts';
import type { CertIssuer, IssueInput } from './ssh-cert-issuer.ts';
import type { IssuedRecord } from './cert-inventory-store.ts';
import { refusalReason } from './refusal-reasons.ts';
import { refusalEvent, requestFacts, type RequestContext } from './request-facts.ts';

/** What automation asks `…/ca/sign` for, in the issuer's terms. */
export type ApiSignInput = Pick<IssueInput, 'publicKey' | 'principals' | 'ttl' | 'forceCommand' | 'sourceAddress' | 'extensions' | 'keyIdLabel'>;

/**
 * Automation's signing route: the app as of the account's current grant revision, then the issuer.
 * Every decision is an audit event with the request's facts (the authentication log reads them); a
 * refusal counts against the token and its client as failed logins do, and one refused again and again
 * is answered 429 without another row.
 */
export function createApiSignService(deps: {
  apps: Pick<AccessAppsStore, 'get'>;
  issuer: CertIssuer;
  grants: GrantCache;
  record: (r: IssuedRecord) => Promise<void>;
  limiter: AuthFailureLimiter;
  metrics: Pick<HotPathMetrics, 'certificateIssued' | 'certificateRefused'>;
  clock: Clock;
  random: Random;
}) {
  const { apps, issuer, grants, record, limiter, metrics, clock, random } = deps;

  return {
    async sign(scope: Scope, actor: string, appId: string, input: ApiSignInput, req: RequestContext, log: FastifyBaseLogger) {
      const snapshot = await grants.snapshot(scope.accountId);
      const target = await snapshot.get(`app:id:${scope.zoneId ?? ''}:${appId}`, () => requireApp(apps, scope, appId))
        .catch((error: unknown) => { metrics.certificateRefused('unknown', refusalReason(error)); throw error; });
      const facts = requestFacts(target, req, 'api');
      try {
        const issued = await issuer.issue({ ...input, cache: snapshot, app: target, identity: actor, source: 'api', audit: facts });
        metrics.certificateIssued(target.id);
        return {
          id: issued.id, serial: issued.serial.toString(), certificate: issued.certificate, principals: issued.principals,
          valid_after: rfc3339(issued.validAfter), valid_before: rfc3339(issued.validBefore),
        };
      } catch (error) {
        metrics.certificateRefused(target.id, refusalReason(error));
        if (error instanceof ApiError && error.status === 403) {
          const limited = limiter.fail(req.ip, actor);
          if (limited) throw limited;
          const reason = error.detail ?? error.message;
          log.info({ event: 'ca_sign.decision', decision: 'refused', app_id: target.id, actor, reason }, 'certificate refused');
          await record({ event: refusalEvent(target, actor, reason, null, facts, { id: random.recordId(), at: clock.now() }) });
        }
        throw error;
      }
    },
  };
}

export type ApiSignService = ReturnType<typeof createApiSignService>;
