import { Type } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';

const FINGERPRINT_PATTERN = '^SHA256:[A-Za-z0-9+/]{43}$';
const DURATION = Type.String({ minLength: 2, maxLength: 32 });

export const JoinTokenInput = Type.Object({
  ttl: Type.Optional(DURATION),
  host_key_fingerprints: Type.Optional(Type.Array(Type.String({ pattern: FINGERPRINT_PATTERN }), { maxItems: 8 })),
}, { additionalProperties: false });
export const JoinTokenView = Type.Object({ id: Type.String(), target_id: Type.String(), hostname: Type.String(), token: Type.String(), expires_at: Type.String() });

export const JoinTokenStatusView = Type.Object({
  id: Type.String(), target_id: Type.String(), status: Type.String(), expires_at: Type.String(), used_at: Type.Optional(Type.String()),
  host_key_fingerprints: Type.Array(Type.String()), created_by: Type.String(), created_at: Type.String(),
});
export const JoinTokenParams = Type.Object({
  target_id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
  token_id: Type.String({ pattern: '^[0-9a-fA-F]{32}$' }),
});

const JoinTokenField = Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' });
export const ChallengeInput = Type.Object({ join_token: JoinTokenField }, { additionalProperties: false });
export const ChallengeView = Type.Object({ challenge: Type.String(), expires_at: Type.String() });
export const EnrollInput = Type.Object({
  join_token: JoinTokenField,
  challenge: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' }),
  host_keys: Type.Array(Type.Object({
    public_key: Type.String({ minLength: 1, maxLength: 16_384 }),
    signature: Type.String({ minLength: 1, maxLength: 16_384, pattern: '^[A-Za-z0-9+/]+={0,2}$' }),
  }, { additionalProperties: false }), { minItems: 1, maxItems: 8 }),
}, { additionalProperties: false });
export const EnrolledView = Type.Object({
  credential: Type.String(), id: Type.String(), account_id: Type.String(), target_id: Type.String(), host_keys: Type.Array(Type.String()),
});

export const HostView = Type.Object({
  id: Type.String(), target_id: Type.String(), hostname: Type.String(),
  host_keys: Type.Array(Type.Object({ type: Type.String(), fingerprint: Type.String() })),
  created_at: Type.String(), last_seen_at: Type.Union([Type.String(), Type.Null()]),
});
export const HostIdParams = Type.Object({ host_id: Type.String({ pattern: '^[0-9a-fA-F]{32}$' }) });
export const HostsQuery = Type.Object({
  page: Type.Optional(Type.String()), per_page: Type.Optional(Type.String()),
  target_id: Type.Optional(Type.String({ maxLength: 36 })),
}, { additionalProperties: true });

export const BundleView = Type.Object({
  version: Type.Integer(), target_id: Type.String(), hostname: Type.String(),
  keys: Type.Array(Type.Object({ public_key: Type.String(), app_id: Type.String(), ca_id: Type.String(), key_id: Type.String(), state: Type.String() })),
  trusted_user_ca_keys: Type.String(),
  host_certificates: Type.Optional(Type.Object({ active_key: Type.Union([Type.String(), Type.Null()]), principals: Type.Array(Type.String()) })),
});

export const HostCertificatesInput = Type.Object({
  public_keys: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 16_384 }), { minItems: 1, maxItems: 8 })),
  ttl: Type.Optional(DURATION),
}, { additionalProperties: false });
export const HostCertificatesView = Type.Object({
  certificates: Type.Array(Type.Object({
    public_key_fingerprint: Type.String(), key_type: Type.String(), serial: Type.String(), principals: Type.Array(Type.String()),
    valid_after: Type.String(), valid_before: Type.String(), certificate: Type.String(),
  })),
});

const HostCaKey = Type.Object({ id: Type.String(), state: Type.String(), public_key: Type.String(), created_at: Type.String() });
export const HostCaView = Type.Object({ id: Type.String(), public_key: Type.String(), keys: Type.Array(HostCaKey), max_ttl: Type.Integer(), created_at: Type.String() });
export const HostCaKeyView = HostCaKey;
export const HostCaInput = Type.Object({ max_ttl: Type.Optional(DURATION) }, { additionalProperties: false });
export const RevokeHostKeyInput = Type.Object({
  public_key: Type.String({ minLength: 1, maxLength: 16_384 }),
  reason: Type.String({ minLength: 1, maxLength: 500, pattern: PRINTABLE_PATTERN }),
}, { additionalProperties: false });
export const RevokedHostKeyView = Type.Object({ fingerprint: Type.String(), public_key: Type.String(), reason: Type.String(), created_at: Type.String() });
export const KnownHostsView = Type.Object({
  hostname: Type.String(), patterns: Type.Array(Type.String()), cert_authorities: Type.Array(Type.String()),
  revoked_keys: Type.Array(Type.String()), known_hosts: Type.String(),
});
