import { createHash } from 'node:crypto';
import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import { isUniqueViolation } from '../platform/db/db-errors.ts';
import { isPrintableText } from '../platform/text.ts';
import { auditRow, CLI_ACTOR, type AuditEntry } from '../platform/audit-events.ts';
import type { IdentityStore, TokenWithPermissions, ZoneRow } from './identity-store.ts';
import { ZoneConflictError } from './host-delegation.ts';
import { FIRST_TOKEN_PERMISSIONS, isPermissionGroup, PERMISSION_GROUPS, type PermissionGroup } from './permission-groups.ts';
import { OperatorError } from '../platform/operator-error.ts';

/** SHA-256 of a high-entropy bearer secret: enough to store it, since it cannot be guessed. */
export const secretHash = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** A refusal of an admin request, with a message for the operator. */
export class IdentityInputError extends OperatorError {
  override name = 'IdentityInputError';
}

const HEX32 = /^[0-9a-f]{32}$/;
const ZONE_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

export interface TokenView {
  id: string;
  name: string;
  account_id: string;
  zone_id: string | null;
  permissions: string[];
  status: 'active' | 'disabled' | 'expired';
  not_before: string | null;
  expires_on: string | null;
  created_at: string;
}

/** Whether a token may be used now, and if not, why. */
export function tokenStatus(t: TokenWithPermissions, now: Date): 'active' | 'disabled' | 'expired' | 'pending' {
  if (t.revoked_at !== null) return 'disabled';
  if (t.expires_on !== null && Date.parse(t.expires_on) <= now.getTime()) return 'expired';
  if (t.not_before !== null && Date.parse(t.not_before) > now.getTime()) return 'pending';
  return 'active';
}

function parseInstant(value: string | undefined, flag: string): string | null {
  if (value === undefined) return null;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(ms)) {
    throw new IdentityInputError(`${flag} must be an RFC 3339 time such as 2027-01-31T00:00:00Z`);
  }
  return new Date(ms).toISOString();
}

export interface CreateTokenInput {
  accountId: string;
  zoneId?: string | undefined;
  permissions: string[];
  name?: string | undefined;
  notBefore?: string | undefined;
  expiresOn?: string | undefined;
}

/** A user as `user list` shows it: never its key or the key's hash. */
export interface UserView {
  id: string;
  email: string;
  account_ids: string[];
  created_at: string;
}

const EMAIL = /^[^@\s]{1,64}@[^@\s]{1,190}$/;

/**
 * Accounts, zones, users and tokens: the admin operations behind the CLI and the first start. Both act on
 * the data directory, so every change they make is audited with the actor `cli`, in the change's transaction.
 */
export function createIdentityService(deps: { store: IdentityStore; clock: Clock; random: Random }) {
  const { store, clock, random } = deps;
  const now = () => clock.now().toISOString();
  const event = (e: Omit<AuditEntry, 'actor'>) => auditRow({ ...e, actor: CLI_ACTOR }, deps);
  // Cloudflare's global API keys are 37 hex characters.
  const newApiKey = () => random.hex(19).slice(0, 37);

  function emailOf(value: string): string {
    const clean = value.trim().toLowerCase();
    if (!EMAIL.test(clean)) throw new IdentityInputError(`--email must be an address such as jdoe@example.com`);
    return clean;
  }

  async function requireUser(email: string) {
    const clean = emailOf(email);
    const user = await store.getUserByEmail(clean);
    if (!user) throw new IdentityInputError(`no user ${clean}`);
    return user;
  }

  async function requireAccount(id: string) {
    if (!HEX32.test(id)) throw new IdentityInputError(`account id must be 32 lowercase hex characters, got ${JSON.stringify(id)}`);
    const account = await store.getAccount(id);
    if (!account) throw new IdentityInputError(`no account ${id}`);
    return account;
  }

  async function requireZone(accountId: string, zoneId: string): Promise<ZoneRow> {
    const zone = HEX32.test(zoneId) ? await store.getZone(zoneId) : undefined;
    if (!zone || zone.account_id !== accountId) throw new IdentityInputError(`no zone ${zoneId} in account ${accountId}`);
    return zone;
  }

  /** A name an operator gave: 1–200 printable characters (it is printed back in lists and logs). */
  function printableName(name: string, flag: string): string {
    const clean = name.trim();
    if (clean.length === 0 || clean.length > 200) throw new IdentityInputError(`${flag} must be 1–200 characters`);
    if (!isPrintableText(clean)) throw new IdentityInputError(`${flag} must be printable text, without control characters`);
    return clean;
  }

  function tokenRow(input: CreateTokenInput, perms: readonly PermissionGroup[]) {
    const value = random.secret(30);
    const row = {
      id: random.hex(16),
      account_id: input.accountId,
      zone_id: input.zoneId ?? null,
      name: printableName(input.name ?? 'access-ca token', '--name'),
      secret_sha256: secretHash(value),
      not_before: parseInstant(input.notBefore, '--not-before'),
      expires_on: parseInstant(input.expiresOn, '--expires-on'),
      revoked_at: null,
      created_at: now(),
    };
    return { row, value, perms };
  }

  function checkPermissions(names: string[]): PermissionGroup[] {
    if (names.length === 0) throw new IdentityInputError('a token needs at least one --permission');
    for (const n of names) {
      if (!isPermissionGroup(n)) {
        throw new IdentityInputError(`unknown permission group ${JSON.stringify(n)}; known: ${PERMISSION_GROUPS.map((p) => JSON.stringify(p)).join(', ')}`);
      }
    }
    return [...new Set(names)] as PermissionGroup[];
  }

  return {
    async createAccount(name: string) {
      const clean = printableName(name, '--name');
      const row = { id: random.hex(16), name: clean, created_at: now() };
      await store.insertAccount(row);
      return { id: row.id, name: row.name };
    },
    /** The scope an admin verb acts in: the account, or one of its zones. */
    async resolveScope(accountId: string, zoneId?: string): Promise<{ accountId: string; zoneId: string | null }> {
      await requireAccount(accountId);
      if (zoneId === undefined) return { accountId, zoneId: null };
      return { accountId, zoneId: (await requireZone(accountId, zoneId)).id };
    },
    async listAccounts() {
      return (await store.listAccounts()).map((a) => ({ id: a.id, name: a.name, created_at: a.created_at }));
    },
    async createZone(accountId: string, name: string) {
      await requireAccount(accountId);
      const clean = name.trim().toLowerCase().replace(/\.$/, '');
      if (!ZONE_NAME.test(clean)) throw new IdentityInputError(`--name must be a DNS name such as example.com, got ${JSON.stringify(name)}`);
      const row = { id: random.hex(16), account_id: accountId, name: clean, created_at: now() };
      try {
        await store.insertZone(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw new IdentityInputError(`account ${accountId} already has a zone ${clean}`);
        if (error instanceof ZoneConflictError) throw new IdentityInputError(error.message);
        throw error;
      }
      return { id: row.id, name: row.name, account_id: accountId };
    },
    /** Withdraws a delegation: the account's applications keep the hosts they hold, new ones need another zone. */
    async deleteZone(accountId: string, zoneId: string) {
      const zone = await requireZone(accountId, zoneId);
      try {
        await store.deleteZone(zone.id);
      } catch (error) {
        if (error instanceof ZoneConflictError) throw new IdentityInputError(error.message);
        throw error;
      }
      return { id: zone.id, name: zone.name, account_id: zone.account_id };
    },
    async listZones(accountId: string) {
      await requireAccount(accountId);
      return (await store.listZones(accountId)).map((z) => ({ id: z.id, name: z.name, account_id: z.account_id, created_at: z.created_at }));
    },
    async createToken(input: CreateTokenInput) {
      await requireAccount(input.accountId);
      if (input.zoneId !== undefined) await requireZone(input.accountId, input.zoneId);
      const { row, value, perms } = tokenRow(input, checkPermissions(input.permissions));
      await store.insertToken(row, perms, [event({
        accountId: row.account_id, type: 'api_token.created', subject: row.id,
        data: { name: row.name, zone_id: row.zone_id, permissions: perms, not_before: row.not_before, expires_on: row.expires_on },
      })]);
      return { id: row.id, value };
    },
    async listTokens(accountId?: string): Promise<TokenView[]> {
      if (accountId !== undefined) await requireAccount(accountId);
      const at = clock.now();
      return (await store.listTokens(accountId)).map((t) => {
        const status = tokenStatus(t, at);
        return {
          id: t.id, name: t.name, account_id: t.account_id, zone_id: t.zone_id, permissions: t.permissions,
          status: status === 'pending' ? 'active' : status,
          not_before: t.not_before, expires_on: t.expires_on, created_at: t.created_at,
        };
      });
    },
    async revokeToken(id: string) {
      const token = HEX32.test(id) ? await store.getToken(id) : undefined;
      if (!token) throw new IdentityInputError(`no token ${id}`);
      await store.revokeToken(id, now(), [event({ accountId: token.account_id, type: 'api_token.revoked', subject: id, data: { name: token.name } })]);
      return { id, status: 'disabled' as const };
    },
    async createUser(email: string, accountId: string) {
      await requireAccount(accountId);
      const clean = emailOf(email);
      const apiKey = newApiKey();
      const row = { id: random.hex(16), email: clean, api_key_sha256: secretHash(apiKey), created_at: now() };
      try {
        await store.insertUser(row, accountId, [event({ accountId, type: 'user.created', subject: row.id, data: { email: clean } })]);
      } catch (error) {
        if (isUniqueViolation(error)) throw new IdentityInputError(`a user ${clean} already exists`);
        throw error;
      }
      return { id: row.id, email: clean, api_key: apiKey };
    },
    /**
     * Gives a user a new global key and returns it once. Keys are looked up in the store on every request,
     * so the old one stops working on every node as this commits.
     */
    async rotateUserKey(email: string) {
      const user = await requireUser(email);
      const apiKey = newApiKey();
      const events = user.accountIds.map((accountId) => event({ accountId, type: 'user.key_rotated', subject: user.id, data: { email: user.email } }));
      if (!(await store.setUserKey(user.id, secretHash(apiKey), events))) throw new IdentityInputError(`no user ${user.email}`);
      return { id: user.id, email: user.email, api_key: apiKey };
    },
    /** Removes a user; its global key stops working on every node as this commits. */
    async removeUser(email: string) {
      const user = await requireUser(email);
      const events = user.accountIds.map((accountId) => event({ accountId, type: 'user.removed', subject: user.id, data: { email: user.email } }));
      if (!(await store.deleteUser(user.id, events))) throw new IdentityInputError(`no user ${user.email}`);
      return { id: user.id, email: user.email, removed: true as const };
    },
    async listUsers(accountId?: string): Promise<UserView[]> {
      if (accountId !== undefined) await requireAccount(accountId);
      return (await store.listUsers(accountId)).map((u) => ({ id: u.id, email: u.email, account_ids: u.accountIds, created_at: u.created_at }));
    },
    /** On a store with no account: makes one, with an admin token, and returns the token once. */
    async bootstrap(): Promise<{ accountId: string; token: string } | null> {
      const account = { id: random.hex(16), name: 'default', created_at: now() };
      const { row, value, perms } = tokenRow(
        { accountId: account.id, name: 'bootstrap admin', permissions: [] },
        FIRST_TOKEN_PERMISSIONS,
      );
      const made = await store.bootstrap(account, row, perms, [event({
        accountId: account.id, type: 'api_token.created', subject: row.id, data: { name: row.name, zone_id: null, permissions: perms, bootstrap: true },
      })]);
      return made ? { accountId: account.id, token: value } : null;
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
