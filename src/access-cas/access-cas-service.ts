import type { Clock } from '../platform/clock.ts';
import type { Random } from '../platform/random.ts';
import type { KeyVault } from '../platform/crypto/key-vault.ts';
import { errors } from '../platform/http/errors.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../platform/db/db-errors.ts';
import { pageOffset, resultInfo, type PageRequest } from '../platform/http/pagination.ts';
import type { Scope } from '../identity/authenticate.ts';
import { requireApp, type AccessAppsStore } from '../access-apps/access-apps-store.ts';
import { CA_KEY_ALGORITHM, caKeyAad, generateCaKey } from './ca-key-material.ts';
import type { AccessCasStore, CaRecord } from './access-cas-store.ts';
import type { CaView } from './access-cas-schemas.ts';

export interface AccessCasDeps {
  cas: AccessCasStore;
  apps: Pick<AccessAppsStore, 'get'>;
  vault: Pick<KeyVault, 'seal'>;
  clock: Clock;
  random: Random;
  keyComment: string;
}

/** The per-app short-lived certificate CA: Cloudflare's `/access/apps/{app_id}/ca` family. */
export function createAccessCasService(deps: AccessCasDeps) {
  const { cas, apps, vault, clock, random, keyComment } = deps;

  const view = (r: CaRecord): CaView => ({
    id: r.id,
    aud: r.aud,
    public_key: `${CA_KEY_ALGORITHM} ${r.public_key} ${keyComment}`.trimEnd(),
  });

  const appIn = (scope: Scope, appId: string) => requireApp(apps, scope, appId);

  return {
    async create(scope: Scope, appId: string): Promise<CaView> {
      const app = await appIn(scope, appId);
      if (await cas.getByApp(app.id)) throw errors.caAlreadyExists();
      // Key generation and sealing happen before the transaction, which then only writes rows.
      const caId = random.hex(24);
      const keyId = random.hex(16);
      const { publicBlob, pkcs8 } = generateCaKey();
      const sealed = vault.seal(pkcs8, caKeyAad(caId, keyId));
      pkcs8.fill(0);
      const at = clock.now().toISOString();
      try {
        await cas.insert(
          { id: caId, app_id: app.id, created_at: at },
          { id: keyId, ca_id: caId, state: 'active', algorithm: CA_KEY_ALGORITHM, public_key: publicBlob.toString('base64'), private_key_sealed: sealed, created_at: at },
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw errors.caAlreadyExists();
        if (isForeignKeyViolation(error)) throw errors.notFound();
        throw error;
      }
      return view({ id: caId, app_id: app.id, aud: app.aud, public_key: publicBlob.toString('base64') });
    },
    async get(scope: Scope, appId: string): Promise<CaView> {
      const app = await appIn(scope, appId);
      const ca = await cas.getByApp(app.id);
      if (!ca) throw errors.notFound();
      return view(ca);
    },
    async list(scope: Scope, page: PageRequest) {
      const { rows, total } = await cas.list(scope, pageOffset(page), page.perPage);
      return { items: rows.map(view), info: resultInfo(page, rows.length, total) };
    },
    async delete(scope: Scope, appId: string): Promise<{ id: string }> {
      const app = await appIn(scope, appId);
      const id = await cas.deleteByApp(app.id);
      if (id === undefined) throw errors.notFound();
      return { id };
    },
  };
}

export type AccessCasService = ReturnType<typeof createAccessCasService>;
