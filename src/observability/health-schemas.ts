import { Type } from 'typebox';
import { READINESS_CHECKS } from './readiness.ts';

/** GET /healthz's only answer. */
export const HealthView = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });

const Outcome = Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('skipped')]);
const CheckName = Type.Union(READINESS_CHECKS.map((name) => Type.Literal(name)));

/** GET /readyz's answer, 200 when ready and 503 when not: each check's outcome and the failed ones. */
export const ReadinessView = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  checks: Type.Object(Object.fromEntries(READINESS_CHECKS.map((name) => [name, Outcome])), { additionalProperties: false }),
  failed: Type.Array(CheckName),
}, { additionalProperties: false });
