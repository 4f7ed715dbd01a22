import { Type, type Static, type TSchema } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';
import { APP_TYPES, destination, nullable, optional, settingsFields, targetCriterion, type AppType } from './access-app-settings.ts';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const AppIdParams = Type.Object({ app_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });


const DOMAIN_PATTERN =
  "^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$";
const DOMAIN = new RegExp(DOMAIN_PATTERN);
/** Whether a value is a domain an application may secure (host, optional port and path). */
export const isAppDomain = (value: string): boolean => value.length <= 1024 && DOMAIN.test(value);
// A Go duration, as Cloudflare takes it: "24h", "30m", "1h30m".
const DURATION_PATTERN = '^([0-9]{1,9}(\\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$';

/**
 * An application's `policies` entry: a policy id, `{id, precedence}`, or a policy written inline. Its shape
 * is the policies capability's (`AppPolicyLinks.entrySchema`); this one only says "an id or an object".
 */
export type AppPolicyEntry = string | Record<string, unknown>;
const ANY_ENTRY = Type.Union([Type.String({ pattern: UUID_PATTERN, maxLength: 36 }), Type.Object({}, { additionalProperties: true, maxProperties: 32 })]);

/**
 * The fields a client may set: Cloudflare's application object for the types access-ca serves. Unknown
 * fields are refused rather than ignored, so no setting is silently dropped; `null` clears an optional one.
 */
export function appInputSchema(policyEntry: TSchema) {
  return Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 350, pattern: PRINTABLE_PATTERN }),
      domain: nullable(Type.String({ maxLength: 1024, pattern: DOMAIN_PATTERN })),
      type: Type.Optional(Type.Enum(APP_TYPES)),
      session_duration: nullable(Type.String({ maxLength: 64, pattern: DURATION_PATTERN })),
      // Which Access policies decide who gets in, in order: ids, {id, precedence}, or policies written inline.
      policies: nullable(Type.Array(policyEntry, { maxItems: 100 })),
      // The domain again, in Cloudflare's newer and deprecated forms (what its object shows and Terraform sends back).
      destinations: nullable(Type.Array(destination(nullable), { maxItems: 20 })),
      self_hosted_domains: nullable(Type.Array(Type.String({ maxLength: 1024, pattern: PRINTABLE_PATTERN }), { maxItems: 20 })),
      target_criteria: nullable(Type.Array(targetCriterion(nullable), { maxItems: 50 })),
      ...settingsFields(nullable),
    },
    { additionalProperties: false },
  );
}

/** The input schema with any policies entry (the CLI's flags never set policies). */
export const AppInput = appInputSchema(ANY_ENTRY);
export type AppInput = Static<typeof AppInput>;
/** A checked application body, as the service reads it; the settings fields are read by name (access-app-settings.ts). */
export interface AppBody {
  name: string;
  domain?: string | null | undefined;
  type?: AppType | undefined;
  session_duration?: string | null | undefined;
  policies?: AppPolicyEntry[] | null | undefined;
  destinations?: ({ type?: string | null; uri?: string | null; overrides?: unknown[] | null } & Record<string, unknown>)[] | null | undefined;
  self_hosted_domains?: string[] | null | undefined;
  target_criteria?: unknown[] | null | undefined;
  [setting: string]: unknown;
}

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
  // Absent for an infrastructure application given none (Cloudflare gives them none).
  session_duration: Type.Optional(Type.String()),
  ...settingsFields(optional),
  self_hosted_domains: Type.Optional(Type.Array(Type.String())),
  destinations: Type.Optional(Type.Array(Type.Object({ type: Type.String(), uri: Type.String() }))),
  target_criteria: Type.Optional(Type.Array(targetCriterion(optional))),
  policies: Type.Array(policy),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type AppView = Static<ReturnType<typeof appViewSchema>>;

export const DeletedId = Type.Object({ id: Type.String() });
