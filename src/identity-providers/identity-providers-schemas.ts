import { Type, type Static } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';
import { UUID_PATTERN } from '../access-apps/access-apps-schemas.ts';
import { GO_DURATION_PATTERN } from '../platform/go-duration.ts';

export const IdpIdParams = Type.Object({ idp_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });

const Url = Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s]+$' });

const Jwk = Type.Object({ kty: Type.String({ maxLength: 16 }) }, { additionalProperties: true });

/** An identity provider whose signed JWTs name people: our extension of Cloudflare's IdP object. */
export const IdpInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: PRINTABLE_PATTERN }),
    type: Type.Optional(Type.Literal('oidc')),
    config: Type.Object(
      {
        issuer: Url,
        jwks_url: Type.Optional(Url),
        jwks: Type.Optional(Type.Object({ keys: Type.Array(Jwk, { minItems: 1, maxItems: 50 }) }, { additionalProperties: false })),
        audiences: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: PRINTABLE_PATTERN }), { maxItems: 20 })),
        // OIDC sign-in from the CLI: a public client; a secret, when the provider insists on one, is sealed.
        client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })),
        client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
        scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), { minItems: 1, maxItems: 20 })),
        email_claim: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
        // What the provider vouches for (our extension): a verified email unless its claim is authoritative,
        // the email domains it speaks for, and how long its tokens may live.
        email_verified_required: Type.Optional(Type.Boolean()),
        email_domains: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 50 })),
        max_token_lifetime: Type.Optional(Type.String({ maxLength: 32, pattern: GO_DURATION_PATTERN })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type IdpInput = Static<typeof IdpInput>;

export const IdpView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  config: Type.Object({
    issuer: Type.String(),
    jwks_url: Type.Optional(Type.String()),
    jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) })),
    audiences: Type.Array(Type.String()),
    client_id: Type.Optional(Type.String()),
    client_secret_set: Type.Boolean(),
    scopes: Type.Array(Type.String()),
    email_claim: Type.String(),
    email_verified_required: Type.Boolean(),
    email_domains: Type.Array(Type.String()),
    max_token_lifetime: Type.String(),
    /** The trial provider, whose tokens access-ca signs itself (access-ca login --trial): for evaluation only. */
    trial: Type.Optional(Type.Literal(true)),
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type IdpView = Static<typeof IdpView>;
