import { Type, type Static } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';

/**
 * A target's hostname: it is matched against applications' hosts, becomes a host certificate's principal
 * and a known_hosts pattern, so it holds only what a DNS name or a bare host label does (no `*`, `?`,
 * `,`, `!` or white space, which mean something in those places).
 */
export const HOSTNAME_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$';
/** A further name a host is reached by: a hostname, or an IPv4 or IPv6 address. */
export const ALIAS_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9._:-]{0,251}[A-Za-z0-9])?$';
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const TargetIdParams = Type.Object({ target_id: Type.String({ pattern: UUID_PATTERN }) });

const Address = Type.Object({
  ip_addr: Type.String({ minLength: 2, maxLength: 45 }),
  virtual_network_id: Type.Optional(Type.String({ pattern: UUID_PATTERN })),
}, { additionalProperties: false });

/** Cloudflare's target body, and our `aliases`. Unknown fields are refused, so no setting is silently dropped. */
export const TargetInput = Type.Object({
  hostname: Type.String({ minLength: 1, maxLength: 253, pattern: HOSTNAME_PATTERN }),
  ip: Type.Optional(Type.Object({ ipv4: Type.Optional(Address), ipv6: Type.Optional(Address) }, { additionalProperties: false })),
  tags: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 255, pattern: PRINTABLE_PATTERN }), Type.String({ maxLength: 255, pattern: PRINTABLE_PATTERN }), { maxProperties: 64 })),
  aliases: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: ALIAS_PATTERN }), { maxItems: 32 })),
}, { additionalProperties: false });
export type TargetInput = Static<typeof TargetInput>;

const AddressView = Type.Object({ ip_addr: Type.String(), virtual_network_id: Type.Optional(Type.String()) });

/** Cloudflare's target object, and our `aliases`. */
export const TargetView = Type.Object({
  id: Type.String(),
  hostname: Type.String(),
  ip: Type.Object({ ipv4: Type.Optional(AddressView), ipv6: Type.Optional(AddressView) }),
  tags: Type.Record(Type.String(), Type.String()),
  aliases: Type.Array(Type.String()),
  created_at: Type.String(),
  modified_at: Type.String(),
});
export type TargetView = Static<typeof TargetView>;

/** Cloudflare's list filters that this release answers; the companion issue adds the rest. */
export const TargetQuery = Type.Object({
  page: Type.Optional(Type.String()),
  per_page: Type.Optional(Type.String()),
  hostname: Type.Optional(Type.String({ maxLength: 253 })),
  hostname_contains: Type.Optional(Type.String({ maxLength: 253 })),
  ip_v4: Type.Optional(Type.String({ maxLength: 45 })),
  ip_v6: Type.Optional(Type.String({ maxLength: 45 })),
  virtual_network_id: Type.Optional(Type.String({ maxLength: 36 })),
}, { additionalProperties: true });
export type TargetQuery = Static<typeof TargetQuery>;

export const DeletedTarget = Type.Object({ id: Type.String() });
