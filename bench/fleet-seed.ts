// What the fleet bench's server holds before it listens, written straight into the store (the API would
// take hours for 100,000 revocations): revoked certificates of one application's CA, and enrolled hosts
// with their targets. Only the rows the read paths look at are filled in as the API would.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../src/platform/db/schema.ts';
import { certSerial, cryptoRandom, recordId } from '../src/platform/random.ts';
import { secretHash } from '../src/identity/identity-service.ts';
import { HOST_CREDENTIAL_PREFIX } from '../src/identity/credentials.ts';
import { publicKeyBlob } from '../src/openssh/public-key-blob.ts';

/** The fleet's size: hosts in all (a few enrolled through the API by the bench), and revoked certificates. */
export const FLEET_HOSTS = Number(process.env['BENCH_FLEET_HOSTS'] ?? 10_000);
export const FLEET_REVOKED = Number(process.env['BENCH_FLEET_REVOKED'] ?? 100_000);
/** Hosts the bench enrolls through the API (challenge + SSHSIG + enroll), to prove the path the seeded ones skip. */
export const FLEET_API_ENROLLED = 5;
/** Every host is `h<n>.<domain>`; one application holds `*.<domain>`, so it covers them all. */
export const FLEET_DOMAIN = 'fleet.example.com';
const CHUNK = 500;
const DAY_MS = 86_400_000;

/**
 * `count` revoked certificates of the app's active CA key, issued over the last day for a day each: serials
 * as the issuer makes them (the millisecond of issue, 22 random bits below), each valid until its own
 * time in the coming day, so every one is in the KRL; then the app's KRL version moves, as a revocation's
 * transaction does.
 */
export async function seedRevoked(db: Db, app: { id: string; accountId: string }, count: number): Promise<void> {
  const key = await db.selectFrom('ssh_ca_keys').innerJoin('ssh_cas', 'ssh_cas.id', 'ssh_ca_keys.ca_id')
    .select(['ssh_ca_keys.id', 'ssh_ca_keys.ca_id']).where('ssh_cas.app_id', '=', app.id).where('ssh_ca_keys.state', '=', 'active').executeTakeFirstOrThrow();
  const now = Date.now();
  const at = new Date(now).toISOString();
  const revocationId = cryptoRandom.uuid();
  const issued = new Map<string, number>();
  while (issued.size < count) {
    const at = Math.floor(now - 60_000 - Math.random() * DAY_MS);
    issued.set(certSerial(at).toString(), at);
  }
  const all = [...issued];
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('ssh_revocations').values({
      id: revocationId, account_id: app.accountId, app_id: app.id, kind: 'principal', value: 'bench', reason: 'bench seed', actor: 'bench', certificates: count, created_at: at,
    }).execute();
    for (let start = 0; start < count; start += CHUNK) {
      await trx.insertInto('ssh_certificates').values(all.slice(start, start + CHUNK).map(([serial, issuedAt], i) => ({
        id: recordId(issuedAt), serial, ca_id: key.ca_id, ca_key_id: key.id, app_id: app.id, account_id: app.accountId,
        key_id: `bench-${start + i}`, principals: '["ops"]', valid_after: new Date(issuedAt).toISOString(), valid_before: new Date(issuedAt + DAY_MS).toISOString(),
        identity: `user${(start + i) % 5000}@example.com`, public_key_type: 'ssh-ed25519', public_key_fingerprint: `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`,
        critical_options: '{}', extensions: '{"permit-pty":""}', source: 'api', created_at: new Date(issuedAt).toISOString(), revoked_at: at, revocation_id: revocationId,
      }))).execute();
    }
    await trx.insertInto('ssh_krl_versions').values({ app_id: app.id, version: 1, updated_at: at })
      .onConflict((oc) => oc.column('app_id').doUpdateSet({ version: sql`ssh_krl_versions.version + 1`, updated_at: at })).execute();
  });
}

/**
 * `count` targets `h<n>.<domain>`, each with one enrolled host holding its own ed25519 host key, as
 * enrollment writes them; returns the hosts' credentials (the store keeps only their SHA-256).
 */
export async function seedHosts(db: Db, accountId: string, count: number): Promise<string[]> {
  const credentials: string[] = [];
  const at = new Date().toISOString();
  for (let start = 0; start < count; start += CHUNK) {
    const n = Math.min(CHUNK, count - start);
    const targets = Array.from({ length: n }, (_, i) => ({
      id: cryptoRandom.uuid(), account_id: accountId, hostname: `h${start + i}.${FLEET_DOMAIN}`, host: `h${start + i}.${FLEET_DOMAIN}`,
      ipv4: null, ipv4_vnet: null, ipv6: null, ipv6_vnet: null, tags: '{}', aliases: '[]', created_at: at, modified_at: at,
    }));
    const hosts = targets.map((t) => {
      const credential = `${HOST_CREDENTIAL_PREFIX}${cryptoRandom.secret(32)}`;
      credentials.push(credential);
      return {
        id: cryptoRandom.hex(16), account_id: accountId, target_id: t.id, secret_sha256: secretHash(credential),
        host_keys: JSON.stringify([publicKeyBlob(generateKeyPairSync('ed25519').publicKey).toString('base64')]), created_at: at, last_seen_at: at,
      };
    });
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('infrastructure_targets').values(targets).execute();
      await trx.insertInto('host_enrollments').values(hosts).execute();
    });
  }
  return credentials;
}
