import { Type, type Static, type TSchema } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const AppIdParams = Type.Object({ app_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });


const DOMAIN_PATTERN =
  "^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$";
// A Go duration, as Cloudflare takes it: "24h", "30m", "1h30m".
const DURATION_PATTERN = '^([0-9]{1,9}(\\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$';

/** An application's `policies` entry: a policy id, or `{id, precedence}`. */
export const AppPolicyEntry = Type.Union([
  Type.String({ pattern: UUID_PATTERN, maxLength: 36 }),
  Type.Object({ id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }), precedence: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })) }, { additionalProperties: false }),
]);
export type AppPolicyEntry = Static<typeof AppPolicyEntry>;

/** The fields a client may set. Unknown fields are refused rather than ignored, so no setting is silently dropped. */
export const AppInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 350, pattern: PRINTABLE_PATTERN }),
    domain: Type.Optional(Type.String({ maxLength: 1024, pattern: DOMAIN_PATTERN })),
    type: Type.Optional(Type.Union([Type.Literal('self_hosted'), Type.Literal('ssh'), Type.Literal('infrastructure')])),
    session_duration: Type.Optional(Type.String({ maxLength: 64, pattern: DURATION_PATTERN })),
    // Which Access policies decide who gets in, in order: ids, or {id, precedence} (Cloudflare's shapes).
    policies: Type.Optional(Type.Array(AppPolicyEntry, { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type AppInput = Static<typeof AppInput>;

/**
 * What leaves the server: the serializer drops anything not named here. `policies` holds the policies the
 * app uses, in the schema their capability supplies (the apps capability does not know their shape).
 */
export const appViewSchema = (policy: TSchema) => Type.Object({
  id: Type.String(),
  aud: Type.String(),
  name: Type.String(),
  domain: Type.Optional(Type.String()),
  type: Type.String(),
  session_duration: Type.String(),
  policies: Type.Array(policy),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type AppView = Static<ReturnType<typeof appViewSchema>>;

export const DeletedId = Type.Object({ id: Type.String() });
