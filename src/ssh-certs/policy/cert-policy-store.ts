import type { Db } from '../../platform/db/schema.ts';
import { DEFAULT_POLICY, normalizePolicy, policyView, type CertPolicy } from './cert-policy.ts';

/** Persistence of per-app certificate policies; an app without one gets the defaults. */
export interface CertPolicyStore {
  get(appId: string): Promise<CertPolicy>;
  put(appId: string, policy: CertPolicy, at: string): Promise<void>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. Read per request, so every node sees a change at once. */
export function createCertPolicyStore(db: Db): CertPolicyStore {
  return {
    async get(appId) {
      const row = await db.selectFrom('ssh_cert_policies').select('policy').where('app_id', '=', appId).executeTakeFirst();
      return row ? normalizePolicy(JSON.parse(row.policy), 'stored') : DEFAULT_POLICY;
    },
    async put(appId, policy, at) {
      const json = JSON.stringify(policyView(policy));
      await db.insertInto('ssh_cert_policies').values({ app_id: appId, policy: json, updated_at: at })
        .onConflict((oc) => oc.column('app_id').doUpdateSet({ policy: json, updated_at: at })).execute();
    },
  };
}
