import type { ColumnType, Kysely } from 'kysely';

/** Row types of every table; timestamps are ISO 8601 strings (UTC, ms), which sort as they read. */
/** A key of a CA an account has one of (its host CA, its gateway CA): sealed, in a rotation state. */
interface AccountCaKey {
  id: string;
  ca_id: string;
  account_id: string;
  /** 'active' signs; 'next' and 'previous' are trusted during a rotation. */
  state: string;
  algorithm: string;
  /** The OpenSSH public key blob, base64. */
  public_key: string;
  /** AES-256-GCM sealed PKCS#8 DER, bound to the CA and key ids. */
  private_key_sealed: Uint8Array;
  created_at: string;
}

export interface Database {
  settings: { name: string; value: string };
  accounts: { id: string; name: string; created_at: string };
  zones: { id: string; account_id: string; name: string; created_at: string };
  users: { id: string; email: string; api_key_sha256: string; created_at: string };
  account_members: { account_id: string; user_id: string; created_at: string };
  api_tokens: {
    id: string;
    account_id: string;
    zone_id: string | null;
    name: string;
    secret_sha256: string;
    not_before: string | null;
    expires_on: string | null;
    revoked_at: string | null;
    created_at: string;
  };
  api_token_permissions: { token_id: string; permission_group: string };
  access_apps: {
    id: string;
    account_id: string;
    zone_id: string | null;
    aud: string;
    name: string;
    domain: string | null;
    type: string;
    session_duration: string;
    /** The domain's host, lowercased: unique in the deployment, so a host names one app. */
    host: string | null;
    created_at: string;
    updated_at: string;
    /**
     * JSON object: the fields of Cloudflare's application object beyond these columns, as last written and
     * validated (access-apps/access-app-settings.ts); `{}` when none was given. Migration 0013.
     */
    settings: ColumnType<string, string | undefined, string>;
    /** JSON array: an infrastructure application's `target_criteria`; null for other types, or none given. */
    target_criteria: ColumnType<string | null, string | null | undefined, string | null>;
  };
  ssh_cas: { id: string; app_id: string; created_at: string };
  /** Derived by triggers (ca-listing.ts): each CA under its app's scope, in list order; zone_key '' is the account. */
  ssh_ca_listing: { account_id: string; zone_key: string; created_at: string; ca_id: string };
  ssh_ca_counts: { account_id: string; zone_key: string; n: number | string };
  ssh_ca_keys: {
    id: string;
    ca_id: string;
    /** 'active' signs; 'next' and 'previous' are trusted during a rotation. */
    state: string;
    algorithm: string;
    /** The OpenSSH public key blob, base64. */
    public_key: string;
    /** AES-256-GCM sealed PKCS#8 DER, bound to the CA and key ids; empty for a key held in a PKCS#11 token. */
    private_key_sealed: Uint8Array;
    created_at: string;
    /** 'sealed' or 'pkcs11' (0015); optional to write, as the column defaults to 'sealed'. */
    key_storage?: string;
    /** A 'pkcs11' key's CKA_ID in the token, hex; null for a sealed key (0015). */
    token_object_id?: string | null;
  };
  identity_providers: {
    id: string;
    account_id: string;
    name: string;
    issuer: string;
    jwks_url: string | null;
    /** An inline JWKS document (JSON), for providers whose keys are configured by hand. */
    jwks_json: string | null;
    /** JSON array of extra audiences the provider's own tokens carry (e.g. an OIDC client id). */
    audiences: string;
    /** The public OIDC client people sign in with; null when sign-in from the CLI is not set up. */
    client_id: string | null;
    /** AES-256-GCM sealed, bound to the row; never returned. */
    client_secret_sealed: Uint8Array | null;
    /** Space-separated OAuth scopes. */
    scopes: string;
    /** Which claim of the provider's tokens carries the email. */
    email_claim: string;
    /** 1: a token's `email_verified` must be the boolean true; 0: the provider's email claim is authoritative. */
    email_verified_required: number;
    /** JSON array of the email domains the provider speaks for; empty: any. */
    email_domains: string;
    /** Seconds an identity token may live (`exp − iat`) and may have aged (`now − iat`). */
    max_token_lifetime: number;
    /**
     * The trial provider's signing key (PKCS#8, AES-256-GCM sealed, bound to the row); null for every
     * provider that signs its own tokens elsewhere. See identity-providers/trial-provider.ts.
     */
    trial_key_sealed: Uint8Array | null;
    created_at: string;
    updated_at: string;
  };
  /** One certificate policy per app, as JSON; an app without a row uses the defaults. */
  ssh_cert_policies: { app_id: string; policy: string; updated_at: string };
  /** The inventory of issued certificates; kept after its CA or app is deleted, for audit and KRLs. */
  ssh_certificates: {
    id: string;
    serial: string;
    ca_id: string;
    ca_key_id: string;
    app_id: string;
    account_id: string;
    key_id: string;
    /** JSON array. */
    principals: string;
    valid_after: string;
    valid_before: string;
    identity: string;
    public_key_type: string;
    public_key_fingerprint: string;
    /** JSON objects. */
    critical_options: string;
    extensions: string;
    source: string;
    created_at: string;
    revoked_at: string | null;
    revocation_id: string | null;
  };
  /** One act of revocation: what it selected (a certificate, an identity, a principal, a key id or a user key). */
  ssh_revocations: {
    id: string;
    account_id: string;
    /** Null for a revocation of the whole account (a person, a user key). */
    app_id: string | null;
    /** certificate, identity, tokens, principal, key_id or key. */
    kind: string;
    value: string;
    reason: string;
    actor: string;
    /** How many certificates it revoked when it was made. */
    certificates: number;
    created_at: string;
    /** When a principal's block was lifted, and by whom; its certificates stay revoked. */
    lifted_at: string | null;
    lifted_by: string | null;
  };
  /** User keys an application no longer certifies; they appear in its KRL by SHA-256. */
  /** Per account, bumped by triggers with every change to what grants a certificate (grant-revisions.ts). */
  grant_revisions: { account_id: string; revision: number | string | bigint };
  ssh_revoked_keys: { app_id: string; fingerprint: string; revocation_id: string; created_at: string };
  ssh_krl_versions: { app_id: string; version: number; updated_at: string };
  /** Access groups: named include/exclude/require rule sets that policies reference. Rules are JSON arrays. */
  access_groups: {
    id: string;
    account_id: string;
    zone_id: string | null;
    name: string;
    include: string;
    exclude: string;
    require: string;
    created_at: string;
    updated_at: string;
  };
  /** Access policies: reusable (app_id null) or owned by one application. Rules are JSON arrays. */
  access_policies: {
    id: string;
    account_id: string;
    zone_id: string | null;
    app_id: string | null;
    name: string;
    /** 'allow' | 'deny'. */
    decision: string;
    include: string;
    exclude: string;
    require: string;
    session_duration: string | null;
    created_at: string;
    updated_at: string;
    /** JSON object: the fields of Cloudflare's policy object beyond these columns (access-policies/policy-settings.ts). Migration 0013. */
    settings: ColumnType<string, string | undefined, string>;
    /** JSON object `{ssh?, rdp?}`: the policy's `connection_rules` (infrastructure applications' policies); null when none. */
    connection_rules: ColumnType<string | null, string | null | undefined, string | null>;
  };
  /** Which policies an application evaluates, in precedence order (unique within an app). */
  access_app_policies: { app_id: string; policy_id: string; precedence: number };
  /** Cloudflare's infrastructure targets: the hosts of an account, which enroll and trust the CAs that cover them. */
  infrastructure_targets: {
    id: string;
    account_id: string;
    /** As the operator wrote it; `host` is its lowercased form, which applications' hosts are matched against. */
    hostname: string;
    host: string;
    ipv4: string | null;
    ipv4_vnet: string | null;
    ipv6: string | null;
    ipv6_vnet: string | null;
    /** JSON object of string tags. */
    tags: string;
    /** JSON array of further names the host is reached by (ours): principals of its host certificates. */
    aliases: string;
    created_at: string;
    modified_at: string;
    /** The addresses as keys that compare as addresses do (ipAddressKey), for range filters; written by the store. */
    ipv4_key: string | null;
    ipv6_key: string | null;
  };
  /** Single-use tokens a host enrolls with; only their hash is kept. */
  host_join_tokens: {
    id: string;
    account_id: string;
    target_id: string;
    secret_sha256: string;
    /** JSON array of the `SHA256:` fingerprints of host keys the token is bound to; empty: any host key. */
    host_key_fingerprints: string;
    /** The enrollment challenge last handed out for this token, and until when it may be answered. */
    challenge: string | null;
    challenge_expires_at: string | null;
    expires_at: string;
    used_at: string | null;
    created_by: string;
    created_at: string;
  };
  /** An enrolled host: its credential's hash, bound to one target and the host keys it proved. */
  host_enrollments: {
    id: string;
    account_id: string;
    target_id: string;
    secret_sha256: string;
    /** JSON array of the host keys' OpenSSH public key blobs (base64). */
    host_keys: string;
    created_at: string;
    last_seen_at: string | null;
  };
  /** One host CA per account: signs host keys, so that clients check hosts against a CA instead of a fingerprint. */
  host_cas: { id: string; account_id: string; /** Longest host certificate, in seconds. */ max_ttl: number; created_at: string };
  host_ca_keys: AccountCaKey;
  /** Each account's gateway CA (Cloudflare's `/access/gateway_ca`): it signs for infrastructure applications' targets. */
  gateway_cas: { id: string; account_id: string; created_at: string };
  gateway_ca_keys: AccountCaKey;
  /** Host keys clients must refuse (`@revoked` in known_hosts), and the host CA must not certify. */
  host_revoked_keys: { account_id: string; fingerprint: string; public_key: string; reason: string; created_at: string };
  /** Per account, bumped by triggers with every change to what a host trusts or enforces (migration 0009). */
  fleet_revisions: { account_id: string; revision: number | string | bigint };
  audit_events: {
    id: string;
    account_id: string;
    type: string;
    actor: string;
    subject: string;
    /** JSON object. */
    data: string;
    created_at: string;
  };
}

export type Db = Kysely<Database>;
export type DbKind = 'sqlite' | 'postgres';
