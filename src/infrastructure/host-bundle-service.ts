import { sql } from 'kysely';
import type { Clock } from '../platform/clock.ts';
import type { Db } from '../platform/db/schema.ts';
import type { GrantRevisionReader } from '../platform/db/grant-revisions.ts';
import { entityTag } from '../platform/http/conditional.ts';
import { ok } from '../platform/http/envelope.ts';
import { CA_KEY_ALGORITHM } from '../access-cas/ca-key-material.ts';
import { STATE_ORDER, type CaKeyState } from '../access-cas/key-rotation.ts';
import type { KrlEncoder } from './krl-encoder.ts';
import { wildcardsCovering } from './host-owner.ts';
import { createTargetCoverage } from '../ssh-certs/target-coverage.ts';

/** A revoked certificate stays in hosts' KRLs this long past its end, for hosts whose clocks lag. */
export const DEFAULT_KRL_EXPIRY_MARGIN_S = 3600;
/** Bundles and KRLs kept per node; a fleet's targets mostly share a few sets of applications. */
const MAX_CACHED = 20_000;
/** What the bundles and KRLs kept per node may hold, each: a KRL of a million serials is about 8 MiB. */
const MAX_CACHED_BYTES = 256 * 1024 * 1024;
/** Revoked certificates read per statement while a KRL is built. */
const READ_CHUNK = 5_000;

/** A target as the bundle needs it: its account and the host its applications are matched against. */
export interface BundleTarget {
  id: string;
  account_id: string;
  host: string;
}

/** A built answer: its bytes, their tag, and the fleet revision it was built at (its version). */
export interface Built {
  version: number;
  bytes: Buffer;
  etag: string;
}

interface CaKey { app_id: string; ca_id: string; id: string; state: string; public_key: string }

/** A target's applications: `own` by hostname, `covering` infrastructure ones, `gateway` every infrastructure one when any covers. */
interface TargetApps { own: string[]; covering: string[]; gateway: string[] }

/** A small LRU, bounded in entries and, where sizes are given, in bytes. */
function lru<V>(maxBytes = Infinity, size: (v: V) => number = () => 0) {
  const map = new Map<string, V>();
  let bytes = 0;
  const drop = (key: string) => {
    const old = map.get(key);
    if (old !== undefined) bytes -= size(old);
    map.delete(key);
  };
  return {
    get(key: string): V | undefined {
      const hit = map.get(key);
      if (hit !== undefined) {
        map.delete(key);
        map.set(key, hit);
      }
      return hit;
    },
    set(key: string, value: V): void {
      drop(key);
      map.set(key, value);
      bytes += size(value);
      while (map.size > MAX_CACHED || (bytes > maxBytes && map.size > 1)) drop(map.keys().next().value!);
    },
  };
}

/**
 * What a host enforces: every CA key (active, next, previous) of every application of its account whose
 * host is its hostname (exact or wildcard), as one TrustedUserCAKeys file, and one KRL with a section per
 * such key and the account's revoked user keys. Both carry the account's fleet revision as their version,
 * which only grows. Built once per node and revision, and kept until the revision moves: an unchanged
 * answer (a 304) costs two primary-key reads and no build.
 */
export function createHostBundleService(deps: { db: Db; revisions: GrantRevisionReader; clock: Clock; keyComment: string; krlExpiryMarginS: number; encoder: Pick<KrlEncoder, 'encode'> }) {
  const { db, revisions, clock, encoder } = deps;
  const bundles = lru<Built & { hash: string }>(MAX_CACHED_BYTES, (b) => b.bytes.length);
  // One KRL per account and set of applications: a newer version replaces the older one.
  const krls = lru<Built>(MAX_CACHED_BYTES, (b) => b.bytes.length);
  /** Per target: the revision its applications were looked up at, and which they were. */
  const appSets = lru<{ version: number; apps: TargetApps }>();
  const coverage = createTargetCoverage(db);

  /**
   * The applications a target trusts: those whose host is its hostname (their own CAs), and, when an
   * infrastructure application's criteria cover it, the account's gateway CA. `gateway` then names every
   * infrastructure application of the account, whose certificates that CA signed: their revocations are
   * enforced on every target that trusts it.
   */
  async function appsOf(target: BundleTarget, version: number): Promise<TargetApps> {
    // Keyed by the host too: a request that read its target before a rename must not store the old
    // name's applications under the new revision for everyone else.
    const setKey = `${target.id}/${target.host}`;
    const known = appSets.get(setKey);
    if (known && known.version === version) return known.apps;
    const rows = await db.selectFrom('access_apps').select('id').where('account_id', '=', target.account_id)
      .where('host', 'in', [target.host, ...wildcardsCovering(target.host)]).where('type', '!=', 'infrastructure').orderBy('id').execute();
    const row = await db.selectFrom('infrastructure_targets').select('tags').where('id', '=', target.id).executeTakeFirst();
    const covering = row ? await coverage.appsCovering({ account_id: target.account_id, host: target.host, tags: row.tags }) : [];
    const gateway = covering.length === 0 ? [] : (await db.selectFrom('access_apps').select('id').where('account_id', '=', target.account_id)
      .where('type', '=', 'infrastructure').orderBy('id').execute()).map((r) => r.id);
    const apps = { own: rows.map((r) => r.id), covering, gateway };
    appSets.set(setKey, { version, apps });
    return apps;
  }

  async function caKeys(accountId: string, apps: TargetApps): Promise<CaKey[]> {
    const own = apps.own.length === 0 ? [] : await db.selectFrom('ssh_ca_keys').innerJoin('ssh_cas', 'ssh_cas.id', 'ssh_ca_keys.ca_id')
      .select(['ssh_cas.app_id', 'ssh_cas.id as ca_id', 'ssh_ca_keys.id', 'ssh_ca_keys.state', 'ssh_ca_keys.public_key'])
      .where('ssh_cas.app_id', 'in', apps.own).execute();
    const sorted = own.sort((a, b) => a.app_id.localeCompare(b.app_id) || STATE_ORDER[a.state as CaKeyState] - STATE_ORDER[b.state as CaKeyState] || a.id.localeCompare(b.id));
    if (apps.covering.length === 0) return sorted;
    // The gateway CA last, under the first infrastructure application that covers the target.
    const gateway = await db.selectFrom('gateway_ca_keys').select(['ca_id', 'id', 'state', 'public_key']).where('account_id', '=', accountId).execute();
    const gatewayKeys = gateway.map((k) => ({ ...k, app_id: apps.covering[0]! }))
      .sort((a, b) => STATE_ORDER[a.state as CaKeyState] - STATE_ORDER[b.state as CaKeyState] || a.id.localeCompare(b.id));
    return [...sorted, ...gatewayKeys];
  }

  const building = new Map<string, Promise<Built>>();

  /**
   * Revoked certificates still in a KRL (not expired for longer than the margin), read a chunk at a time
   * with the event loop free between chunks: SQLite's reads hold it for as long as they run.
   */
  async function revokedSerials(apps: string[], since: string): Promise<{ ca_key_id: string; serial: string }[]> {
    const out: { ca_key_id: string; serial: string }[] = [];
    for (const app of apps) {
      let after: { valid_before: string; id: string } | undefined;
      for (;;) {
        const from = after;
        let q = db.selectFrom('ssh_certificates').select(['ca_key_id', 'serial', 'valid_before', 'id'])
          .where('app_id', '=', app).where('revoked_at', 'is not', null);
        // A row-value cursor, with its first column as a plain bound so both engines seek the index there
        // (an OR of the two cases made every chunk rescan the app's rows from the start).
        q = from === undefined ? q.where('valid_before', '>', since)
          : q.where('valid_before', '>=', from.valid_before).where(sql<boolean>`(valid_before, id) > (${from.valid_before}, ${from.id})`);
        const rows = await q.orderBy('valid_before').orderBy('id').limit(READ_CHUNK).execute();
        for (const r of rows) out.push(r);
        if (rows.length < READ_CHUNK) break;
        after = rows[rows.length - 1]!;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return out;
  }

  async function buildKrl(accountId: string, version: number, apps: TargetApps): Promise<Built> {
    const now = clock.now();
    const keys = await caKeys(accountId, apps);
    const since = new Date(now.getTime() - deps.krlExpiryMarginS * 1000).toISOString();
    const [certs, revokedKeys] = await Promise.all([
      revokedSerials([...apps.own, ...apps.gateway], since),
      db.selectFrom('ssh_revoked_keys').innerJoin('ssh_revocations', 'ssh_revocations.id', 'ssh_revoked_keys.revocation_id')
        .select('ssh_revoked_keys.fingerprint').where('ssh_revocations.account_id', '=', accountId).execute(),
    ]);
    const serialsByKey = new Map<string, bigint[]>();
    for (const c of certs) {
      // Serial 0 is never issued (and OpenSSH cannot revoke it): a stray one must not break every host's KRL.
      if (c.serial === '0') continue;
      const list = serialsByKey.get(c.ca_key_id) ?? [];
      list.push(BigInt(c.serial));
      serialsByKey.set(c.ca_key_id, list);
    }
    const bytes = await encoder.encode({
      version: BigInt(version),
      generatedDate: BigInt(Math.floor(now.getTime() / 1000)),
      comment: `access-ca account ${accountId}`,
      // Only keys the target still trusts: certificates of a deleted or retired key are refused anyway.
      certificates: keys.map((k) => ({ caKeyBlob: Buffer.from(k.public_key, 'base64'), serials: serialsByKey.get(k.id) ?? [], keyIds: [] })),
      sha256Keys: [...new Set(revokedKeys.map((r) => r.fingerprint))].map((f) => Buffer.from(f.slice('SHA256:'.length), 'base64')),
    });
    return { version, bytes, etag: entityTag(bytes) };
  }

  const keyLine = (blob: string) => `${CA_KEY_ALGORITHM} ${blob} ${deps.keyComment}`.trimEnd();

  return {
    /** The account's fleet revision: the version a bundle or KRL built now carries. */
    version: (accountId: string) => revisions.current(accountId),

    /**
     * The target's trust bundle as the envelope's bytes. `extraOf` (the host certificate status) is part of
     * the answer for an enrolled host, read only when the bundle is built: what it reads (the host CA's
     * keys, the target's names, zones) moves the same revision.
     */
    async bundle(target: BundleTarget, extraOf: () => Promise<Record<string, unknown>> = async () => ({})): Promise<Built> {
      // The revision is read first: what is read after it is at least that new, so a cached answer is never older than its version.
      const version = await revisions.current(target.account_id);
      const key = target.id;
      const hit = bundles.get(key);
      // Kept per host name too: a request that read its target before a rename never answers for the new name.
      if (hit && hit.version === version && hit.hash === target.host) return hit;
      const extra = await extraOf();
      const keys = await caKeys(target.account_id, await appsOf(target, version));
      const lines = keys.map((k) => keyLine(k.public_key));
      const result = {
        version, target_id: target.id, hostname: target.host,
        keys: keys.map((k) => ({ public_key: keyLine(k.public_key), app_id: k.app_id, ca_id: k.ca_id, key_id: k.id, state: k.state })),
        trusted_user_ca_keys: lines.map((l) => `${l}\n`).join(''),
        ...extra,
      };
      const bytes = Buffer.from(JSON.stringify(ok(result)));
      const built = { version, bytes, etag: entityTag(bytes), hash: target.host };
      bundles.set(key, built);
      return built;
    },

    /**
     * The target's KRL: a section per CA key it trusts, and the account's revoked user keys. Built once per
     * version and set of applications; requests that arrive during a build wait for that one build.
     */
    async krl(target: BundleTarget): Promise<Built> {
      const version = await revisions.current(target.account_id);
      const apps = await appsOf(target, version);
      const key = `${target.account_id}/${apps.own.join(',')}/${apps.covering.length > 0 ? 'gateway' : ''}`;
      const hit = krls.get(key);
      if (hit && hit.version === version) return hit;
      const buildKey = `${key}/${version}`;
      let build = building.get(buildKey);
      if (!build) {
        build = buildKrl(target.account_id, version, apps).finally(() => building.delete(buildKey));
        building.set(buildKey, build);
      }
      const built = await build;
      // A slower build of an older version never replaces a newer one.
      if ((krls.get(key)?.version ?? -1) <= built.version) krls.set(key, built);
      return built;
    },
  };
}

export type HostBundleService = ReturnType<typeof createHostBundleService>;
