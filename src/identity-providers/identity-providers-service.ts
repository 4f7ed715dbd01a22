import { createPublicKey } from 'node:crypto';
import { rfc3339, type Clock } from '../platform/clock.ts';
import { formatGoDuration, parseGoDuration } from '../platform/go-duration.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { errors } from '../platform/http/errors.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { IdentityProvidersStore, IdpRow } from './identity-providers-store.ts';
import type { IdpInput, IdpView } from './identity-providers-schemas.ts';
import { JwksFetchError, type JwksFetcher } from './jwks-fetch.ts';
import { JWT_ALGORITHMS, usableKeys } from './jwt-verifier.ts';
import { changedFields, type AuditLog } from '../audit/audit-log.ts';
import { isTrialProvider, newTrialProviderRow, signTrialToken, TRIAL_ISSUER_HOST, trialIssuer } from './trial-provider.ts';

/** A day: identity tokens live minutes to hours; one that claims to live longer is refused. */
export const DEFAULT_MAX_TOKEN_LIFETIME = 86_400;
const MAX_TOKEN_LIFETIME_LIMIT = 7 * 86_400;
const EMAIL_DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * https, or plain http to this machine only (test and development providers). Only the text is judged
 * here; which addresses a JWKS URL may reach is decided when it is fetched, after DNS.
 */
function checkUrl(value: string, pointer: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw errors.invalidRequest('not a URL', pointer);
  }
  if (url.username || url.password) throw errors.invalidRequest('a URL must not carry credentials', pointer);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname))) return value;
  throw errors.invalidRequest('must be https (plain http is accepted for loopback addresses only)', pointer);
}

function checkJwks(jwks: { keys: Record<string, unknown>[] }): string {
  jwks.keys.forEach((jwk, i) => {
    const pointer = `/config/jwks/keys/${i}`;
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((f) => f in jwk)) throw errors.invalidRequest('a JWKS holds public keys only; this key has private parts', pointer);
    try {
      createPublicKey({ key: jwk as never, format: 'jwk' });
    } catch {
      throw errors.invalidRequest('not a valid public JWK', pointer);
    }
  });
  return JSON.stringify(jwks);
}

/**
 * Fetches a provider's JWKS once, through the same guarded fetcher the verifier uses, and refuses the
 * provider when the keys cannot be used; returns how many usable keys it found.
 */
async function checkRemoteJwks(fetcher: JwksFetcher, url: string): Promise<number> {
  const pointer = '/config/jwks_url';
  let keys;
  try {
    keys = (await fetcher.fetch(url)).keys;
  } catch (error) {
    if (!(error instanceof JwksFetchError)) throw error;
    const development = error.failure === 'private-address' || (error.failure === 'bad-url' && url.startsWith('http:'));
    const hint = development ? ' (for development only: serve --allow-private-idp, or ACCESS_CA_ALLOW_PRIVATE_IDP=1, allows loopback and private addresses over http)' : '';
    throw errors.invalidRequest(`${error.message}${hint}`, pointer);
  }
  const found = usableKeys({ keys }).length;
  if (found === 0) {
    throw errors.invalidRequest(`the JWKS holds ${keys.length} key(s) but none access-ca can verify tokens with (public signing keys for ${JWT_ALGORITHMS.join(', ')}; RSA of 2048 bits or more)`, pointer);
  }
  return found;
}

/** What adding or updating a provider found at its jwks_url: `keys` usable keys. */
export type JwksReport = (found: { keys: number }) => void;

/** The wire form of a provider row. */
export function idpView(row: IdpRow): IdpView {
  return {
    id: row.id,
    name: row.name,
    type: 'oidc',
    config: {
      issuer: row.issuer,
      ...(row.jwks_url ? { jwks_url: row.jwks_url } : {}),
      ...(row.jwks_json ? { jwks: JSON.parse(row.jwks_json) } : {}),
      audiences: JSON.parse(row.audiences),
      ...(row.client_id ? { client_id: row.client_id } : {}),
      client_secret_set: row.client_secret_sealed !== null,
      scopes: row.scopes.split(' '),
      email_claim: row.email_claim,
      email_verified_required: row.email_verified_required === 1,
      email_domains: JSON.parse(row.email_domains),
      max_token_lifetime: formatGoDuration(row.max_token_lifetime),
      ...(isTrialProvider(row) ? { trial: true } : {}),
    },
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Associated data that binds a sealed client secret to its provider row. */
export const clientSecretAad = (idpId: string): string => `access-ca/identity_providers/client_secret/v1/${idpId}`;

function fields(input: IdpInput) {
  const { config } = input;
  const scopes = config.scopes ?? ['openid', 'email', 'profile'];
  if (config.client_id !== undefined && !scopes.includes('openid')) throw errors.invalidRequest('sign-in needs the openid scope', '/config/scopes');
  if (config.client_secret !== undefined && config.client_id === undefined) throw errors.invalidRequest('a client secret needs a client_id', '/config/client_secret');
  if ((config.jwks_url === undefined) === (config.jwks === undefined)) {
    throw errors.invalidRequest('give exactly one of jwks_url and jwks', '/config');
  }
  const name = input.name.trim();
  if (!name) throw errors.invalidRequest('name must not be blank', '/name');
  // email_verified speaks for the `email` claim only: with another claim the operator says it is authoritative.
  if ((config.email_claim ?? 'email') !== 'email' && config.email_verified_required !== false) {
    throw errors.invalidRequest('email_verified describes the email claim only: with another email_claim, set email_verified_required to false if that claim is authoritative', '/config/email_verified_required');
  }
  const domains = (config.email_domains ?? []).map((d, i) => {
    if (!EMAIL_DOMAIN.test(d)) throw errors.invalidRequest('an email domain is a DNS name such as example.com', `/config/email_domains/${i}`);
    return d.toLowerCase();
  });
  const lifetime = config.max_token_lifetime === undefined ? DEFAULT_MAX_TOKEN_LIFETIME : parseGoDuration(config.max_token_lifetime);
  if (lifetime === null || !Number.isInteger(lifetime) || lifetime < 60 || lifetime > MAX_TOKEN_LIFETIME_LIMIT) {
    throw errors.invalidRequest(`must be whole seconds between 1m and ${formatGoDuration(MAX_TOKEN_LIFETIME_LIMIT)}`, '/config/max_token_lifetime');
  }
  const issuer = checkUrl(config.issuer, '/config/issuer');
  if (new URL(issuer).hostname.endsWith(TRIAL_ISSUER_HOST)) throw errors.invalidRequest(`${TRIAL_ISSUER_HOST} is the trial provider's: access-ca idp create --trial makes it`, '/config/issuer');
  return {
    name,
    issuer,
    jwks_url: config.jwks_url === undefined ? null : checkUrl(config.jwks_url, '/config/jwks_url'),
    jwks_json: config.jwks === undefined ? null : checkJwks(config.jwks),
    audiences: JSON.stringify(config.audiences ?? []),
    client_id: config.client_id ?? null,
    scopes: [...new Set(scopes)].join(' '),
    email_claim: config.email_claim ?? 'email',
    email_verified_required: config.email_verified_required === false ? 0 : 1,
    email_domains: JSON.stringify([...new Set(domains)]),
    max_token_lifetime: lifetime,
  };
}

/** The columns an `identity_provider.updated` event names when they change, by their wire names. */
const AUDITED_FIELDS = ['name', 'issuer', 'jwks_url', 'jwks_json', 'audiences', 'client_id', 'scopes', 'email_claim', 'email_verified_required', 'email_domains', 'max_token_lifetime'] as const;
const wireName = (column: string) => (column === 'jwks_json' ? 'jwks' : column);

/**
 * Identity providers of an account: whose JWTs are trusted to name people. Each change is an audit event
 * by `actor` naming the provider and the fields that changed, never a client secret.
 */
export function createIdentityProvidersService(deps: {
  store: IdentityProvidersStore; vault: Pick<KeyVault, 'seal' | 'open'>; clock: Clock; random: Random;
  audit: Pick<AuditLog, 'record'>;
  /** How a jwks_url is checked when a provider is added or updated: the guarded fetcher. */
  jwks: JwksFetcher;
  /** Told when a provider was changed or removed, so caches of its keys can drop them. */
  onChange?: (idpId: string) => void;
  /** What still names a provider (Access rules): a provider in use is not removed. */
  usedBy?: (accountId: string, idpId: string) => Promise<string[]>;
}) {
  const { store, vault, clock, random, jwks } = deps;
  const sealSecret = (id: string, secret: string | undefined) =>
    secret === undefined ? null : vault.seal(Buffer.from(secret, 'utf8'), clientSecretAad(id));
  const stamp = () => rfc3339(clock.now());
  const unique = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (error) {
      if (isUniqueViolation(error)) throw errors.idpAlreadyExists();
      throw error;
    }
  };

  return {
    /** Adds a provider; a jwks_url is fetched first, and `report` is told how many keys it holds. */
    async create(accountId: string, input: IdpInput, actor: string, report?: JwksReport): Promise<IdpView> {
      const checked = fields(input);
      const keys = checked.jwks_url === null ? undefined : await checkRemoteJwks(jwks, checked.jwks_url);
      const at = stamp();
      const id = random.uuid();
      const row: IdpRow = { id, account_id: accountId, ...checked, client_secret_sealed: sealSecret(id, input.config.client_secret), trial_key_sealed: null, created_at: at, updated_at: at };
      await unique(store.insert(row));
      await deps.audit.record({ accountId, type: 'identity_provider.created', actor, subject: id, data: { name: row.name, issuer: row.issuer } });
      if (keys !== undefined) report?.({ keys });
      return idpView(row);
    },
    /**
     * Adds the account's trial provider (one per account: its issuer names the account), whose tokens
     * `trialToken` signs. Only the CLI on the data directory calls this; no route does.
     */
    async createTrial(accountId: string, actor: string): Promise<IdpView> {
      const row = newTrialProviderRow(vault, { id: random.uuid(), accountId, at: stamp() });
      await unique(store.insert(row));
      await deps.audit.record({ accountId, type: 'identity_provider.created', actor, subject: row.id, data: { name: row.name, issuer: row.issuer, trial: true } });
      return idpView(row);
    },
    /** A trial identity token for `email` and the application `audience`; refused when the account has no trial provider. */
    async trialToken(accountId: string, claims: { email: string; audience: string; nowS: number }): Promise<{ jwt: string; expiresAt: number; issuer: string }> {
      const row = await store.findByIssuer(accountId, trialIssuer(accountId));
      if (!row || !isTrialProvider(row)) throw errors.notFound(`account ${accountId} has no trial identity provider`);
      return { ...(await signTrialToken(row, vault, claims)), issuer: row.issuer };
    },
    async get(accountId: string, id: string): Promise<IdpView> {
      const row = await store.get(accountId, id.toLowerCase());
      if (!row) throw errors.notFound();
      return idpView(row);
    },
    async list(accountId: string, page: PageRequest) {
      const { rows, total } = await store.list(accountId, pageOffset(page), page.perPage);
      return { items: rows.map(idpView), info: resultInfo(page, rows.length, total) };
    },
    /** Replaces a provider; a jwks_url is fetched first, as on create. */
    async update(accountId: string, id: string, input: IdpInput, actor: string, report?: JwksReport): Promise<IdpView> {
      const key = id.toLowerCase();
      const current = await store.get(accountId, key);
      if (!current) throw errors.notFound();
      // Its issuer and keys are access-ca's own: a change could only break it or make it someone else's.
      if (isTrialProvider(current)) throw errors.invalidRequest('the trial identity provider cannot be changed: delete it, or make another with access-ca idp create --trial');
      const next = fields(input);
      const keys = next.jwks_url === null ? undefined : await checkRemoteJwks(jwks, next.jwks_url);
      // A PUT that leaves the secret out keeps it while the client stays the same.
      const secret = input.config.client_secret !== undefined ? sealSecret(key, input.config.client_secret)
        : next.client_id === current.client_id ? current.client_secret_sealed : null;
      const row = await unique(store.update(accountId, key, { ...next, client_secret_sealed: secret, updated_at: stamp() }));
      if (!row) throw errors.notFound();
      deps.onChange?.(key);
      // A secret is compared by whether one was given or dropped: its value is never read back or recorded.
      const secretChanged = input.config.client_secret !== undefined || (current.client_secret_sealed !== null && secret === null);
      const changed = [...changedFields(current, row, AUDITED_FIELDS).map(wireName), ...(secretChanged ? ['client_secret'] : [])];
      await deps.audit.record({ accountId, type: 'identity_provider.updated', actor, subject: key, data: { name: row.name, issuer: row.issuer, changed } });
      if (keys !== undefined) report?.({ keys });
      return idpView(row);
    },
    async delete(accountId: string, id: string, actor: string): Promise<{ id: string }> {
      // A rule that names a removed provider would stop matching: an exclude or deny would let people in
      // again if the provider came back under a new id.
      const current = await store.get(accountId, id.toLowerCase());
      const users = current ? await deps.usedBy?.(accountId, id.toLowerCase()) ?? [] : [];
      if (users.length > 0) throw errors.inUse(`the provider is named by ${users.join(', ')}: remove it from their rules first`);
      if (!current || !(await store.delete(accountId, id.toLowerCase()))) throw errors.notFound();
      deps.onChange?.(id.toLowerCase());
      await deps.audit.record({ accountId, type: 'identity_provider.deleted', actor, subject: current.id, data: { name: current.name, issuer: current.issuer } });
      return { id: id.toLowerCase() };
    },
  };
}

export type IdentityProvidersService = ReturnType<typeof createIdentityProvidersService>;
