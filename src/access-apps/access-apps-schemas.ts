import { Type, type Static } from 'typebox';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const AppIdParams = Type.Object({ app_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });


const DOMAIN_PATTERN =
  "^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$";
// A Go duration, as Cloudflare takes it: "24h", "30m", "1h30m".
const DURATION_PATTERN = '^([0-9]{1,9}(\\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$';

/** The fields a client may set. Unknown fields are refused rather than ignored, so no setting is silently dropped. */
export const AppInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 350 }),
    domain: Type.Optional(Type.String({ maxLength: 1024, pattern: DOMAIN_PATTERN })),
    type: Type.Optional(Type.Union([Type.Literal('self_hosted'), Type.Literal('ssh'), Type.Literal('infrastructure')])),
    session_duration: Type.Optional(Type.String({ maxLength: 64, pattern: DURATION_PATTERN })),
  },
  { additionalProperties: false },
);
export type AppInput = Static<typeof AppInput>;

/** What leaves the server: the serializer drops anything not named here. */
export const AppView = Type.Object({
  id: Type.String(),
  aud: Type.String(),
  name: Type.String(),
  domain: Type.Optional(Type.String()),
  type: Type.String(),
  session_duration: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type AppView = Static<typeof AppView>;

export const DeletedId = Type.Object({ id: Type.String() });
