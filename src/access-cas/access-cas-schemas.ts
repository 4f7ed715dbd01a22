import { Type, type Static } from 'typebox';

/** Cloudflare's CA object; nothing else about a CA leaves the server. */
export const CaView = Type.Object({
  id: Type.String(),
  aud: Type.String(),
  public_key: Type.String(),
});
export type CaView = Static<typeof CaView>;

