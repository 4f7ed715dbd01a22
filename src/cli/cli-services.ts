import type { TSchema, Static } from 'typebox';
import { Value } from 'typebox/value';
import { systemClock } from '../platform/clock.ts';
import { cryptoRandom } from '../platform/random.ts';
import { openStoreRuntime, type StoreConfig, type StoreRuntime } from '../platform/store-runtime.ts';
import { ApiError } from '../platform/http/errors.ts';
import { createIdentityStore } from '../identity/identity-store.ts';
import { createIdentityService, IdentityInputError, type IdentityService } from '../identity/identity-service.ts';
import { createAccessAppsStore, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { createAccessPoliciesStore } from '../access-policies/access-policies-store.ts';
import { appPolicyLinks, createAccessPoliciesService, type AccessPoliciesService } from '../access-policies/access-policies-service.ts';
import { createAccessGroupsService, type AccessGroupsService } from '../access-policies/access-groups-service.ts';
import { createAccessDecider, type AccessDecider } from '../access-policies/access-decider.ts';
import { createAccessAppsService, type AccessAppsService } from '../access-apps/access-apps-service.ts';
import { createAccessCasStore } from '../access-cas/access-cas-store.ts';
import { createAccessCasService, type AccessCasService } from '../access-cas/access-cas-service.ts';
import { DEFAULT_CA_KEY_COMMENT } from '../access-cas/ca-key-material.ts';
import { createIdentityProvidersStore } from '../identity-providers/identity-providers-store.ts';
import { createIdentityProvidersService, type IdentityProvidersService } from '../identity-providers/identity-providers-service.ts';
import { createJwksFetcher } from '../identity-providers/jwks-fetch.ts';
import { createCertPolicyStore, type CertPolicyStore } from '../ssh-certs/policy/cert-policy-store.ts';
import type { Output } from './output.ts';
import { createAuditLog, type AuditLog } from '../audit/audit-log.ts';
import { createRevocationStore } from '../ssh-certs/revocation-store.ts';
import { createRevocationService, type RevocationService } from '../ssh-certs/revocation-service.ts';

/** What admin verbs act through: the same services the HTTP routes use, on the local store. */
export interface Services {
  identity: IdentityService;
  apps: AccessAppsService;
  cas: AccessCasService;
  idps: IdentityProvidersService;
  policies: CertPolicyStore;
  /** Access policies and groups: who gets a certificate. */
  access: AccessPoliciesService;
  groups: AccessGroupsService;
  decider: AccessDecider;
  appsStore: AccessAppsStore;
  /** The audit trail: admin changes and certificate decisions, per account. */
  audit: AuditLog;
  /** The certificate inventory and its revocation. */
  revocations: RevocationService;
  /** The store itself, for whole-store verbs (export, import). */
  runtime: StoreRuntime;
}

/** How a verb gets its services and output: opened per call, closed when it returns. */
export type Run = (json: boolean | undefined, action: (s: Services, out: Output) => Promise<void>) => Promise<void>;

/**
 * Opens the store for one admin verb (creating it on a fresh data dir) and closes it afterwards.
 * `allowPrivateIdpAddresses` (development only) lets `idp add` check JWKS URLs on private addresses.
 */
export async function withServices<T>(store: StoreConfig, action: (s: Services) => Promise<T>, opts: { allowPrivateIdpAddresses?: boolean; notice?: (text: string) => void } = {}): Promise<T> {
  const runtime = await openStoreRuntime(store, opts.notice ? { notice: opts.notice } : {});
  const { db } = runtime.database;
  try {
    const deps = { clock: systemClock, random: cryptoRandom };
    const appsStore = createAccessAppsStore(db);
    const accessStore = createAccessPoliciesStore(db);
    const audit = createAuditLog(db, deps);
    const access = createAccessPoliciesService({ store: accessStore, apps: appsStore, audit, ...deps });
    return await action({
      identity: createIdentityService({ store: createIdentityStore(db), ...deps }),
      apps: createAccessAppsService({ store: appsStore, links: appPolicyLinks(access), ...deps }),
      access,
      groups: createAccessGroupsService({ store: accessStore, audit, ...deps }),
      decider: createAccessDecider(accessStore),
      appsStore,
      audit,
      cas: createAccessCasService({ cas: createAccessCasStore(db), apps: appsStore, vault: runtime.vault, audit, keyComment: DEFAULT_CA_KEY_COMMENT, ...deps }),
      idps: createIdentityProvidersService({
        store: createIdentityProvidersStore(db), vault: runtime.vault, audit, jwks: createJwksFetcher({ allowPrivateAddresses: opts.allowPrivateIdpAddresses === true }), ...deps,
        usedBy: accessStore.referencesTo,
      }),
      policies: createCertPolicyStore(db),
      revocations: createRevocationService({
        store: createRevocationStore(db), apps: appsStore, cas: createAccessCasStore(db), audit: createAuditLog(db, deps), ...deps,
      }),
      runtime,
    });
  } finally {
    await runtime.database.close();
  }
}

/** For repeatable flags. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Checks flags gathered into a wire object against its schema; a refusal names the flag. */
export function checkedInput<S extends TSchema>(schema: S, fields: Record<string, unknown>): Static<S> {
  const input = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  const first = Value.Errors(schema, input)[0];
  if (first) throw new IdentityInputError(`--${(first.instancePath || '/').slice(1).split('/')[0]!.replace(/_/g, '-')}: ${first.message}`);
  return input as Static<S>;
}

/** Turns a catalog error from a service into an operator-facing message. */
export async function asInput<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ApiError) {
      const item = error.items[0]!;
      const where = item.source?.pointer ? ` (${item.source.pointer})` : '';
      throw new IdentityInputError(`${error.detail ?? item.message}${where}`);
    }
    throw error;
  }
}
