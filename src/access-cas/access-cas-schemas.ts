import { Type, type Static } from 'typebox';

/**
 * POST …/ca: Cloudflare defines no body (none, an empty one and `{}` are the same request). Ours:
 * `key_storage` says where the CA's key is made, sealed in the store (the default) or in the PKCS#11 token.
 */
export const CreateCaBody = Type.Object({
  key_storage: Type.Optional(Type.Union([Type.Literal('sealed'), Type.Literal('pkcs11')], {
    description: 'Where the CA\'s private key lives (ours): "sealed" under the master key in the store, or "pkcs11" inside the server\'s PKCS#11 token, where it is made and never leaves. Default: the server\'s (sealed unless configured).',
  })),
}, { additionalProperties: false });

/** POST …/ca/rotate (ours): no body, or where the next key lives; by default where the active key does. A rotation into the token is how a sealed CA moves there. */
export const RotateCaBody = Type.Object({
  key_storage: Type.Optional(Type.Union([Type.Literal('sealed'), Type.Literal('pkcs11')], {
    description: 'Where the next key lives: "pkcs11" moves a sealed CA into the token by this rotation (its old key is never exported there). Default: where the active key lives.',
  })),
}, { additionalProperties: false });

/** Cloudflare's CA object; nothing else about a CA leaves the server. */
export const CaView = Type.Object({
  id: Type.String(),
  aud: Type.String(),
  public_key: Type.String(),
});
export type CaView = Static<typeof CaView>;

/** One key of a CA during a rotation (our extension): its public half and its part, never the private key. */
export const CaKeyView = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('next'), Type.Literal('previous')]),
  public_key: Type.String(),
  created_at: Type.String(),
  key_storage: Type.Optional(Type.Union([Type.Literal('sealed'), Type.Literal('pkcs11')], {
    description: 'Where the private key lives (an application CA\'s keys): "sealed" in the store under the master key, or "pkcs11" inside the server\'s PKCS#11 token',
  })),
});
export type CaKeyView = Static<typeof CaKeyView>;

/** What servers should trust: every key of the CA, and the TrustedUserCAKeys file that lists them. */
export const TrustedKeysView = Type.Object({
  keys: Type.Array(CaKeyView),
  trusted_user_ca_keys: Type.String(),
});
export type TrustedKeysView = Static<typeof TrustedKeysView>;

/** The key a retirement deleted. */
export const RetiredKey = Type.Object({ id: Type.String() });
