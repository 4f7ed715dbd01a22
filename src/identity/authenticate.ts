import type { Clock } from '../platform/clock.ts';
import { ApiError, errors } from '../platform/http/errors.ts';
import { HOST_CREDENTIAL_PREFIX, JOIN_TOKEN_PREFIX, parseCredentials, type Credential } from './credentials.ts';
import type { IdentityStore } from './identity-store.ts';
import { secretHash, tokenStatus } from './identity-service.ts';
import type { PermissionGroup } from './permission-groups.ts';
import type { AuthFailureLimiter } from './auth-failure-limiter.ts';
import type { HotPathMetrics } from '../observability/metrics.ts';

/** The scope a route names in its path. */
export type ScopeRef = { kind: 'account'; accountId: string } | { kind: 'zone'; zoneId: string };

/** A scope after authorization: the account it belongs to and, for zone routes, the zone. */
export interface Scope {
  accountId: string;
  zoneId: string | null;
}

/** Who made a request. */
export type Principal =
  | { kind: 'token'; tokenId: string; accountId: string; zoneId: string | null; permissions: ReadonlySet<string> }
  | { kind: 'user'; userId: string; accountIds: ReadonlySet<string> };

/** How audit events and key ids name who acted. */
export const actorOf = (p: Principal): string => (p.kind === 'token' ? `token:${p.tokenId}` : `user:${p.userId}`);

type Outcome = { ok: true; principal: Principal; scope: Scope } | { ok: false; error: ApiError };

/**
 * Authentication and authorization of v4 requests (CONTRACT §3, §8). Credentials are looked up in the
 * store on every request, never cached, so a revoked token or a rotated or removed key fails on every node
 * at once. With `globalKeys: false` (AppConfig.globalKeys) X-Auth-Email/X-Auth-Key are refused without a lookup.
 */
export function createAuthenticator(deps: {
  store: Pick<IdentityStore, 'findTokenBySecret' | 'findUserByKey' | 'getZone'>;
  clock: Clock;
  limiter: AuthFailureLimiter;
  /** Whether users' global API keys are taken at all. */
  globalKeys: boolean;
  /** Counts each refusal by its code. */
  metrics?: Pick<HotPathMetrics, 'authFailure'>;
}) {
  const { store, clock, limiter } = deps;
  const parse = (headers: Record<string, string | string[] | undefined>) => parseCredentials(headers, { globalKeys: deps.globalKeys });

  /** The credential a refusal counts against: a token by its hash, a global key by its user's email. */
  function credentialKey(headers: Record<string, string | string[] | undefined>): string | undefined {
    try {
      const first = parse(headers).find((c) => c.kind !== 'malformed');
      if (first?.kind === 'token') return `token:${secretHash(first.token).slice(0, 32)}`;
      if (first?.kind === 'emailKey') return `user:${first.email}`;
    } catch {
      // no credentials at all: the client alone is counted
    }
    return undefined;
  }

  /**
   * Runs one check; a refusal counts against the client and the credential, and becomes 429 once either
   * is out of attempts. Success is never limited: nobody's failures lock out a valid credential.
   */
  async function limited<T>(address: string, headers: Record<string, string | string[] | undefined>, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ApiError) {
        deps.metrics?.authFailure(error.code);
        const tooMany = limiter.fail(address, credentialKey(headers));
        if (tooMany) throw tooMany;
        // A counted refusal tells the client what is left of its own allowance (auth-failure-limiter.ts).
        Object.assign(error.headers, limiter.allowance(address));
        throw error;
      }
      throw error;
    }
  }

  async function principalOf(credential: Credential): Promise<Principal | ApiError> {
    if (credential.kind === 'emailKey') {
      const user = await store.findUserByKey(credential.email, secretHash(credential.key));
      if (!user) return errors.unknownAuthKey();
      return { kind: 'user', userId: user.id, accountIds: new Set(user.accountIds) };
    }
    // A host's credential reads its own trust material on /host routes and nothing else: no lookup here.
    if (credential.token.startsWith(HOST_CREDENTIAL_PREFIX) || credential.token.startsWith(JOIN_TOKEN_PREFIX)) return errors.hostCredentialRefused();
    const token = await store.findTokenBySecret(secretHash(credential.token));
    if (!token || tokenStatus(token, clock.now()) !== 'active') return errors.invalidAccessToken();
    return { kind: 'token', tokenId: token.id, accountId: token.account_id, zoneId: token.zone_id, permissions: new Set(token.permissions) };
  }

  async function resolveScope(principal: Principal, ref: ScopeRef): Promise<Scope | null> {
    let accountId: string;
    let zoneId: string | null = null;
    if (ref.kind === 'account') {
      accountId = ref.accountId;
    } else {
      const zone = await store.getZone(ref.zoneId);
      if (!zone) return null;
      accountId = zone.account_id;
      zoneId = zone.id;
    }
    if (principal.kind === 'user') return principal.accountIds.has(accountId) ? { accountId, zoneId } : null;
    if (principal.accountId !== accountId) return null;
    // An account token covers the account and its zones; a zone token only its own zone's routes.
    if (principal.zoneId !== null && principal.zoneId !== zoneId) return null;
    return { accountId, zoneId };
  }

  function permitted(principal: Principal, anyOf: readonly PermissionGroup[]): boolean {
    return principal.kind === 'user' || anyOf.some((p) => principal.permissions.has(p));
  }

  async function evaluate(credential: Credential, ref: ScopeRef, anyOf: readonly PermissionGroup[]): Promise<Outcome> {
    const principal = await principalOf(credential);
    if (principal instanceof ApiError) return { ok: false, error: principal };
    const scope = await resolveScope(principal, ref);
    if (!scope) return { ok: false, error: errors.authenticationError() };
    if (!permitted(principal, anyOf)) return { ok: false, error: errors.missingPermission(anyOf) };
    return { ok: true, principal, scope };
  }

  /**
   * Allows the request if any credential authorizes it for the scope and one of the permission
   * groups; otherwise throws the first failure in the order email+key, token.
   */
  async function authorize(headers: Record<string, string | string[] | undefined>, ref: ScopeRef, anyOf: readonly PermissionGroup[]) {
    const failures: ApiError[] = [];
    for (const credential of parse(headers)) {
      if (credential.kind === 'malformed') {
        failures.push(credential.error);
        continue;
      }
      const outcome = await evaluate(credential, ref, anyOf);
      if (outcome.ok) return { principal: outcome.principal, scope: outcome.scope };
      failures.push(outcome.error);
    }
    throw failures[0] ?? errors.missingCredentials();
  }

  /**
   * What the request's credentials may act on (`GET /accounts`, `GET /zones`): an account token's account,
   * a user's accounts, a zone token's zone alone. Throws the first failure when no credential is valid.
   */
  async function reachOf(headers: Record<string, string | string[] | undefined>): Promise<{ accounts: string[]; zones: string[] }> {
    const failures: ApiError[] = [];
    const accounts = new Set<string>();
    const zones = new Set<string>();
    let valid = false;
    for (const credential of parse(headers)) {
      if (credential.kind === 'malformed') {
        failures.push(credential.error);
        continue;
      }
      const principal = await principalOf(credential);
      if (principal instanceof ApiError) {
        failures.push(principal);
        continue;
      }
      valid = true;
      if (principal.kind === 'user') principal.accountIds.forEach((id) => accounts.add(id));
      else if (principal.zoneId === null) accounts.add(principal.accountId);
      else zones.add(principal.zoneId);
    }
    if (!valid) throw failures[0] ?? errors.missingCredentials();
    return { accounts: [...accounts], zones: [...zones] };
  }

  /** The active token behind an Authorization header, for /tokens/verify; 401 1000 otherwise. */
  async function verifyBearer(authorization: string | undefined) {
    const credentials = parseCredentials({ authorization });
    const credential = credentials[0];
    if (!credential) throw errors.missingCredentials();
    if (credential.kind === 'malformed') throw credential.error;
    if (credential.kind !== 'token') throw errors.invalidApiToken();
    const token = await store.findTokenBySecret(secretHash(credential.token));
    if (!token || tokenStatus(token, clock.now()) !== 'active') throw errors.invalidApiToken();
    return token;
  }

  return {
    /** `authorize`, counting refusals against the client address. */
    authorize: (headers: Record<string, string | string[] | undefined>, ref: ScopeRef, anyOf: readonly PermissionGroup[], address: string) =>
      limited(address, headers, () => authorize(headers, ref, anyOf)),
    /** `reachOf`, counting refusals against the client address. */
    reachOf: (headers: Record<string, string | string[] | undefined>, address: string) => limited(address, headers, () => reachOf(headers)),
    /** `verifyBearer`, counting refusals against the client address. */
    verifyBearer: (authorization: string | undefined, address: string) => limited(address, { authorization }, () => verifyBearer(authorization)),
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;
