import { Type } from 'typebox';
import { READINESS_CHECKS } from './readiness.ts';

/** GET /healthz's only answer. */
export const HealthView = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });

const Outcome = Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('skipped')]);
const CheckName = Type.Union(READINESS_CHECKS.map((name) => Type.Literal(name)));

/** GET /readyz's answer, 200 when ready and 503 when not: each check's outcome and the failed ones. */
export const ReadinessView = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  // ca_key_token is there only on a server with a PKCS#11 token.
  checks: Type.Object(Object.fromEntries(READINESS_CHECKS.map((name) => [name, name === 'ca_key_token' ? Type.Optional(Outcome) : Outcome])), { additionalProperties: false }),
  failed: Type.Array(CheckName),
  reasons: Type.Optional(Type.Object({ ca_key_token: Type.Optional(Type.String()) }, {
    additionalProperties: false, description: 'Why a failed check failed, where the reason is safe to show anyone (the PKCS#11 token\'s)',
  })),
}, { additionalProperties: false });
