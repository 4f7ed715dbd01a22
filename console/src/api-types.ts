// The wire shapes the console reads, taken from the server's own route schemas where they are exported.
import type { AppView as ServerAppView } from '../../src/access-apps/access-apps-schemas.ts';
import type { CaView, CaKeyView, TrustedKeysView } from '../../src/access-cas/access-cas-schemas.ts';
import type { Static } from 'typebox';
import type { AccessCheckView as AccessCheckSchema, GroupView, PolicyView } from '../../src/access-policies/access-policies-schemas.ts';
import type { IdpView, IdpInput } from '../../src/identity-providers/identity-providers-schemas.ts';
import type { CertPolicyView, CertPolicyInput } from '../../src/ssh-certs/policy/cert-policy-schemas.ts';
import type { ResultInfo } from '../../src/platform/http/envelope.ts';

export type { CaView, CaKeyView, TrustedKeysView, GroupView, PolicyView, IdpView, IdpInput, CertPolicyView, CertPolicyInput, ResultInfo };

/** Where a CA's private key lives: sealed in the store, or in the server's PKCS#11 token. */
export type KeyStorage = NonNullable<CaKeyView['key_storage']>;

/** The answer of the dry run: would this person get a certificate? */
export type AccessCheckView = Static<typeof AccessCheckSchema>;

/** An application as listed: its policies in the shape their capability serves. */
export type AppView = Omit<ServerAppView, 'policies'> & { policies: PolicyView[] };

/** One issued certificate of the inventory (inventory-routes.ts keeps its schema private). */
export interface CertificateView {
  id: string;
  serial: string;
  key_id: string;
  principals: string[];
  identity: string;
  public_key_type: string;
  public_key_fingerprint: string;
  valid_after: string;
  valid_before: string;
  source: string;
  created_at: string;
  status: string;
  revoked_at?: string;
  revocation?: { id: string; kind: string; reason: string; actor: string; created_at: string };
}

/** One event of the audit trail, as the server writes it (audit-routes.ts). */
export type { AuditEventView } from '../../src/audit/audit-log.ts';

/** One item of an error envelope; `source.pointer` names the request field at fault. */
export interface ApiErrorItem {
  code: number;
  message: string;
  source?: { pointer: string };
}
