import { Type, type Static } from 'typebox';
import { UUID_PATTERN } from '../access-apps/access-apps-schemas.ts';
import { GO_DURATION_PATTERN } from '../platform/go-duration.ts';
import { MAX_RULES } from './access-rules.ts';
import { PRINTABLE_PATTERN } from '../platform/text.ts';
import { nullable, optional, type Optional } from '../access-apps/access-app-settings.ts';
import { policySettingsFields } from './policy-settings.ts';

/** A rule as it arrives: one key naming its type. Its contents are checked by `parseRule`, which names the field. */
const RuleInput = Type.Object({}, { additionalProperties: true, minProperties: 1, maxProperties: 1 });
const Rules = Type.Array(RuleInput, { maxItems: MAX_RULES });
const RuleOut = Type.Record(Type.String(), Type.Record(Type.String(), Type.String()));
/** Names are printable text: they end up in audit events, messages and terminals. */
const Name = Type.String({ minLength: 1, maxLength: 350, pattern: PRINTABLE_PATTERN });

export const PolicyIdParams = Type.Object({ policy_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });
export const AppPolicyParams = Type.Object({
  app_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }),
  policy_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }),
});
export const GroupIdParams = Type.Object({ group_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });

const Duration = Type.String({ maxLength: 64, pattern: GO_DURATION_PATTERN });

/** A policy's fields, as clients send them; `null` clears an optional one. */
function policyFields(opt: Optional) {
  return {
    exclude: opt(Rules),
    require: opt(Rules),
    precedence: opt(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    session_duration: opt(Duration),
    ...policySettingsFields(opt),
  };
}

/** A policy as clients send it; `decision` and the rules are checked by hand for messages that name the field. */
export const PolicyInput = Type.Object(
  {
    name: Name,
    decision: Type.String({ minLength: 1, maxLength: 32 }),
    include: Rules,
    ...policyFields(nullable),
  },
  { additionalProperties: false },
);
/** A checked policy body, as the service reads it. */
export interface PolicyBody {
  name: string;
  decision: string;
  include: unknown[];
  exclude?: unknown[] | null | undefined;
  require?: unknown[] | null | undefined;
  precedence?: number | null | undefined;
  session_duration?: string | null | undefined;
  [setting: string]: unknown;
}

/**
 * One entry of an application's `policies` list: a policy id; `{id, precedence}` (Cloudflare's link, which
 * may name the account); or a policy written inline — Cloudflare's legacy form, and what Terraform sends
 * for an infrastructure application — with `id` when it is one of the application's own.
 */
export const AppPolicyEntry = Type.Union([
  Type.Object(
    {
      id: Type.Optional(Type.String({ pattern: UUID_PATTERN, maxLength: 36 })),
      account_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
      name: Type.Optional(Name),
      decision: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
      include: Type.Optional(Rules),
      ...policyFields(nullable),
    },
    { additionalProperties: false },
  ),
  Type.String({ pattern: UUID_PATTERN, maxLength: 36 }),
]);

export const PolicyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  decision: Type.String(),
  // Absent only in application list pages, which show each policy without its rules.
  include: Type.Optional(Type.Array(RuleOut)),
  exclude: Type.Optional(Type.Array(RuleOut)),
  require: Type.Optional(Type.Array(RuleOut)),
  precedence: Type.Optional(Type.Integer()),
  session_duration: Type.Optional(Type.String()),
  ...policySettingsFields(optional),
  reusable: Type.Optional(Type.Boolean()),
  app_count: Type.Optional(Type.Integer()),
  created_at: Type.Optional(Type.String()),
  updated_at: Type.Optional(Type.String()),
});
export type PolicyView = Static<typeof PolicyView>;

export const GroupInput = Type.Object(
  {
    name: Name,
    include: Rules,
    exclude: Type.Optional(Rules),
    require: Type.Optional(Rules),
    // Cloudflare's default-group flag is not modelled: only "not default" is taken.
    is_default: Type.Optional(Type.Literal(false)),
  },
  { additionalProperties: false },
);
export type GroupInput = Static<typeof GroupInput>;

export const GroupView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  include: Type.Array(RuleOut),
  exclude: Type.Array(RuleOut),
  require: Type.Array(RuleOut),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type GroupView = Static<typeof GroupView>;

/** The dry run: would this person get a certificate for this application? (our extension) */
export const AccessCheckInput = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 320, pattern: '^[^@\\s\\u0000-\\u001f\\u007f]+@[^@\\s\\u0000-\\u001f\\u007f]+$' }),
    identity_provider_id: Type.Optional(Type.String({ pattern: UUID_PATTERN, maxLength: 36 })),
    claims: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), { maxProperties: 200 })),
    ip: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type AccessCheckInput = Static<typeof AccessCheckInput>;

export const AccessCheckView = Type.Object({
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('none')]),
  allowed: Type.Boolean(),
  policy: Type.Union([Type.Null(), Type.Object({ id: Type.String(), name: Type.String(), decision: Type.String() })]),
  reason: Type.String(),
});
