import { Type, type Static } from 'typebox';
import { UUID_PATTERN } from '../access-apps/access-apps-schemas.ts';

export const IdpIdParams = Type.Object({ idp_id: Type.String({ pattern: UUID_PATTERN, maxLength: 36 }) });

const Url = Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s]+$' });

const Jwk = Type.Object({ kty: Type.String({ maxLength: 16 }) }, { additionalProperties: true });

/** An identity provider whose signed JWTs name people: our extension of Cloudflare's IdP object. */
export const IdpInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.Optional(Type.Literal('oidc')),
    config: Type.Object(
      {
        issuer: Url,
        jwks_url: Type.Optional(Url),
        jwks: Type.Optional(Type.Object({ keys: Type.Array(Jwk, { minItems: 1, maxItems: 50 }) }, { additionalProperties: false })),
        audiences: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 20 })),
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
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type IdpView = Static<typeof IdpView>;
