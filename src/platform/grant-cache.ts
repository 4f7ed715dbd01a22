import type { GrantRevisionReader } from './db/grant-revisions.ts';

/** One account's cached reads, all as of one grant revision. */
export interface AccountSnapshot {
  readonly accountId: string;
  readonly revision: number;
  /**
   * The value under `key` at this revision: remembered, or loaded now. A load starts after the revision
   * was read, so what it returns is at least that new; a later change bumps the revision and retires it.
   */
  get<T>(key: string, load: () => Promise<T>): Promise<T>;
}

export interface GrantCacheOptions {
  revisions: GrantRevisionReader;
  /** Accounts whose snapshots are kept (least recently used out). */
  maxAccounts?: number;
  /** Entries kept per account (oldest out), so one busy account cannot take another's room. */
  maxEntriesPerAccount?: number;
  /** Told of every hit and miss, by the key's kind (the part before the first `:`). */
  onLookup?: (kind: string, hit: boolean) => void;
}

interface AccountState {
  revision: number;
  entries: Map<string, Promise<unknown>>;
}

const kindOf = (key: string) => key.slice(0, Math.max(0, key.indexOf(':'))) || key;

/**
 * Reads that decide grants, cached per account and checked against the store's revision of that account
 * on every request (one primary-key read). A change acknowledged on any node has bumped the revision in
 * its own transaction, so the next request anywhere reloads: a withdrawn grant is never served.
 */
export function createGrantCache(options: GrantCacheOptions) {
  const maxAccounts = options.maxAccounts ?? 1_000;
  const maxEntries = options.maxEntriesPerAccount ?? 2_000;
  const accounts = new Map<string, AccountState>();

  /** The state for this revision; an older one is replaced, a newer one is left alone (an orphan serves this read). */
  function stateAt(accountId: string, revision: number): AccountState {
    const current = accounts.get(accountId);
    if (current && current.revision === revision) {
      accounts.delete(accountId);
      accounts.set(accountId, current);
      return current;
    }
    const fresh: AccountState = { revision, entries: new Map() };
    // A request that read an older revision than the cache holds must not roll the cache back.
    if (current && current.revision > revision) return fresh;
    accounts.delete(accountId);
    accounts.set(accountId, fresh);
    if (accounts.size > maxAccounts) accounts.delete(accounts.keys().next().value!);
    return fresh;
  }

  return {
    /** The account's snapshot at the store's current revision. */
    async snapshot(accountId: string): Promise<AccountSnapshot> {
      const revision = await options.revisions.current(accountId);
      const state = stateAt(accountId, revision);
      return {
        accountId,
        revision,
        get<T>(key: string, load: () => Promise<T>): Promise<T> {
          const held = state.entries.get(key);
          options.onLookup?.(kindOf(key), held !== undefined);
          if (held) return held as Promise<T>;
          const loading = load();
          state.entries.set(key, loading);
          if (state.entries.size > maxEntries) state.entries.delete(state.entries.keys().next().value!);
          // A failed load is not remembered: the next request tries again.
          loading.catch(() => {
            if (state.entries.get(key) === loading) state.entries.delete(key);
          });
          return loading;
        },
      };
    },
    /** How many accounts have a snapshot (for tests and metrics). */
    get accounts(): number {
      return accounts.size;
    },
  };
}

export type GrantCache = ReturnType<typeof createGrantCache>;
