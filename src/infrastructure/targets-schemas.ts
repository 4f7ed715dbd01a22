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
  // Cloudflare's `null` is no tags.
  tags: Type.Optional(Type.Union([Type.Record(Type.String({ minLength: 1, maxLength: 255, pattern: PRINTABLE_PATTERN }), Type.String({ maxLength: 255, pattern: PRINTABLE_PATTERN }), { maxProperties: 64 }), Type.Null()])),
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

/** Most items one batch route takes (PUT …/batch, POST …/batch_delete, DELETE …/batch); the body limit also bounds a batch. */
export const MAX_BATCH = 1000;

/** A query parameter the SDK repeats to make a list (`ips=a&ips=b`): one value or several. */
const Repeated = (maxLength: number) => Type.Union([Type.String({ maxLength }), Type.Array(Type.String({ maxLength }), { maxItems: MAX_BATCH })]);

/** Cloudflare's list filters (all ANDed), sort and paging; each value is checked, with its pointer, in targets-service. */
export const TargetQuery = Type.Object({
  page: Type.Optional(Type.String()),
  per_page: Type.Optional(Type.String()),
  hostname: Type.Optional(Type.String({ maxLength: 253 })),
  hostname_contains: Type.Optional(Type.String({ maxLength: 253 })),
  ip_v4: Type.Optional(Type.String({ maxLength: 45 })),
  ip_v6: Type.Optional(Type.String({ maxLength: 45 })),
  ips: Type.Optional(Repeated(45)),
  ip_like: Type.Optional(Type.String({ maxLength: 64 })),
  ipv4_start: Type.Optional(Type.String({ maxLength: 45 })),
  ipv4_end: Type.Optional(Type.String({ maxLength: 45 })),
  ipv6_start: Type.Optional(Type.String({ maxLength: 45 })),
  ipv6_end: Type.Optional(Type.String({ maxLength: 45 })),
  virtual_network_id: Type.Optional(Type.String({ maxLength: 36 })),
  target_ids: Type.Optional(Repeated(36)),
  created_after: Type.Optional(Type.String({ maxLength: 64 })),
  created_before: Type.Optional(Type.String({ maxLength: 64 })),
  modified_after: Type.Optional(Type.String({ maxLength: 64 })),
  modified_before: Type.Optional(Type.String({ maxLength: 64 })),
  tag: Type.Optional(Repeated(511)),
  order: Type.Optional(Type.String({ maxLength: 16 })),
  direction: Type.Optional(Type.String({ maxLength: 8 })),
}, { additionalProperties: true });
export type TargetQuery = Static<typeof TargetQuery>;

export const DeletedTarget = Type.Object({ id: Type.String() });

/** `PUT …/targets/batch`: target bodies, each upserted by its hostname. */
export const TargetBatch = Type.Array(TargetInput, { minItems: 1, maxItems: MAX_BATCH });

/** `POST …/targets/batch_delete` and the deprecated `DELETE …/targets/batch`. */
export const TargetIdList = Type.Object({
  target_ids: Type.Array(Type.String({ pattern: UUID_PATTERN }), { minItems: 1, maxItems: MAX_BATCH }),
}, { additionalProperties: false });
