import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { migrate, type OpenDatabase } from '../../src/platform/db/database.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../../src/platform/db/db-errors.ts';
import { createIdentityStore } from '../../src/identity/identity-store.ts';
import { createAccessAppsStore, type AppRow } from '../../src/access-apps/access-apps-store.ts';
import { createAccessCasStore } from '../../src/access-cas/access-cas-store.ts';
import type { TestDatabase } from '../helpers/databases.ts';
import { createIdentityProvidersStore } from '../../src/identity-providers/identity-providers-store.ts';
import { createCertPolicyStore } from '../../src/ssh-certs/policy/cert-policy-store.ts';
import { createAccessPoliciesStore } from '../../src/access-policies/access-policies-store.ts';
import { DEFAULT_POLICY, normalizePolicy } from '../../src/ssh-certs/policy/cert-policy.ts';
import { createCertInventoryStore, type IssuedRecord } from '../../src/ssh-certs/cert-inventory-store.ts';
import { createGrantRevisionReader } from '../../src/platform/db/grant-revisions.ts';
import { createRevocationStore } from '../../src/ssh-certs/revocation-store.ts';

const hex = (n: number) => randomBytes(n).toString('hex');
const now = () => new Date().toISOString();

/** The one suite every store implementation must pass, on SQLite and on PostgreSQL alike. */
export function storeConformance(engine: string, make: () => Promise<TestDatabase>, skip: string | null): void {
  describe(`store conformance: ${engine}`, { skip: skip ?? false }, () => {
    let tdb: TestDatabase;
    let opened: OpenDatabase;
    before(async () => {
      tdb = await make();
      opened = await tdb.open();
    });
    after(async () => {
      await opened?.close();
      await tdb?.drop();
    });

    const account = async () => {
      const row = { id: hex(16), name: 'a', created_at: now() };
      await createIdentityStore(opened.db).insertAccount(row);
      return row.id;
    };
    const app = async (accountId: string, zoneId: string | null = null): Promise<AppRow> => {
      const row: AppRow = { id: randomUUID(), account_id: accountId, zone_id: zoneId, aud: hex(32), name: 'n', domain: null, host: null, type: 'self_hosted', session_duration: '24h', created_at: now(), updated_at: now() };
      await createAccessAppsStore(opened.db).insert(row);
      return row;
    };
    const caRows = (appId: string, caId = hex(24), sealed: Buffer = randomBytes(80)) => [
      { id: caId, app_id: appId, created_at: now() },
      { id: hex(16), ca_id: caId, state: 'active', algorithm: 'ecdsa-sha2-nistp256', public_key: randomBytes(104).toString('base64'), private_key_sealed: sealed, created_at: now() },
    ] as const;

    it('migrations are idempotent: a second run applies nothing', async () => {
      assert.deepEqual(await migrate(opened), []);
    });

    it('identity: tokens with permissions, lookup by secret hash, revoke, users by key', async () => {
      const s = createIdentityStore(opened.db);
      const accountId = await account();
      const zone = { id: hex(16), account_id: accountId, name: `${hex(4)}.example.com`, created_at: now() };
      await s.insertZone(zone);
      assert.deepEqual(await s.getZone(zone.id), zone);
      await assert.rejects(s.insertZone({ ...zone, id: hex(16) }), isUniqueViolation);
      const token = { id: hex(16), account_id: accountId, zone_id: zone.id, name: 't', secret_sha256: hex(32), not_before: null, expires_on: null, revoked_at: null, created_at: now() };
      await s.insertToken(token, ['B perm', 'A perm']);
      assert.deepEqual(await s.findTokenBySecret(token.secret_sha256), { ...token, permissions: ['A perm', 'B perm'] });
      assert.equal(await s.findTokenBySecret(hex(32)), undefined);
      assert.equal(await s.revokeToken(token.id, now()), true);
      assert.equal(await s.revokeToken(token.id, now()), false, 'revoking twice changes nothing');
      assert.notEqual((await s.getToken(token.id))?.revoked_at, null);
      const user = { id: hex(16), email: `${hex(4)}@example.com`, api_key_sha256: hex(32), created_at: now() };
      await s.insertUser(user, accountId);
      assert.deepEqual((await s.findUserByKey(user.email, user.api_key_sha256))?.accountIds, [accountId]);
      assert.equal(await s.findUserByKey(user.email, hex(32)), undefined);
      await assert.rejects(s.insertUser({ ...user, id: hex(16), api_key_sha256: hex(32) }, accountId), isUniqueViolation);
    });

    it('identity: bootstrap makes the first account once', async () => {
      const s = createIdentityStore(opened.db);
      const before = await s.countAccounts();
      const row = () => ({ id: hex(16), name: 'default', created_at: now() });
      const tok = (accountId: string) => ({ id: hex(16), account_id: accountId, zone_id: null, name: 'b', secret_sha256: hex(32), not_before: null, expires_on: null, revoked_at: null, created_at: now() });
      const a = row();
      const made = await s.bootstrap(a, tok(a.id), ['Access: Apps and Policies Write']);
      assert.equal(made, before === 0);
      const b = row();
      assert.equal(await s.bootstrap(b, tok(b.id), []), false);
    });

    it('apps: confined to their scope; paged; updated; deleted', async () => {
      const s = createAccessAppsStore(opened.db);
      const accountId = await account();
      const zone = { id: hex(16), account_id: accountId, name: `${hex(4)}.example.com`, created_at: now() };
      await createIdentityStore(opened.db).insertZone(zone);
      const acctScope = { accountId, zoneId: null };
      const zoneScope = { accountId, zoneId: zone.id };
      const rows = [await app(accountId), await app(accountId), await app(accountId)];
      const zoned = await app(accountId, zone.id);
      assert.deepEqual(await s.get(acctScope, rows[0]!.id), rows[0]);
      assert.equal(await s.get(zoneScope, rows[0]!.id), undefined);
      assert.equal(await s.get(acctScope, zoned.id), undefined);
      assert.equal(await s.get({ accountId: hex(16), zoneId: null }, rows[0]!.id), undefined);
      const page1 = await s.list(acctScope, 0, 2);
      const page2 = await s.list(acctScope, 2, 2);
      assert.equal(page1.total, 3);
      assert.equal(page1.rows.length + page2.rows.length, 3);
      assert.deepEqual((await s.list(acctScope, 4, 2)).rows, []);
      assert.deepEqual((await s.list(zoneScope, 0, 10)).rows, [zoned]);
      const updated = await s.update(acctScope, rows[1]!.id, { name: 'new', domain: null, host: null, type: 'ssh', session_duration: '1h', updated_at: now() });
      assert.equal(updated?.name, 'new');
      assert.equal(updated?.aud, rows[1]!.aud);
      assert.equal(await s.update(zoneScope, rows[1]!.id, { name: 'x', domain: null, host: null, type: 'ssh', session_duration: '1h', updated_at: now() }), undefined);
      assert.equal(await s.delete(zoneScope, rows[2]!.id), false);
      assert.equal(await s.delete(acctScope, rows[2]!.id), true);
      assert.equal(await s.get(acctScope, rows[2]!.id), undefined);
    });

    it('apps: a host belongs to one app in the whole store, across accounts, even under concurrent inserts', async () => {
      const s = createAccessAppsStore(opened.db);
      const host = `h${hex(6)}.example.com`;
      const make = async (accountId: string, domain: string): Promise<AppRow> =>
        ({ ...(await app(accountId)), id: randomUUID(), aud: hex(32), domain, host });
      const candidates = await Promise.all(Array.from({ length: 10 }, async (_, i) => make(await account(), i % 2 ? `${host}:22` : `${host}/p${i}`)));
      const results = await Promise.allSettled(candidates.map((row) => s.insert(row)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isUniqueViolation(r.reason), String(r.reason));
      const owner = await s.findByHost(host.toUpperCase());
      assert.ok(owner && candidates.some((c) => c.id === owner.id));
      assert.equal(await s.findByHost(`x${host}`), undefined);
      const other = await app(owner.account_id);
      await assert.rejects(s.update({ accountId: other.account_id, zoneId: null }, other.id, { name: 'n', domain: host, host, type: 'ssh', session_duration: '1h', updated_at: now() }), isUniqueViolation);
    });

    it('access policies: a linked reusable policy cannot be deleted, whatever the race; an app takes its own policies with it', async () => {
      const s = createAccessPoliciesStore(opened.db);
      const accountId = await account();
      const scope = { accountId, zoneId: null };
      const a = await app(accountId);
      const rules = { include: '[{"everyone":{}}]', exclude: '[]', require: '[]' };
      const policy = (appId: string | null) => ({ id: randomUUID(), account_id: accountId, zone_id: null, app_id: appId, name: 'p', decision: 'deny', ...rules, session_duration: null, created_at: now(), updated_at: now() });
      const reusable = policy(null);
      await s.insertPolicy(reusable);
      const own = policy(a.id);
      await s.insertPolicy(own, { app_id: a.id, policy_id: own.id, precedence: 1 });
      await opened.db.transaction().execute((trx) => s.replaceLinks(a.id, [{ app_id: a.id, policy_id: reusable.id, precedence: 2 }])(trx));
      assert.deepEqual((await s.policiesOfApp(a.id)).map((p) => [p.id, p.precedence]), [[own.id, 1], [reusable.id, 2]]);
      await assert.rejects(s.deletePolicy(scope, reusable.id), isForeignKeyViolation, 'the link keeps the policy');
      assert.equal((await s.policiesOfApp(a.id)).length, 2, 'and the link is still there');
      await assert.rejects(s.insertPolicy(policy(a.id), { app_id: a.id, policy_id: randomUUID(), precedence: 1 }), (e) => isUniqueViolation(e) || isForeignKeyViolation(e));
      assert.equal(await s.deletePolicy(scope, own.id), true);
      assert.deepEqual((await s.policiesOfApp(a.id)).map((p) => p.id), [reusable.id]);
      await createAccessAppsStore(opened.db).delete(scope, a.id);
      assert.equal(await s.deletePolicy(scope, reusable.id), true, 'once the app is gone, so is the link');
    });

    it('CAs: one per app, enforced by the database, even under concurrent inserts', async () => {
      const s = createAccessCasStore(opened.db);
      const accountId = await account();
      const a = await app(accountId);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => s.insert(...caRows(a.id))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isUniqueViolation(r.reason), String(r.reason));
      const cas = await opened.db.selectFrom('ssh_cas').select('id').where('app_id', '=', a.id).execute();
      assert.equal(cas.length, 1);
      assert.equal((await s.keysOf(cas[0]!.id)).length, 1, 'no orphan keys from the refused inserts');
      assert.equal((await opened.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', 'not in', opened.db.selectFrom('ssh_cas').select('id')).execute()).length, 0);
    });

    it('CAs: sealed bytes round-trip; lookup joins the app\'s aud and the active key', async () => {
      const s = createAccessCasStore(opened.db);
      const a = await app(await account());
      const sealed = randomBytes(200);
      const [ca, key] = caRows(a.id, hex(24), sealed);
      await s.insert(ca, key);
      assert.deepEqual(await s.getByApp(a.id), { id: ca.id, app_id: a.id, aud: a.aud, public_key: key.public_key });
      const keys = await s.keysOf(ca.id);
      assert.deepEqual(Buffer.from(keys[0]!.private_key_sealed), sealed);
      await assert.rejects(
        opened.db.insertInto('ssh_ca_keys').values({ ...key, id: hex(16) }).execute(),
        isUniqueViolation,
        'a second active key for one CA is refused',
      );
      await opened.db.insertInto('ssh_ca_keys').values({ ...key, id: hex(16), state: 'next' }).execute();
      assert.equal((await s.keysOf(ca.id)).length, 2);
    });

    it('CAs: an insert for a missing app is a foreign key violation and writes nothing', async () => {
      const s = createAccessCasStore(opened.db);
      const [ca, key] = caRows(randomUUID());
      await assert.rejects(s.insert(ca, key), isForeignKeyViolation);
      assert.equal((await opened.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', '=', ca.id).execute()).length, 0);
    });

    it('CAs: listed by scope; deleting the app deletes the CA and its keys', async () => {
      const s = createAccessCasStore(opened.db);
      const accountId = await account();
      const apps = [await app(accountId), await app(accountId)];
      for (const a of apps) await s.insert(...caRows(a.id));
      const listed = await s.list({ accountId, zoneId: null }, 0, 10);
      assert.equal(listed.total, 2);
      assert.deepEqual(new Set(listed.rows.map((r) => r.app_id)), new Set(apps.map((a) => a.id)));
      const caId = (await s.getByApp(apps[0]!.id))!.id;
      await createAccessAppsStore(opened.db).delete({ accountId, zoneId: null }, apps[0]!.id);
      assert.equal(await s.getByApp(apps[0]!.id), undefined);
      assert.deepEqual(await s.keysOf(caId), []);
      assert.equal((await s.list({ accountId, zoneId: null }, 0, 10)).total, 1, 'the app\'s cascade took its CA out of the count');
      assert.equal(await s.deleteByApp(apps[1]!.id) !== undefined, true);
      assert.equal(await s.deleteByApp(apps[1]!.id), undefined);
      assert.deepEqual(await s.list({ accountId, zoneId: null }, 0, 10), { rows: [], total: 0 });
    });

    it('CAs: pages in creation order per scope (account and each zone apart), with totals that need no scan', async () => {
      const s = createAccessCasStore(opened.db);
      const accountId = await account();
      const zone = { id: hex(16), account_id: accountId, name: `${hex(4)}.example.com`, created_at: now() };
      await createIdentityStore(opened.db).insertZone(zone);
      const inAccount: string[] = [];
      for (let i = 0; i < 7; i++) {
        const a = await app(accountId);
        const [ca, key] = caRows(a.id);
        await s.insert({ ...ca, created_at: `2026-01-01T00:00:0${i}.000Z` }, key);
        inAccount.push(a.id);
      }
      const inZone = await app(accountId, zone.id);
      await s.insert(...caRows(inZone.id));
      const page = await s.list({ accountId, zoneId: null }, 2, 3);
      assert.equal(page.total, 7);
      assert.deepEqual(page.rows.map((r) => r.app_id), inAccount.slice(2, 5));
      assert.deepEqual((await s.list({ accountId, zoneId: zone.id }, 0, 10)).rows.map((r) => r.app_id), [inZone.id]);
      assert.equal((await s.list({ accountId, zoneId: zone.id }, 0, 10)).total, 1);
    });

    it('CAs: rotation steps one at a time under concurrency (add next, activate, retire); never zero or two active keys; each step commits with its event or not at all', async () => {
      const s = createAccessCasStore(opened.db);
      const accountId = await account();
      const a = await app(accountId);
      const [ca, original] = caRows(a.id);
      await s.insert(ca, original);
      const event = (type: string) => ({ id: hex(16), account_id: accountId, type, actor: 'test', subject: ca.id, data: '{}', created_at: now() });
      const nextKey = () => ({ ...original, id: hex(16), state: 'next', public_key: randomBytes(104).toString('base64'), created_at: now() });
      const states = async () => Object.fromEntries((await s.keysOf(ca.id)).map((k) => [k.id, k.state]));
      const refusals = (steps: { ok: boolean; refused?: string }[]) => steps.filter((r) => !r.ok).map((r) => r.refused);

      const adds = await Promise.all(Array.from({ length: 10 }, () => s.addNextKey(nextKey(), event('ssh_ca.rotated'))));
      assert.equal(adds.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(adds), Array(9).fill('next_exists'));
      const next = (await s.keysOf(ca.id)).find((k) => k.state === 'next')!;
      assert.ok(next);

      // An event that cannot be written undoes the whole step: the demotion too.
      const [taken] = await opened.db.selectFrom('audit_events').select('id').where('subject', '=', ca.id).execute();
      await assert.rejects(s.activateNextKey(ca.id, () => ({ ...event('ssh_ca.activated'), id: taken!.id })), isUniqueViolation);
      assert.deepEqual(await states(), { [original.id]: 'active', [next.id]: 'next' });

      // Readers watch the CA while ten activations race: each sees exactly one active key, the old or the new.
      let racing = true;
      const seen = new Set<string>();
      const watch = (async () => {
        while (racing) {
          const active = await opened.db.selectFrom('ssh_ca_keys').select('id').where('ca_id', '=', ca.id).where('state', '=', 'active').execute();
          assert.equal(active.length, 1, 'one active key at every moment');
          seen.add(active[0]!.id);
          assert.ok([original.id, next.id].includes((await s.signingKey(a.id))!.id));
        }
      })();
      const activations = await Promise.all(Array.from({ length: 10 }, () => s.activateNextKey(ca.id, ({ active, previous }) => ({ ...event('ssh_ca.activated'), data: JSON.stringify({ active: active.id, previous: previous.id }) }))));
      racing = false;
      await watch;
      assert.equal(activations.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(activations), Array(9).fill('no_next'));
      const won = activations.find((r) => r.ok) as { active: { id: string }; previous: { id: string } };
      assert.deepEqual([won.active.id, won.previous.id], [next.id, original.id]);
      assert.deepEqual(await states(), { [original.id]: 'previous', [next.id]: 'active' });
      assert.equal((await s.signingKey(a.id))?.id, next.id);
      assert.equal((await s.getByApp(a.id))?.public_key, next.public_key);
      assert.ok(seen.size >= 1);

      assert.deepEqual(await s.addNextKey(nextKey(), event('ssh_ca.rotated')), { ok: false, refused: 'previous_exists' });
      const retirements = await Promise.all(Array.from({ length: 10 }, () => s.retirePreviousKey(ca.id, () => event('ssh_ca.retired'))));
      assert.equal(retirements.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(retirements), Array(9).fill('no_previous'));
      assert.equal((retirements.find((r) => r.ok) as { retired: { id: string } }).retired.id, original.id);
      assert.deepEqual(await states(), { [next.id]: 'active' });
      assert.equal((await s.addNextKey(nextKey(), event('ssh_ca.rotated'))).ok, true, 'a new rotation may start');

      const types = (await opened.db.selectFrom('audit_events').select('type').where('subject', '=', ca.id).execute()).map((e) => e.type).sort();
      assert.deepEqual(types, ['ssh_ca.activated', 'ssh_ca.retired', 'ssh_ca.rotated', 'ssh_ca.rotated'], 'one event per step that changed something');

      const gone = hex(24);
      assert.deepEqual(await s.addNextKey({ ...nextKey(), ca_id: gone }, event('x')), { ok: false, refused: 'no_ca' });
      assert.deepEqual(await s.activateNextKey(gone, () => event('x')), { ok: false, refused: 'no_ca' });
      assert.deepEqual(await s.retirePreviousKey(gone, () => event('x')), { ok: false, refused: 'no_ca' });
      assert.equal((await opened.db.selectFrom('audit_events').select('id').where('type', '=', 'x').execute()).length, 0);
    });

    it('identity providers: one per issuer in an account, found by issuer, confined to the account', async () => {
      const s = createIdentityProvidersStore(opened.db);
      const accountId = await account();
      const row = { id: randomUUID(), account_id: accountId, name: 'idp', issuer: 'https://idp.example', jwks_url: 'https://idp.example/jwks', jwks_json: null, audiences: '[]', client_id: 'cli', client_secret_sealed: randomBytes(40), scopes: 'openid email', email_claim: 'email', email_verified_required: 0, email_domains: '["example.com"]', max_token_lifetime: 3600, created_at: now(), updated_at: now() };
      await s.insert(row);
      const found = await s.findByIssuer(accountId, row.issuer);
      assert.deepEqual({ ...found, client_secret_sealed: Buffer.from(found!.client_secret_sealed!) }, row);
      assert.equal(await s.findByIssuer(await account(), row.issuer), undefined);
      await assert.rejects(s.insert({ ...row, id: randomUUID() }), isUniqueViolation);
      const updated = await s.update(accountId, row.id, { name: 'renamed', issuer: row.issuer, jwks_url: null, jwks_json: '{"keys":[]}', audiences: '["x"]', client_id: null, client_secret_sealed: null, scopes: 'openid', email_claim: 'mail', email_verified_required: 1, email_domains: '[]', max_token_lifetime: 600, updated_at: now() });
      assert.equal(updated?.jwks_json, '{"keys":[]}');
      assert.deepEqual([updated?.email_verified_required, updated?.email_domains, updated?.max_token_lifetime], [1, '[]', 600]);
      assert.equal((await s.list(accountId, 0, 10)).total, 1);
      assert.equal(await s.delete(accountId, row.id), true);
      assert.equal(await s.get(accountId, row.id), undefined);
    });

    it('certificate policies: defaults until set; a put replaces; gone with the app', async () => {
      const s = createCertPolicyStore(opened.db);
      const accountId = await account();
      const a = await app(accountId);
      assert.deepEqual(await s.get(a.id), DEFAULT_POLICY);
      const policy = normalizePolicy({ ttl: '10m', principals: { allow: ['ops-*'] } });
      await s.put(a.id, policy, now());
      assert.deepEqual(await s.get(a.id), policy);
      const again = normalizePolicy({ ttl: '1m' });
      await s.put(a.id, again, now());
      assert.deepEqual(await s.get(a.id), again);
      await createAccessAppsStore(opened.db).delete({ accountId, zoneId: null }, a.id);
      assert.equal((await opened.db.selectFrom('ssh_cert_policies').select('app_id').where('app_id', '=', a.id).execute()).length, 0);
    });

    // SQLite's hot path commits through its writer thread; the same promises hold there.
    for (const through of ['the query builder', ...(engine === 'SQLite' ? ['the writer thread'] : [])]) it(`inventory (${through}): a batch is written whole or not at all; records outlive their CA`, async () => {
      const s = createCertInventoryStore(opened.db, through === 'the writer thread' ? opened.appendWriter : undefined);
      const accountId = await account();
      const a = await app(accountId);
      const [ca, key] = caRows(a.id);
      await createAccessCasStore(opened.db).insert(ca, key);
      const rec = (serial: string): IssuedRecord => {
        const id = hex(16);
        return {
          cert: { id, serial, ca_id: ca.id, ca_key_id: key.id, app_id: a.id, account_id: accountId, key_id: `k cert=${id}`, principals: '["a"]', valid_after: now(), valid_before: now(), identity: 'a@example.com', public_key_type: 'ssh-ed25519', public_key_fingerprint: 'SHA256:x', critical_options: '{}', extensions: '{}', source: 'api', created_at: now(), revoked_at: null, revocation_id: null },
          event: { id: hex(16), account_id: accountId, type: 'ssh_certificate.issued', actor: 'a@example.com', subject: id, data: '{}', created_at: now() },
        };
      };
      const batch = Array.from({ length: 50 }, (_, i) => rec(String(1000 + i)));
      await s.record(batch);
      assert.equal(await s.countForApp(a.id), 50);
      assert.equal((await s.get(batch[7]!.cert!.id))?.serial, '1007');
      assert.deepEqual({ ...(await s.get(batch[7]!.cert!.id)) }, batch[7]!.cert, 'every column as it was given');
      assert.deepEqual({ ...(await opened.db.selectFrom('audit_events').selectAll().where('id', '=', batch[7]!.event.id).executeTakeFirst()) }, batch[7]!.event);
      if (through === 'the query builder') {
        // A commit whose reply was lost is retried with the same records: it succeeds and writes nothing twice.
        await s.record(batch.slice(0, 3));
        assert.equal(await s.countForApp(a.id), 50);
        assert.equal((await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).execute()).length, 50);
      }
      // Text is checked at the edge; a lone surrogate that got past it is written as U+FFFD, and its batch is not refused.
      const odd = rec('4000');
      odd.cert!.key_id = `k \ud800 cert=${odd.cert!.id}`;
      await s.record([odd, rec('4001')]);
      assert.match((await s.get(odd.cert!.id))?.key_id ?? '', new RegExp(`^k \ufffd+ cert=${odd.cert!.id}$`));
      assert.equal(await s.countForApp(a.id), 52);
      await assert.rejects(s.record([rec('5000'), rec('1000')]), isUniqueViolation, 'a serial is unique per CA');
      assert.equal(await s.countForApp(a.id), 52, 'the failed batch left nothing behind');
      const events = await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).execute();
      assert.equal(events.length, 52);
      await createAccessAppsStore(opened.db).delete({ accountId, zoneId: null }, a.id);
      assert.equal(await s.countForApp(a.id), 52);
    });

    it('inventory: the KRL\'s index holds only revoked certificates, and revoked ones are found through it', async () => {
      const s = createCertInventoryStore(opened.db);
      const accountId = await account();
      const a = await app(accountId);
      const [ca, key] = caRows(a.id);
      await createAccessCasStore(opened.db).insert(ca, key);
      const later = new Date(Date.now() + 3_600_000).toISOString();
      await s.record(Array.from({ length: 30 }, (_, i) => {
        const id = hex(16);
        return {
          cert: { id, serial: String(i + 1), ca_id: ca.id, ca_key_id: key.id, app_id: a.id, account_id: accountId, key_id: `k cert=${id}`, principals: '["a"]', valid_after: now(), valid_before: later, identity: `p${i % 3}@example.com`, public_key_type: 'ssh-ed25519', public_key_fingerprint: `SHA256:${i}`, critical_options: '{}', extensions: '{}', source: 'api', created_at: now(), revoked_at: null, revocation_id: null },
          event: { id: hex(16), account_id: accountId, type: 'ssh_certificate.issued', actor: 'a', subject: id, data: '{}', created_at: now() },
        };
      }));
      const revocations = createRevocationStore(opened.db);
      const revocation = { id: hex(8), account_id: accountId, app_id: a.id, kind: 'identity', value: 'p1@example.com', reason: 'test', actor: 't', certificates: 0, created_at: now() };
      assert.equal(await revocations.revoke(a.id, { kind: 'identity', value: 'p1@example.com' }, revocation, () => ({ id: hex(16), account_id: accountId, type: 'ssh_certificate.revoked', actor: 't', subject: revocation.id, data: '{}', created_at: now() })), 10);
      const krl = await revocations.krlSource(a.id, ca.id, now());
      assert.deepEqual(krl.byCaKey.flatMap((k) => k.serials).map(Number).sort((x, y) => x - y), [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
      if (engine === 'SQLite') {
        // Partial: an issued (unrevoked) certificate does not write to it, and the KRL's query uses it.
        const inIndex = await sql<{ n: number }>`select count(*) as n from ssh_certificates indexed by ssh_certificates_app_revoked where app_id = ${a.id} and revoked_at is not null`.execute(opened.db);
        assert.equal(Number(inIndex.rows[0]!.n), 10);
        const plan = await sql<{ detail: string }>`explain query plan select ca_key_id, serial from ssh_certificates where app_id = ${a.id} and revoked_at is not null and valid_before > ${now()}`.execute(opened.db);
        assert.match(plan.rows.map((r) => r.detail).join(' | '), /ssh_certificates_app_revoked/);
      } else {
        const defs = await sql<{ indexdef: string }>`select indexdef from pg_indexes where indexname = 'ssh_certificates_app_revoked'`.execute(opened.db);
        assert.match(defs.rows[0]!.indexdef, /WHERE \(revoked_at IS NOT NULL\)/);
      }
      const indexes = engine === 'SQLite'
        ? (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'ssh_certificates'`.execute(opened.db)).rows.map((r) => r.name)
        : (await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'ssh_certificates'`.execute(opened.db)).rows.map((r) => r.name);
      assert.ok(!indexes.includes('ssh_certificates_ca_valid') && !indexes.includes('ssh_certificates_account'), `indexes nothing reads are gone: ${indexes.join(', ')}`);
    });

    if (engine === 'SQLite') it('inventory (the writer thread): the inserts of one turn of the event loop share one commit', async () => {
      const s = createCertInventoryStore(opened.db, opened.appendWriter);
      const accountId = await account();
      const commits: number[] = [];
      opened.appendWriter!.observe((size) => commits.push(size));
      await opened.appendWriter!.settled();
      commits.length = 0;
      await Promise.all(Array.from({ length: 25 }, () => s.record([{ event: { id: hex(16), account_id: accountId, type: 'ssh_certificate.refused', actor: 'a', subject: 'x', data: '{}', created_at: now() } }])));
      assert.deepEqual(commits, [25]);
      const events = await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).execute();
      assert.equal(events.length, 25);
      // A row JSON cannot carry fails alone; the others of its turn are written; a throwing metrics
      // callback leaves no request waiting.
      opened.appendWriter!.observe(() => { throw new Error('metrics failed'); });
      const event = () => ({ id: hex(16), account_id: accountId, type: 'ssh_certificate.refused', actor: 'a', subject: 'x', data: '{}', created_at: now() });
      const results = await Promise.allSettled([
        opened.appendWriter!.insert([{ table: 'audit_events', row: event() }]),
        opened.appendWriter!.insert([{ table: 'audit_events', row: { ...event(), data: 1n as unknown as string } }]),
        opened.appendWriter!.insert([{ table: 'audit_events', row: event() }]),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.match(String((results[1] as PromiseRejectedResult).reason), /could not be sent to the writer/);
      assert.equal((await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).execute()).length, 27);
      opened.appendWriter!.observe(() => {});
    });

    it('grant revisions: every change to what grants a certificate bumps its account\'s revision in the same commit; issuing and other accounts do not', async () => {
      const revisions = createGrantRevisionReader(opened.db);
      const accountId = await account();
      const bystander = await account();
      const bystanderApp = await app(bystander);
      const before = await revisions.current(bystander);
      let last = await revisions.current(accountId);
      const bumps = async (what: string, change: () => Promise<unknown>) => {
        await change();
        const now_ = await revisions.current(accountId);
        assert.ok(now_ > last, `${what} bumps the revision (${last} → ${now_})`);
        last = now_;
      };
      let a!: AppRow;
      await bumps('an app created', async () => { a = await app(accountId); });
      const [ca, key] = caRows(a.id);
      await bumps('a CA created', () => createAccessCasStore(opened.db).insert(ca, key));
      await bumps('a certificate policy set', () => createCertPolicyStore(opened.db).put(a.id, normalizePolicy({ ttl: '1m' }), now()));
      await bumps('a certificate policy replaced', () => createCertPolicyStore(opened.db).put(a.id, normalizePolicy({ ttl: '2m' }), now()));
      await bumps('a CA key changed', () => opened.db.updateTable('ssh_ca_keys').set({ state: 'active' }).where('id', '=', key.id).execute());
      const idp = { id: hex(16), account_id: accountId, name: 'p', issuer: `https://${hex(4)}.example`, jwks_url: null, jwks_json: '{"keys":[]}', audiences: '[]', client_id: null, client_secret_sealed: null, scopes: 'openid email', email_claim: 'email', email_verified_required: 1, email_domains: '[]', max_token_lifetime: 86400, created_at: now(), updated_at: now() };
      await bumps('a provider added', () => createIdentityProvidersStore(opened.db).insert(idp));
      await bumps('a key revoked', () => opened.db.insertInto('ssh_revoked_keys').values({ app_id: a.id, fingerprint: 'SHA256:x', revocation_id: hex(8), created_at: now() }).execute());
      const unchanged = await revisions.current(accountId);
      await createCertInventoryStore(opened.db).record([{ event: { id: hex(16), account_id: accountId, type: 'ssh_certificate.refused', actor: 'x', subject: a.id, data: '{}', created_at: now() } }]);
      assert.equal(await revisions.current(accountId), unchanged, 'issuing and refusing write nothing that grants');
      await bumps('a provider removed', () => createIdentityProvidersStore(opened.db).delete(accountId, idp.id));
      await bumps('the app deleted (its CA, keys and policy with it)', () => createAccessAppsStore(opened.db).delete({ accountId, zoneId: null }, a.id));
      assert.equal(await revisions.current(bystander), before, `another account's changes leave ${bystanderApp.id}'s account alone`);
    });

    it('grant revisions: the store\'s own reader never sees a change before it commits, nor one rolled back', async () => {
      const reader = opened.grantRevisions();
      const accountId = await account();
      const before = await reader.current(accountId);
      const row: AppRow = { id: randomUUID(), account_id: accountId, zone_id: null, aud: hex(32), name: 'n', domain: null, host: null, type: 'self_hosted', session_duration: '24h', created_at: now(), updated_at: now() };
      await assert.rejects(opened.db.transaction().execute(async (trx) => {
        await trx.insertInto('access_apps').values(row).execute();
        // Another request reads between this transaction's statements: the old revision, or it waits.
        const during = await Promise.race([reader.current(accountId), new Promise<string>((r) => setTimeout(() => r('waited'), 200))]);
        assert.ok(during === before || during === 'waited', `an uncommitted change was seen: ${during} (before: ${before})`);
        throw new Error('roll back');
      }), /roll back/);
      assert.equal(await reader.current(accountId), before, 'a rolled-back change leaves the revision as it was');
      await app(accountId);
      assert.ok(await reader.current(accountId) > before, 'a committed change is seen');
    });

    it('grant revisions: reads asked together (one turn, several accounts) each get their own account\'s revision, and see what committed before they were asked', async () => {
      const reader = opened.grantRevisions();
      const [a, b, c] = [await account(), await account(), await account()];
      await app(a);
      await app(a);
      await app(b);
      const [ra, rb, rc, ra2] = await Promise.all([reader.current(a), reader.current(b), reader.current(c), reader.current(a)]);
      assert.ok(ra > rb && rb > rc, `a (two apps) > b (one) > c (none): ${ra}, ${rb}, ${rc}`);
      assert.equal(rc, 0);
      assert.equal(ra2, ra);
      // A change acknowledged before a read is asked is seen by it, even among others asked in the same turn.
      await app(c);
      const [rb2, rc2] = await Promise.all([reader.current(b), reader.current(c)]);
      assert.equal(rb2, rb);
      assert.ok(rc2 > rc);
      // Many accounts in one turn: more than one statement's worth.
      const many = await Promise.all(Array.from({ length: 1_200 }, (_, i) => reader.current(i === 700 ? a : `no-such-account-${i}`)));
      assert.equal(many[700], ra);
      assert.equal(many.filter((r) => r === 0).length, 1_199);
    });
  });
}
