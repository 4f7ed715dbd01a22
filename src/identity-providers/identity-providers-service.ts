import { createPublicKey } from 'node:crypto';
import { rfc3339, type Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { errors } from '../platform/http/errors.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { IdentityProvidersStore, IdpRow } from './identity-providers-store.ts';
import type { IdpInput, IdpView } from './identity-providers-schemas.ts';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** https, or plain http to this machine only (test and development providers). */
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
  return {
    name,
    issuer: checkUrl(config.issuer, '/config/issuer'),
    jwks_url: config.jwks_url === undefined ? null : checkUrl(config.jwks_url, '/config/jwks_url'),
    jwks_json: config.jwks === undefined ? null : checkJwks(config.jwks),
    audiences: JSON.stringify(config.audiences ?? []),
    client_id: config.client_id ?? null,
    scopes: [...new Set(scopes)].join(' '),
    email_claim: config.email_claim ?? 'email',
  };
}

/** Identity providers of an account: whose JWTs are trusted to name people. */
export function createIdentityProvidersService(deps: { store: IdentityProvidersStore; vault: Pick<KeyVault, 'seal'>; clock: Clock; random: Random }) {
  const { store, vault, clock, random } = deps;
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
    async create(accountId: string, input: IdpInput): Promise<IdpView> {
      const at = stamp();
      const id = random.uuid();
      const row: IdpRow = { id, account_id: accountId, ...fields(input), client_secret_sealed: sealSecret(id, input.config.client_secret), created_at: at, updated_at: at };
      await unique(store.insert(row));
      return idpView(row);
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
    async update(accountId: string, id: string, input: IdpInput): Promise<IdpView> {
      const key = id.toLowerCase();
      const current = await store.get(accountId, key);
      if (!current) throw errors.notFound();
      const next = fields(input);
      // A PUT that leaves the secret out keeps it while the client stays the same.
      const secret = input.config.client_secret !== undefined ? sealSecret(key, input.config.client_secret)
        : next.client_id === current.client_id ? current.client_secret_sealed : null;
      const row = await unique(store.update(accountId, key, { ...next, client_secret_sealed: secret, updated_at: stamp() }));
      if (!row) throw errors.notFound();
      return idpView(row);
    },
    async delete(accountId: string, id: string): Promise<{ id: string }> {
      if (!(await store.delete(accountId, id.toLowerCase()))) throw errors.notFound();
      return { id: id.toLowerCase() };
    },
  };
}

export type IdentityProvidersService = ReturnType<typeof createIdentityProvidersService>;
