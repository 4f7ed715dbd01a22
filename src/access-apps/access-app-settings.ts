import { Type, type TOptional, type TSchema } from 'typebox';
import { PRINTABLE_PATTERN } from '../platform/text.ts';
import { GO_DURATION_PATTERN } from '../platform/go-duration.ts';
import { errors } from '../platform/http/errors.ts';

/**
 * The fields of Cloudflare's application object beyond the ones that name it (name, domain, type,
 * session_duration, policies): SDK v7's `applications.create/update` for `self_hosted`, `ssh` and
 * `infrastructure`. They are validated here, kept as JSON (`access_apps.settings`, `target_criteria`) and
 * returned as written, with Cloudflare's defaults filled in. Three of them decide who gets a certificate
 * and are enforced by the decider (`allowed_idps`; `session_duration` is a column); the rest have no effect
 * on certificates (docs/policies.md lists them). What access-ca cannot honour is refused, by name.
 */

export const APP_TYPES = ['self_hosted', 'ssh', 'infrastructure'] as const;
export type AppType = typeof APP_TYPES[number];
/** The types Cloudflare serves through its web proxy: their cookie, CORS and launcher settings exist. */
export const isWebType = (type: string): boolean => type === 'self_hosted' || type === 'ssh';

/** Text that may reach a log or a terminal (platform/text.ts), bounded. */
export const Text = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength, pattern: PRINTABLE_PATTERN });
const Duration = Type.String({ maxLength: 64, pattern: GO_DURATION_PATTERN });
/** A map's keys: printable, 1–255 characters; other keys are refused, not ignored. */
const MAP_KEY = '^[^\\p{C}]{1,255}$';
const StringMap = (value: TSchema, maxProperties: number) => Type.Record(Type.String({ pattern: MAP_KEY }), value, { additionalProperties: false, maxProperties });
export const UUID = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', maxLength: 36 });

/** How an optional field is written: on input also `null`, which clears it (what Terraform sends for a field it stopped setting). */
export type Optional = <T extends TSchema>(schema: T) => TOptional<TSchema>;
export const nullable: Optional = (schema) => Type.Optional(Type.Union([schema, Type.Null()])) as TOptional<TSchema>;
export const optional: Optional = (schema) => Type.Optional(schema) as TOptional<TSchema>;
const Bool = Type.Boolean();

/** Multi-factor settings: Cloudflare's web authenticators and its infrastructure ones. */
export const mfaConfig = (opt: Optional) => Type.Object({
  allowed_authenticators: opt(Type.Array(Type.Enum(['totp', 'biometrics', 'security_key', 'piv_key', 'ssh_fido2_key']), { maxItems: 5 })),
  mfa_disabled: opt(Bool),
  session_duration: opt(Duration),
}, { additionalProperties: false });

const ScimAuthentication = (opt: Optional) => Type.Object({
  scheme: Type.Enum(['httpbasic', 'oauthbearertoken', 'oauth2', 'access_service_token']),
  user: opt(Text(256)),
  // Write-only, as at Cloudflare: taken, never stored or returned (access-ca provisions nothing).
  password: opt(Text(1024)),
  token: opt(Text(4096)),
  client_secret: opt(Text(1024)),
  client_id: opt(Text(256)),
  authorization_url: opt(Text(2048)),
  token_url: opt(Text(2048)),
  scopes: opt(Type.Array(Text(256), { maxItems: 50 })),
}, { additionalProperties: false });

/** The credentials of a SCIM endpoint: accepted, never kept (Cloudflare does not return them either). */
export const SCIM_SECRETS = ['password', 'token', 'client_secret'] as const;

/** Infrastructure applications' target criteria: which targets they cover (stored; matching is the fleet's). */
const targetSelector = (opt: Optional) => Type.Object({
  tags: opt(StringMap(Type.Array(Text(255, 1), { maxItems: 100 }), 32)),
  target_attributes: opt(Type.Object({ hostname: opt(Type.Array(Text(253, 1), { maxItems: 500 })) }, { additionalProperties: false })),
}, { additionalProperties: false });
export const targetCriterion = (opt: Optional) => Type.Object({
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  protocol: Type.Literal('SSH'),
  target_attributes: opt(StringMap(Type.Array(Text(253, 1), { maxItems: 500 }), 16)),
  include: opt(targetSelector(opt)),
  require: opt(targetSelector(opt)),
  exclude: opt(targetSelector(opt)),
}, { additionalProperties: false });

/**
 * The stored fields, by name, as the SDK types them. `allowed_idps` and `mfa_config` apply to every type;
 * the rest only to the web types (`self_hosted`, `ssh`): an infrastructure application refuses them.
 */
export function settingsFields(opt: Optional) {
  return {
    allowed_idps: opt(Type.Array(UUID, { maxItems: 50 })),
    mfa_config: opt(mfaConfig(opt)),
    allow_authenticate_via_warp: opt(Bool),
    allow_iframe: opt(Bool),
    app_launcher_visible: opt(Bool),
    auto_redirect_to_identity: opt(Bool),
    cors_headers: opt(Type.Object({
      allow_all_headers: opt(Bool),
      allow_all_methods: opt(Bool),
      allow_all_origins: opt(Bool),
      allow_credentials: opt(Bool),
      allowed_headers: opt(Type.Array(Text(256, 1), { maxItems: 100 })),
      allowed_methods: opt(Type.Array(Type.Enum(['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']), { maxItems: 9 })),
      allowed_origins: opt(Type.Array(Text(2048, 1), { maxItems: 100 })),
      max_age: opt(Type.Integer({ minimum: -1, maximum: 86_400 })),
    }, { additionalProperties: false })),
    custom_deny_message: opt(Text(1024)),
    custom_deny_url: opt(Text(2048)),
    custom_non_identity_deny_url: opt(Text(2048)),
    custom_pages: opt(Type.Array(Text(64, 1), { maxItems: 20 })),
    eager_redirect_cookie_setting: opt(Bool),
    enable_binding_cookie: opt(Bool),
    http_only_cookie_attribute: opt(Bool),
    logo_url: opt(Text(2048)),
    oauth_configuration: opt(Type.Object({
      enabled: opt(Bool),
      dynamic_client_registration: opt(Type.Object({
        allow_any_on_localhost: opt(Bool),
        allow_any_on_loopback: opt(Bool),
        allowed_uris: opt(Type.Array(Text(2048, 1), { maxItems: 100 })),
        enabled: opt(Bool),
      }, { additionalProperties: false })),
      grant: opt(Type.Object({ access_token_lifetime: opt(Duration), session_duration: opt(Duration) }, { additionalProperties: false })),
    }, { additionalProperties: false })),
    options_preflight_bypass: opt(Bool),
    path_cookie_attribute: opt(Bool),
    read_service_tokens_from_header: opt(Text(256)),
    same_site_cookie_attribute: opt(Type.Enum(['strict', 'lax', 'none'])),
    scim_config: opt(Type.Object({
      idp_uid: Text(64, 1),
      remote_uri: Text(2048, 1),
      authentication: opt(Type.Union([ScimAuthentication(opt), Type.Array(ScimAuthentication(opt), { maxItems: 4 })])),
      deactivate_on_delete: opt(Bool),
      enabled: opt(Bool),
      mappings: opt(Type.Array(Type.Object({
        schema: Text(256, 1),
        enabled: opt(Bool),
        filter: opt(Text(1024)),
        operations: opt(Type.Object({ create: opt(Bool), delete: opt(Bool), update: opt(Bool) }, { additionalProperties: false })),
        strictness: opt(Type.Enum(['strict', 'passthrough'])),
        transform_jsonata: opt(Text(4096)),
      }, { additionalProperties: false }), { maxItems: 20 })),
    }, { additionalProperties: false })),
    service_auth_401_redirect: opt(Bool),
    skip_interstitial: opt(Bool),
    tags: opt(Type.Array(Text(255, 1), { maxItems: 50 })),
    use_clientless_isolation_app_launcher_url: opt(Bool),
  };
}

export const SETTING_NAMES = Object.keys(settingsFields(optional)) as (keyof ReturnType<typeof settingsFields>)[];
/** Fields every type takes; the others are the web types' own. */
const ANY_TYPE = new Set(['allowed_idps', 'mfa_config']);

/** Cloudflare's own defaults for what the web types' object always shows (the Terraform provider's plan and read normalizers say which). */
const WEB_DEFAULTS = {
  allow_iframe: false, app_launcher_visible: true, auto_redirect_to_identity: false, enable_binding_cookie: false,
  http_only_cookie_attribute: true, options_preflight_bypass: false, path_cookie_attribute: false,
  service_auth_401_redirect: false, skip_interstitial: false, tags: [] as string[],
};

export type AppSettings = Record<string, unknown>;

/** A stored settings document, read back (written only by `mergeSettings`, so trusted). */
export function parseSettings(json: string): AppSettings {
  return JSON.parse(json) as AppSettings;
}

/** The identity providers an application takes sign-ins from; empty: every provider of its account. */
export function allowedIdps(settings: AppSettings): string[] {
  return Array.isArray(settings['allowed_idps']) ? (settings['allowed_idps'] as string[]) : [];
}

/** A value without its null members (null means "not set" at any depth) and, under `authentication`, without SCIM credentials. */
export function withoutNulls(value: unknown, scim = false): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutNulls(v, scim));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || (scim && (SCIM_SECRETS as readonly string[]).includes(k))) continue;
    out[k] = withoutNulls(v, scim || k === 'authentication');
  }
  return out;
}

/**
 * The settings after a write: a field left out keeps its stored value, `null` clears it, a value replaces
 * it. So a client that sends only what it knows (the console, `app update`) never drops a setting by
 * accident, and Terraform's explicit nulls clear what it no longer configures.
 */
export function mergeSettings(stored: AppSettings, input: Record<string, unknown>): AppSettings {
  const out = { ...stored };
  for (const name of SETTING_NAMES) {
    if (!(name in input)) continue;
    const value = input[name];
    if (value === null || value === undefined) delete out[name];
    else out[name] = withoutNulls(value);
  }
  return out;
}

/** The checks that need the whole application, each naming its field; what the schema cannot say. */
export function checkSettings(type: string, settings: AppSettings, input: Record<string, unknown>): void {
  const kept = (name: string) => (name in input ? '' : ` (kept from before: send "${name}": null to clear it)`);
  for (const name of Object.keys(settings)) {
    if (!isWebType(type) && !ANY_TYPE.has(name)) {
      throw errors.invalidRequest(`${type} applications do not take ${name}${kept(name)}`, `/${name}`);
    }
  }
  const mfa = settings['mfa_config'] as { allowed_authenticators?: string[]; mfa_disabled?: boolean } | undefined;
  if (mfa) {
    const allowed = isWebType(type) ? ['totp', 'biometrics', 'security_key'] : ['piv_key', 'ssh_fido2_key'];
    for (const [i, a] of (mfa.allowed_authenticators ?? []).entries()) {
      if (!allowed.includes(a)) throw errors.invalidRequest(`${type} applications take the authenticators ${allowed.join(', ')}`, `/mfa_config/allowed_authenticators/${i}`);
    }
    if (mfa.mfa_disabled !== true) {
      throw errors.invalidRequest(`access-ca cannot require a second factor at sign-in, so it would issue certificates without one: set mfa_disabled: true or leave mfa_config out${kept('mfa_config')}`, '/mfa_config/mfa_disabled');
    }
  }
  if (settings['auto_redirect_to_identity'] === true && allowedIdps(settings).length !== 1) {
    throw errors.invalidRequest('auto_redirect_to_identity needs exactly one identity provider in allowed_idps', '/auto_redirect_to_identity');
  }
  const cors = settings['cors_headers'] as { allow_all_origins?: boolean; allowed_origins?: string[]; allow_credentials?: boolean } | undefined;
  if (cors && settings['options_preflight_bypass'] === true) {
    throw errors.invalidRequest('options_preflight_bypass cannot be on while cors_headers is set', '/options_preflight_bypass');
  }
  if (cors?.allow_credentials === true && (cors.allow_all_origins === true || cors.allowed_origins?.includes('*'))) {
    throw errors.invalidRequest('allow_credentials cannot go with every origin allowed', '/cors_headers/allow_credentials');
  }
}

/** The stored settings as the application object shows them: Cloudflare's defaults, then what was written. */
export function settingsView(type: string, settings: AppSettings): AppSettings {
  return { allowed_idps: [], ...(isWebType(type) ? WEB_DEFAULTS : {}), ...settings };
}

/** One of Cloudflare's destinations; access-ca serves the public one that is the application's domain. */
export const destination = (opt: Optional) => Type.Object({
  type: opt(Type.Enum(['public', 'private', 'via_mcp_server_portal', 'worker', 'preview_worker', 'all_workers', 'all_preview_workers'])),
  uri: opt(Text(1024)),
  cidr: opt(Text(64)),
  hostname: opt(Text(253)),
  l4_protocol: opt(Type.Enum(['tcp', 'udp'])),
  port_range: opt(Text(16)),
  vnet_id: opt(Text(64)),
  mcp_server_id: opt(Text(64)),
  worker_id: opt(Text(64)),
  overrides: opt(Type.Array(Type.Object({ behavior: Type.Literal('public'), path_pattern: Text(1024) }, { additionalProperties: false }), { maxItems: 50 })),
}, { additionalProperties: false });

type DestinationInput = { type?: string | null; uri?: string | null; overrides?: unknown[] | null } & Record<string, unknown>;
const PRIVATE_PARTS = ['cidr', 'hostname', 'l4_protocol', 'port_range', 'vnet_id', 'mcp_server_id', 'worker_id'];

/**
 * The domain an application secures, from `domain` or from Cloudflare's `destinations` (and the deprecated
 * `self_hosted_domains`), which the object shows derived from it and Terraform sends back: one public
 * domain, the same wherever it is given. Anything more is refused by name, never half-kept.
 */
export function securedDomain(
  input: { type?: string | undefined; domain?: string | null | undefined; destinations?: DestinationInput[] | null | undefined; self_hosted_domains?: string[] | null | undefined },
  isDomain: (value: string) => boolean,
): string | null {
  const type = input.type ?? 'self_hosted';
  const destinations = input.destinations ?? [];
  const listed = input.self_hosted_domains ?? [];
  if (!isWebType(type)) {
    if (destinations.length > 0) throw errors.invalidRequest(`${type} applications do not take destinations`, '/destinations');
    if (listed.length > 0) throw errors.invalidRequest(`${type} applications do not take self_hosted_domains`, '/self_hosted_domains');
  }
  const uris: [string, string][] = [];
  for (const [i, d] of destinations.entries()) {
    const at = `/destinations/${i}`;
    if ((d.type ?? 'public') !== 'public') {
      throw errors.invalidRequest('access-ca secures one public domain per application: private, MCP server and Worker destinations are not served', `${at}/type`);
    }
    const part = PRIVATE_PARTS.find((p) => d[p] !== undefined && d[p] !== null);
    if (part) throw errors.invalidRequest(`${part} belongs to private destinations`, `${at}/${part}`);
    if ((d.overrides ?? []).length > 0) throw errors.invalidRequest('overrides make paths public, bypassing Access; access-ca does not', `${at}/overrides`);
    if (typeof d.uri !== 'string') throw errors.invalidRequest('missing required field', `${at}/uri`);
    uris.push([d.uri, `${at}/uri`]);
  }
  for (const [i, d] of listed.entries()) uris.push([d, `/self_hosted_domains/${i}`]);
  for (const [uri, at] of uris) if (!isDomain(uri)) throw errors.invalidRequest('holds characters or a form that this field does not take', at);
  const domain = input.domain ?? uris[0]?.[0] ?? null;
  for (const [uri, at] of uris) {
    if (uri.toLowerCase() !== domain?.toLowerCase()) {
      throw errors.invalidRequest(`an application here secures one domain (${domain}): make an application for each further domain`, at);
    }
  }
  return domain;
}

/** What the web types' object shows for its domain: Cloudflare's newer `destinations` and the deprecated list. */
export function domainViews(type: string, domain: string | null) {
  if (!isWebType(type)) return {};
  return { self_hosted_domains: domain === null ? [] : [domain], destinations: domain === null ? [] : [{ type: 'public', uri: domain }] };
}

type Selector = { tags?: unknown; target_attributes?: unknown };
type Criterion = { target_attributes?: unknown; include?: Selector; require?: Selector; exclude?: Selector };

/**
 * An infrastructure application's `target_criteria`, checked as Cloudflare states it: each criterion uses
 * the (deprecated) top-level `target_attributes` or the rule format, not both; the rule format needs
 * `include`. Returned without nulls, as stored.
 */
export function checkedCriteria(criteria: unknown[]): unknown[] {
  const clean = withoutNulls(criteria) as Criterion[];
  for (const [i, c] of clean.entries()) {
    const at = `/target_criteria/${i}`;
    const rules = (['include', 'require', 'exclude'] as const).filter((k) => c[k] !== undefined);
    if (c.target_attributes !== undefined && rules.length > 0) {
      throw errors.invalidRequest('use either target_attributes or the include/require/exclude rules, not both', `${at}/${rules[0]}`);
    }
    if (c.target_attributes === undefined && c.include === undefined) {
      throw errors.invalidRequest('missing required field: target_attributes, or the rule format\'s include', rules.length > 0 ? `${at}/include` : `${at}/target_attributes`);
    }
  }
  return clean;
}
