import { Type, type Static } from 'typebox';
import { PRINTABLE_PATTERN } from '../../platform/text.ts';
import { GO_DURATION_PATTERN } from '../../platform/go-duration.ts';
import { USER_KEY_TYPES } from '../../openssh/user-public-key.ts';

const Duration = Type.String({ maxLength: 32, pattern: GO_DURATION_PATTERN });
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max, pattern: PRINTABLE_PATTERN });

/** A certificate policy as clients send it (PUT replaces the whole policy; what is left out takes its default). */
export const CertPolicyInput = Type.Object(
  {
    ttl: Type.Optional(Duration),
    max_ttl: Type.Optional(Duration),
    backdate: Type.Optional(Duration),
    principals: Type.Optional(Type.Object({
      from: Type.Optional(Type.Union([Type.Literal('email_local_part'), Type.Literal('email'), Type.Literal('claim')])),
      claim: Type.Optional(Text(128)),
      allow: Type.Optional(Type.Array(Text(256), { maxItems: 64 })),
      deny: Type.Optional(Type.Array(Text(256), { maxItems: 64 })),
    }, { additionalProperties: false })),
    extensions: Type.Optional(Type.Array(Text(128), { maxItems: 20 })),
    critical_options: Type.Optional(Type.Object({
      force_command: Type.Optional(Type.Object({
        allowed: Type.Array(Text(1024), { minItems: 1, maxItems: 50 }),
        default: Type.Optional(Text(1024)),
      }, { additionalProperties: false })),
      source_address: Type.Optional(Type.Object({
        allowed: Type.Array(Text(64), { minItems: 1, maxItems: 100 }),
        default: Type.Optional(Type.Array(Text(64), { minItems: 1, maxItems: 100 })),
      }, { additionalProperties: false })),
    }, { additionalProperties: false })),
    key_types: Type.Optional(Type.Array(Type.Union([
      Type.Literal('ssh-ed25519'), Type.Literal('ecdsa-sha2-nistp256'), Type.Literal('ecdsa-sha2-nistp384'),
      Type.Literal('ecdsa-sha2-nistp521'), Type.Literal('ssh-rsa'),
    ]), { minItems: 1, maxItems: USER_KEY_TYPES.length })),
  },
  { additionalProperties: false },
);
export type CertPolicyInput = Static<typeof CertPolicyInput>;

/** The effective policy, every field present. */
export const CertPolicyView = Type.Object({
  ttl: Type.String(),
  max_ttl: Type.String(),
  backdate: Type.String(),
  principals: Type.Object({ from: Type.String(), claim: Type.Optional(Type.String()), allow: Type.Array(Type.String()), deny: Type.Array(Type.String()) }),
  extensions: Type.Array(Type.String()),
  critical_options: Type.Object({
    force_command: Type.Optional(Type.Object({ allowed: Type.Array(Type.String()), default: Type.Optional(Type.String()) })),
    source_address: Type.Optional(Type.Object({ allowed: Type.Array(Type.String()), default: Type.Optional(Type.Array(Type.String())) })),
  }),
  key_types: Type.Array(Type.String()),
});
export type CertPolicyView = Static<typeof CertPolicyView>;
