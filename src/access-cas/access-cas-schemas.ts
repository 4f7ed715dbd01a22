import { Type, type Static } from 'typebox';

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
