import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Clock } from './platform/clock.ts';
import type { Random } from './platform/random.ts';
import type { KeyVault } from './platform/crypto/key-vault.ts';
import type { Db } from './platform/db/schema.ts';
import { defaultConnectionLimits, type ConnectionLimits } from './platform/http/connection-limits.ts';
import type { GrantRevisionReader } from './platform/db/grant-revisions.ts';
import type { AppendWriter } from './platform/db/sqlite-append-writer.ts';
import type { Metrics } from './observability/metrics.ts';
import type { MetricsAccess } from './observability/metrics-access.ts';
import type { AuditOutputs } from './audit/audit-stream.ts';
import { DEFAULT_CA_KEY_COMMENT } from './access-cas/ca-key-material.ts';
import { DEFAULT_KRL_EXPIRY_MARGIN_S } from './infrastructure/host-bundle-service.ts';
import type { CaKeyToken, KeyStorage } from './signers/ca-key-token.ts';

/** What a server is built from: its settings (parsed once, in cli/) and the pieces main.ts opened. */
export interface AppConfig {
  /** The v4 API's prefix, `/client/v4` unless configured. */
  basePath: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  caKeyComment: string;
  /** Failed authentications allowed per client address and minute before 429; 0 turns it off. */
  authFailuresPerMinute: number;
  /** Development only: identity providers' JWKS URLs may reach private, loopback and link-local addresses. */
  allowPrivateIdpAddresses: boolean;
  /** Whether trial identity providers' tokens are taken (`serve --no-trial-idp`: no); see identity-providers/trial-provider.ts. */
  trialIdentityProviders: boolean;
  /**
   * Addresses or CIDR blocks of the proxies in front of the server, whose X-Forwarded-For is believed: the
   * client address that rate limits, `ip` rules and logs use. Empty: the socket address, and no header.
   */
  trustProxy: string[];
  connections: ConnectionLimits;
  /**
   * Whether users' global API keys (X-Auth-Email/X-Auth-Key) are taken. Off: only API tokens are, and a
   * request carrying a key is refused (403 9103) without the key being looked up.
   */
  globalKeys: boolean;
  /** Where the built web console is read from; unset: the `vite build` output beside the server's code. */
  consoleDir?: string;
  /** Who may read /metrics (loopback only when unset); see observability/metrics-access.ts. */
  metricsAccess?: MetricsAccess;
  /** Seconds a revoked certificate stays in hosts' KRLs past its end, for hosts whose clocks lag. */
  krlExpiryMarginS: number;
  /** Where a new CA's key lives when its create request does not say (`serve --ca-key-storage`); sealed unless set. */
  caKeyStorage?: KeyStorage;
}

export const defaultAppConfig: AppConfig = {
  basePath: '/client/v4',
  bodyLimit: 64 * 1024,
  caKeyComment: DEFAULT_CA_KEY_COMMENT,
  authFailuresPerMinute: 60,
  allowPrivateIdpAddresses: false,
  trialIdentityProviders: true,
  trustProxy: [],
  globalKeys: true,
  connections: defaultConnectionLimits,
  krlExpiryMarginS: DEFAULT_KRL_EXPIRY_MARGIN_S,
};

export interface AppDeps {
  config: AppConfig;
  db: Db;
  clock: Clock;
  random: Random;
  keyVault: KeyVault;
  logger: FastifyBaseLogger | boolean;
  /** Serve HTTPS with this certificate chain and key (PEM); plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer };
  /** Called on the root instance before any route exists, so its hooks see every route (tests check each answer). */
  instrument?: (app: FastifyInstance) => void;
  /** SQLite: the store's off-thread writer for issued certificates (OpenDatabase.appendWriter). */
  appendWriter?: AppendWriter | undefined;
  /** How each account's grant revision is read (OpenDatabase.grantRevisions); through `db` when not given. */
  grantRevisions?: GrantRevisionReader | undefined;
  /** How each account's fleet revision is read (OpenDatabase.grantRevisions('fleet_revisions')); through `db` when not given. */
  fleetRevisions?: GrantRevisionReader | undefined;
  /** The app's metrics; a fresh set (its own registry) when not given. */
  metrics?: Metrics;
  /** `serve --audit-log`: where every committed audit event is streamed before its answer goes (audit-stream.ts). */
  auditOutputs?: AuditOutputs | undefined;
  /** `serve --pkcs11-*`: the PKCS#11 token CA keys may live in (opened by the serve command, closed after the app). */
  caKeyToken?: CaKeyToken | undefined;
}
