import type { Command } from 'commander';
import type { TSchema, Static } from 'typebox';
import { Value } from 'typebox/value';
import { systemClock } from '../platform/clock.ts';
import { cryptoRandom } from '../platform/random.ts';
import { openStoreRuntime, type StoreConfig, type StoreRuntime } from '../platform/store-runtime.ts';
import { ApiError } from '../platform/http/errors.ts';
import { describe, pointerOf, type ValidationIssue } from '../platform/http/error-handler.ts';
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
import { openPkcs11Token, type Pkcs11Settings } from '../signers/pkcs11-token.ts';
import { createAuditLog, type AuditLog } from '../audit/audit-log.ts';
import { createRevocationStore } from '../ssh-certs/revocation-store.ts';
import { createRevocationService, type RevocationService } from '../ssh-certs/revocation-service.ts';
import { createInfrastructureServices, type InfrastructureServices } from '../infrastructure/register-infrastructure.ts';

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
  /** Targets, join tokens, enrolled hosts and the host CA. */
  fleet: InfrastructureServices;
  /** The store itself, for whole-store verbs (export, import). */
  runtime: StoreRuntime;
}

/** A verb's `--pkcs11-*` flags (see serve-options.ts parsePkcs11; the ACCESS_CA_PKCS11_* variables fill what is not given). */
export interface Pkcs11Flags { pkcs11Module?: string; pkcs11TokenLabel?: string; pkcs11PinFile?: string }

/** How a verb gets its services and output: opened per call, closed when it returns; with `pkcs11`, the verb may use CA keys in a token. */
export type Run = (json: boolean | undefined, action: (s: Services, out: Output) => Promise<void>, pkcs11?: Pkcs11Flags) => Promise<void>;

/**
 * Opens the store for one admin verb and closes it afterwards. The store is created only when the
 * config allows it (see StoreConfig.mayCreate); otherwise a missing one is refused with where to look.
 * `allowPrivateIdpAddresses` (development only) lets `idp add` check JWKS URLs on private addresses.
 */
export async function withServices<T>(store: StoreConfig, action: (s: Services) => Promise<T>, opts: { allowPrivateIdpAddresses?: boolean; notice?: (text: string) => void; pkcs11?: Pkcs11Settings | undefined } = {}): Promise<T> {
  const runtime = await openStoreRuntime(store, opts.notice ? { notice: opts.notice } : {});
  const { db } = runtime.database;
  // What the token says goes to stderr as the verb's notes (never the PIN, which no line holds).
  const say = (_obj: object, msg: string) => opts.notice?.(msg);
  const log = { info: say, warn: say, error: say };
  const keyToken = opts.pkcs11 ? openPkcs11Token(opts.pkcs11, { log }) : undefined;
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
      cas: createAccessCasService({ cas: createAccessCasStore(db), apps: appsStore, vault: runtime.vault, audit, keyComment: DEFAULT_CA_KEY_COMMENT, token: keyToken, log, ...deps }),
      idps: createIdentityProvidersService({
        store: createIdentityProvidersStore(db), vault: runtime.vault, audit, jwks: createJwksFetcher({ allowPrivateAddresses: opts.allowPrivateIdpAddresses === true }), ...deps,
        usedBy: accessStore.referencesTo,
      }),
      policies: createCertPolicyStore(db),
      fleet: createInfrastructureServices({ db, vault: runtime.vault, audit, ...deps }),
      revocations: createRevocationService({
        store: createRevocationStore(db), apps: appsStore, cas: createAccessCasStore(db), audit: createAuditLog(db, deps), ...deps,
      }),
      runtime,
    });
  } finally {
    await keyToken?.close();
    await runtime.database.close();
  }
}

/**
 * Registers a verb under its name and, hidden from --help, under older names that scripts may still use
 * (`idp add` is now `idp create`): one definition, so the two never drift apart.
 */
export function verb(parent: Command, name: string, oldNames: string[], define: (c: Command) => Command): void {
  define(parent.command(name));
  for (const old of oldNames) define(parent.command(old, { hidden: true }));
}

/** For repeatable flags. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * A TypeBox validation failure in Ajv's shape, one issue per field, so the HTTP error handler's wording
 * (`describe`, `pointerOf`) serves the CLI too: TypeBox reports every unknown property twice (once as a
 * `false` schema) and every missing one in a list; here each is one issue naming its field.
 */
export function schemaIssues(schema: TSchema, value: unknown): ValidationIssue[] {
  const unknown: ValidationIssue[] = [];
  const missing: ValidationIssue[] = [];
  const other: ValidationIssue[] = [];
  for (const e of Value.Errors(schema, value)) {
    const params = (e.params ?? {}) as Record<string, unknown>;
    if (e.keyword === 'boolean' && String(e.schemaPath).endsWith('/additionalProperties')) continue;
    if (e.keyword === 'additionalProperties' && Array.isArray(params['additionalProperties'])) {
      for (const name of params['additionalProperties']) unknown.push({ keyword: e.keyword, instancePath: e.instancePath, params: { additionalProperty: String(name) } });
    } else if (e.keyword === 'required' && Array.isArray(params['requiredProperties'])) {
      for (const name of params['requiredProperties']) missing.push({ keyword: e.keyword, instancePath: e.instancePath, params: { missingProperty: String(name) } });
    } else {
      other.push({ keyword: e.keyword, instancePath: e.instancePath, params, message: e.message });
    }
  }
  // The misspelling first, then what it left missing: "unknown field `nme`; missing required field `name`".
  return [...unknown, ...missing, ...other];
}

/** One issue in the API's words with the field and its JSON pointer: "unknown field `princiapls` at /princiapls". */
export function issueText(issue: ValidationIssue): string {
  const named = issue.params?.['additionalProperty'] ?? issue.params?.['missingProperty'];
  return `${describe(issue)}${typeof named === 'string' ? ` \`${named}\`` : ''} at ${pointerOf(issue)}`;
}

/** Checks a JSON document an operator wrote (a policy file, a claims file) against its schema; the refusal names every wrong field. */
export function checkedDocument<S extends TSchema>(schema: S, value: unknown, label: string): Static<S> {
  const issues = schemaIssues(schema, value);
  if (issues.length > 0) throw new IdentityInputError(`${label}: ${issues.slice(0, 5).map(issueText).join('; ')}`);
  return value as Static<S>;
}

/** The flag a field came from: its last name in the pointer, `--snake-case` as `--kebab-case`. */
const flagOf = (pointer: string) => `--${(pointer.split('/').filter((p) => p !== '' && !/^[0-9]+$/.test(p)).at(-1) ?? 'input').replace(/_/g, '-')}`;

/** Checks flags gathered into a wire object against its schema; a refusal names the flag, in the API's words. */
export function checkedInput<S extends TSchema>(schema: S, fields: Record<string, unknown>): Static<S> {
  const input = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  const first = schemaIssues(schema, input)[0];
  if (first) throw new IdentityInputError(`${flagOf(pointerOf(first))}: ${describe(first)}`);
  return input as Static<S>;
}

/** What to say, per catalog code, instead of the bare code: what was not found and the command that fixes it. */
export interface Hints {
  notFound?: string;
}

/** Turns a catalog error from a service into an operator-facing message; an API code is never the whole message. */
export async function asInput<T>(work: Promise<T>, hints: Hints = {}): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.code === 12135 && hints.notFound) throw new IdentityInputError(hints.notFound);
      // A bare API code is never the whole message.
      if (error.code === 12135 && !error.detail) throw new IdentityInputError('not found: no object with that id in this account or zone (check the ids with the matching `list` verb)');
      const item = error.items[0]!;
      const where = item.source?.pointer ? ` (${item.source.pointer})` : '';
      throw new IdentityInputError(`${error.detail ?? item.message}${where}`);
    }
    throw error;
  }
}

/** The scope flags of a verb, as the command that would show what exists there. */
export const scopeFlags = (o: { account: string; zone?: string }) => `--account ${o.account}${o.zone ? ` --zone ${o.zone}` : ''}`;

/** "No such application" with the command that lists the ones there are. */
export const noApp = (o: { account: string; zone?: string; app: string }) =>
  `no application ${o.app} in ${o.zone ? `zone ${o.zone}` : `account ${o.account}`}: list them with access-ca app list ${scopeFlags(o)}`;

/** "This application has no CA" with the command that creates one. */
export const noCa = (o: { account: string; zone?: string; app: string }) =>
  `application ${o.app} has no SSH CA yet: create it with access-ca ca create ${scopeFlags(o)} --app ${o.app}`;

/** Resolves a verb's scope and application, or refuses naming what is missing and what to run. */
export async function requireApp(s: Pick<Services, 'identity' | 'apps'>, o: { account: string; zone?: string; app: string }) {
  const scope = await s.identity.resolveScope(o.account, o.zone);
  const app = await asInput(s.apps.get(scope, o.app), { notFound: noApp(o) });
  return { scope, app };
}
