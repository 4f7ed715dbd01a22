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
import { createAccessPoliciesStore, type PolicyRow } from '../../src/access-policies/access-policies-store.ts';
import { DEFAULT_POLICY, normalizePolicy } from '../../src/ssh-certs/policy/cert-policy.ts';
import { createCertInventoryStore, type IssuedRecord } from '../../src/ssh-certs/cert-inventory-store.ts';
import { createGrantRevisionReader } from '../../src/platform/db/grant-revisions.ts';
import { createRevocationStore } from '../../src/ssh-certs/revocation-store.ts';
import { createTargetsStore, type TargetFilter, type TargetRow } from '../../src/infrastructure/targets-store.ts';
import { createHostEnrollmentStore, type EnrollmentRow, type JoinTokenRow } from '../../src/infrastructure/host-enrollment-store.ts';
import { createHostCaStore, type HostCaKeyRow } from '../../src/infrastructure/host-ca-store.ts';
import { createGatewayCaStore } from '../../src/access-cas/gateway-ca-store.ts';
import { exportStore } from '../../src/platform/db/store-transfer.ts';

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
      const row: AppRow = { id: randomUUID(), account_id: accountId, zone_id: zoneId, aud: hex(32), name: 'n', domain: null, host: null, type: 'self_hosted', session_duration: '24h', settings: '{}', target_criteria: null, created_at: now(), updated_at: now() };
      await createAccessAppsStore(opened.db).insert(row);
      return row;
    };
    const caRows = (appId: string, caId = hex(24), sealed: Buffer = randomBytes(80)) => [
      { id: caId, app_id: appId, created_at: now() },
      { id: hex(16), ca_id: caId, state: 'active', algorithm: 'ecdsa-sha2-nistp256', public_key: randomBytes(104).toString('base64'), private_key_sealed: sealed, created_at: now() },
    ] as const;

    it('export is one point in time: an account and its zone committed by another connection mid-export are in it whole or not at all', async () => {
      const mine = await account();
      await createIdentityStore(opened.db).insertZone({ id: hex(16), account_id: mine, name: `${hex(4)}.example.com`, created_at: now() });
      // The check row an export needs (a served store always has it).
      await opened.db.insertInto('settings').values({ name: 'master_key_check', value: 'check' }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const other = await tdb.open();
      const late = { account: hex(16), zone: hex(16) };
      try {
        const doc = await exportStore(opened.db, new Date(), {
          afterTable: async (table) => {
            if (table !== 'accounts') return;
            // Committed on its own connection after the export read accounts and before it reads zones.
            await createIdentityStore(other.db).insertAccount({ id: late.account, name: 'late', created_at: now() });
            await createIdentityStore(other.db).insertZone({ id: late.zone, account_id: late.account, name: `${hex(4)}.example.com`, created_at: now() });
          },
        });
        const accounts = new Set(doc.tables.accounts.map((r) => r['id']));
        assert.ok(accounts.has(mine), 'the export holds what was there before it began');
        assert.equal(accounts.has(late.account), false, 'the account committed mid-export is not in it');
        assert.deepEqual(doc.tables.zones.filter((z) => !accounts.has(z['account_id'])).map((z) => z['id']), [], 'no zone without its account');
        assert.ok(doc.tables.zones.some((z) => z['account_id'] === mine));
        assert.equal(await other.db.selectFrom('zones').select('id').where('id', '=', late.zone).executeTakeFirst().then((r) => r?.id), late.zone, 'the late write committed');
      } finally {
        await other.close();
      }
    });

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
      const policy = (appId: string | null) => ({ id: randomUUID(), account_id: accountId, zone_id: null, app_id: appId, name: 'p', decision: 'deny', ...rules, session_duration: null, settings: '{}', connection_rules: null, created_at: now(), updated_at: now() });
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

    it('whole objects (0013): app settings and target criteria, policy settings and connection rules round-trip; a row written without them reads the defaults', async () => {
      const apps = createAccessAppsStore(opened.db);
      const s = createAccessPoliciesStore(opened.db);
      const accountId = await account();
      const scope = { accountId, zoneId: null };
      const settings = JSON.stringify({ allowed_idps: [randomUUID()], cors_headers: { allowed_methods: ['GET'], max_age: -1 }, tags: ['ünïcode', 'b'] });
      const criteria = JSON.stringify([{ port: 22, protocol: 'SSH', target_attributes: { hostname: ['db-1'] } }]);
      const a: AppRow = { ...(await app(accountId)), id: randomUUID(), aud: hex(32), type: 'infrastructure', session_duration: '', settings, target_criteria: criteria };
      await apps.insert(a);
      assert.deepEqual(await apps.get(scope, a.id), a);
      const updated = await apps.update(scope, a.id, { name: 'n', domain: null, host: null, type: 'infrastructure', session_duration: '', settings: '{}', target_criteria: null, updated_at: now() });
      assert.deepEqual([updated?.settings, updated?.target_criteria], ['{}', null]);
      assert.deepEqual(await s.appGates(a.id), { name: 'n', type: 'infrastructure', session_duration: '', settings: '{}' });
      assert.equal(await s.appGates(randomUUID()), undefined);
      // A row written before 0013, as older code (and the bench seeder) writes it: the columns' defaults.
      const bare = { id: randomUUID(), account_id: accountId, zone_id: null, aud: hex(32), name: 'bare', domain: null, host: null, type: 'self_hosted', session_duration: '24h', created_at: now(), updated_at: now() };
      await opened.db.insertInto('access_apps').values(bare).execute();
      assert.deepEqual([(await apps.get(scope, bare.id))?.settings, (await apps.get(scope, bare.id))?.target_criteria], ['{}', null]);

      const rules = { include: '[{"everyone":{}}]', exclude: '[]', require: '[]' };
      const policy = (appId: string | null, extra: Partial<PolicyRow> = {}): PolicyRow => ({ id: randomUUID(), account_id: accountId, zone_id: null, app_id: appId, name: 'p', decision: 'allow', ...rules, session_duration: null, settings: '{}', connection_rules: null, created_at: now(), updated_at: now(), ...extra });
      const withRules = policy(a.id, { settings: '{"approval_required":true}', connection_rules: '{"ssh":{"usernames":["deploy"]}}' });
      await s.insertPolicy(withRules, { app_id: a.id, policy_id: withRules.id, precedence: 1 });
      assert.deepEqual(await s.getPolicy(scope, withRules.id), withRules);
      const reusable = policy(null);
      await s.insertPolicy(reusable);
      // An application's whole set written anew in its transaction: one own policy dropped, one changed, one added, links and events.
      const dropped = policy(a.id);
      await s.insertPolicy(dropped, { app_id: a.id, policy_id: dropped.id, precedence: 2 });
      const added = policy(a.id, { name: 'added' });
      const changed = { ...withRules, name: 'changed', connection_rules: null };
      const event = { id: hex(16), account_id: accountId, type: 'access_policy.created', actor: 'cli', subject: added.id, data: '{}', created_at: now() };
      await opened.db.transaction().execute((trx) => s.replaceAppPolicies(a.id, {
        remove: [dropped.id], change: [changed], add: [added],
        links: [{ app_id: a.id, policy_id: added.id, precedence: 1 }, { app_id: a.id, policy_id: changed.id, precedence: 2 }, { app_id: a.id, policy_id: reusable.id, precedence: 3 }],
        audit: [event],
      })(trx));
      assert.deepEqual((await s.policiesOfApp(a.id)).map((p) => [p.id, p.precedence, p.name, p.connection_rules]),
        [[added.id, 1, 'added', null], [changed.id, 2, 'changed', null], [reusable.id, 3, 'p', null]]);
      assert.equal(await s.getPolicy(scope, dropped.id), undefined);
      assert.equal((await opened.db.selectFrom('audit_events').select('id').where('id', '=', event.id).execute()).length, 1);
      assert.deepEqual(await s.appsUsing(reusable.id), [{ id: a.id, name: 'n', type: 'infrastructure' }]);
      // A provider named by an application's allowed_idps is in use, whatever the case of its id there.
      const idp = randomUUID();
      await apps.update(scope, a.id, { name: 'uses idp', domain: null, host: null, type: 'infrastructure', session_duration: '', settings: JSON.stringify({ allowed_idps: [idp.toUpperCase()] }), updated_at: now() });
      assert.deepEqual(await s.referencesTo(accountId, idp), ['application "uses idp"']);
      assert.deepEqual(await s.referencesTo(await account(), idp), [], 'another account\'s applications are not asked');
      // A failed whole write leaves the set as it was.
      await assert.rejects(opened.db.transaction().execute((trx) => s.replaceAppPolicies(a.id, {
        remove: [], change: [], add: [], links: [{ app_id: a.id, policy_id: added.id, precedence: 1 }, { app_id: a.id, policy_id: randomUUID(), precedence: 2 }], audit: [],
      })(trx)), isForeignKeyViolation);
      assert.equal((await s.policiesOfApp(a.id)).length, 3);
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
      const row = { id: randomUUID(), account_id: accountId, name: 'idp', issuer: 'https://idp.example', jwks_url: 'https://idp.example/jwks', jwks_json: null, audiences: '[]', client_id: 'cli', client_secret_sealed: randomBytes(40), scopes: 'openid email', email_claim: 'email', email_verified_required: 0, email_domains: '["example.com"]', max_token_lifetime: 3600, trial_key_sealed: randomBytes(60), created_at: now(), updated_at: now() };
      await s.insert(row);
      const found = await s.findByIssuer(accountId, row.issuer);
      assert.deepEqual({ ...found, client_secret_sealed: Buffer.from(found!.client_secret_sealed!), trial_key_sealed: Buffer.from(found!.trial_key_sealed!) }, row);
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
      const revocation = { id: hex(8), account_id: accountId, app_id: a.id, kind: 'identity', value: 'p1@example.com', reason: 'test', actor: 't', certificates: 0, created_at: now(), lifted_at: null, lifted_by: null };
      assert.equal(await revocations.revoke({ accountId, appId: a.id, via: a.id }, { kind: 'identity', value: 'p1@example.com' }, revocation, () => ({ id: hex(16), account_id: accountId, type: 'ssh_certificate.revoked', actor: 't', subject: revocation.id, data: '{}', created_at: now() })), 10);
      const krl = await revocations.krlSource(accountId, a.id, ca.id, now());
      assert.deepEqual(krl.byCaKey.flatMap((k) => k.serials).map(Number).sort((x, y) => x - y), [2, 5, 8, 11, 14, 17, 20, 23, 26, 29]);
      if (engine === 'SQLite') {
        // Partial: an issued (unrevoked) certificate does not write to it, and the KRL's query uses it.
        const inIndex = await sql<{ n: number }>`select count(*) as n from ssh_certificates indexed by ssh_certificates_app_revoked where app_id = ${a.id} and revoked_at is not null`.execute(opened.db);
        assert.equal(Number(inIndex.rows[0]!.n), 10);
        const plan = await sql<{ detail: string }>`explain query plan select ca_key_id, serial from ssh_certificates where app_id = ${a.id} and revoked_at is not null and valid_before > ${now()}`.execute(opened.db);
        assert.match(plan.rows.map((r) => r.detail).join(' | '), /ssh_certificates_app_revoked/);
        // A host KRL's chunked read (infrastructure/host-bundle-service.ts) seeks and walks the index: no sort of what follows.
        const chunk = await sql<{ detail: string }>`explain query plan select ca_key_id, serial, valid_before, id from ssh_certificates where app_id = ${a.id} and revoked_at is not null and valid_before >= ${now()} and (valid_before, id) > (${now()}, ${'0'}) order by valid_before, id limit 5000`.execute(opened.db);
        const detail = chunk.rows.map((r) => r.detail).join(' | ');
        assert.match(detail, /ssh_certificates_app_revoked/);
        assert.doesNotMatch(detail, /TEMP B-TREE/, detail);
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

    it('revocations: a person and a key reach every app of the account; a principal blocks until lifted; key id families; blocks bump the grant revision', async () => {
      const inventory = createCertInventoryStore(opened.db);
      const store = createRevocationStore(opened.db);
      const revisions = createGrantRevisionReader(opened.db);
      const accountId = await account();
      const other = await account();
      const [a, b, c] = [await app(accountId), await app(accountId), await app(other)];
      const cas = createAccessCasStore(opened.db);
      const keys = new Map<string, string>();
      for (const x of [a, b, c]) {
        const [ca, key] = caRows(x.id);
        await cas.insert(ca, key);
        keys.set(x.id, key.id);
      }
      const later = new Date(Date.now() + 3_600_000).toISOString();
      let serial = 1;
      const cert = async (x: AppRow, fields: { identity: string; principals?: string[]; label?: string; fingerprint?: string; source?: string }) => {
        const id = hex(16);
        await inventory.record([{
          cert: {
            id, serial: String(serial++), ca_id: (await cas.getByApp(x.id))!.id, ca_key_id: keys.get(x.id)!, app_id: x.id, account_id: x.account_id,
            key_id: `${fields.identity} cert=${id}${fields.label ? ` label=${fields.label}` : ''}`, principals: JSON.stringify(fields.principals ?? ['p']),
            valid_after: now(), valid_before: later, identity: fields.identity, public_key_type: 'ssh-ed25519', public_key_fingerprint: fields.fingerprint ?? `SHA256:${hex(8)}`,
            critical_options: '{}', extensions: '{}', source: fields.source ?? 'cert_sign', created_at: now(), revoked_at: null, revocation_id: null,
          },
          event: { id: hex(16), account_id: x.account_id, type: 'ssh_certificate.issued', actor: 'x', subject: id, data: '{}', created_at: now() },
        }]);
        return id;
      };
      const revoke = (appId: string | null, via: string | null, kind: string, value: string, account_ = accountId) => {
        const row = { id: randomUUID(), account_id: account_, app_id: appId, kind, value, reason: 'r', actor: 't', certificates: 0, created_at: now(), lifted_at: null, lifted_by: null };
        return store.revoke({ accountId: account_, appId, via }, { kind, value } as never, row, () => ({ id: hex(16), account_id: account_, type: 'ssh_certificate.revoked', actor: 't', subject: row.id, data: '{}', created_at: now() }))
          .then((n) => ({ n, id: row.id, at: row.created_at }));
      };
      const revokedIds = async () => new Set((await opened.db.selectFrom('ssh_certificates').select('id').where('revoked_at', 'is not', null).execute()).map((r) => r.id));

      // A person: every app of the account, not another account's; their sign-ins before it are cut off.
      const inA = await cert(a, { identity: 'dee@example.com' });
      const inB = await cert(b, { identity: 'dee@example.com' });
      const elsewhere = await cert(c, { identity: 'dee@example.com' });
      assert.equal(await store.signInCutoff(accountId, a.id, 'dee@example.com'), null);
      const before = await revisions.current(accountId);
      const person = await revoke(null, null, 'identity', 'dee@example.com');
      assert.equal(person.n, 2);
      assert.ok(await revisions.current(accountId) > before, 'a revocation bumps the grant revision');
      let revoked = await revokedIds();
      assert.ok(revoked.has(inA) && revoked.has(inB) && !revoked.has(elsewhere));
      assert.equal(await store.signInCutoff(accountId, b.id, 'dee@example.com'), person.at);
      assert.equal(await store.signInCutoff(other, c.id, 'dee@example.com'), null, 'another account is untouched');
      assert.equal(await store.signInCutoff(accountId, a.id, 'eve@example.com'), null);
      const krlA = await store.krlSource(accountId, a.id, (await cas.getByApp(a.id))!.id, now());
      assert.ok(krlA.version >= 1 && (await store.krlSource(accountId, b.id, null, now())).version >= 1, 'both apps\' KRLs move on');

      // An app's tokens: its people's certificates (not automation's), and a cut-off for everyone of the app only.
      const person2 = await cert(a, { identity: 'fay@example.com' });
      const robot = await cert(a, { identity: 'token:abc', source: 'api' });
      const tokens = await revoke(a.id, a.id, 'tokens', '');
      assert.equal(tokens.n, 1);
      revoked = await revokedIds();
      assert.ok(revoked.has(person2) && !revoked.has(robot));
      assert.equal(await store.signInCutoff(accountId, a.id, 'anyone@example.com'), tokens.at);
      assert.equal(await store.signInCutoff(accountId, b.id, 'anyone@example.com'), null);

      // A principal: exact (not case-folded, not a substring), blocked until lifted, certificates stay revoked.
      const db1 = await cert(a, { identity: 'gil@example.com', principals: ['db', 'web'] });
      const dbUpper = await cert(a, { identity: 'gil@example.com', principals: ['DB'] });
      const dbx = await cert(a, { identity: 'gil@example.com', principals: ['dbx'] });
      const principal = await revoke(a.id, a.id, 'principal', 'db');
      assert.equal(principal.n, 1);
      revoked = await revokedIds();
      assert.ok(revoked.has(db1) && !revoked.has(dbUpper) && !revoked.has(dbx));
      assert.deepEqual(await store.blockedPrincipals(a.id), ['db']);
      assert.deepEqual(await store.blockedPrincipals(b.id), []);
      const audit = (row: { id: string }) => ({ id: hex(16), account_id: accountId, type: 'ssh_revocation.lifted', actor: 't', subject: row.id, data: '{}', created_at: now() });
      assert.deepEqual(await store.lift(accountId, b.id, principal.id, now(), 'u', audit), { refused: 'not_found' }, 'only through its own app');
      assert.deepEqual(await store.lift(other, a.id, principal.id, now(), 'u', audit), { refused: 'not_found' }, 'only in its own account');
      const lifted = await store.lift(accountId, a.id, principal.id, now(), 'u', audit);
      assert.ok('lifted' in lifted && lifted.lifted.lifted_by === 'u');
      assert.deepEqual(await store.blockedPrincipals(a.id), []);
      assert.ok((await revokedIds()).has(db1), 'lifting un-revokes nothing');
      assert.equal((await store.lift(accountId, a.id, principal.id, now(), 'u', audit) as { refused: string }).refused, 'already_lifted');
      assert.equal((await store.lift(accountId, a.id, person.id, now(), 'u', audit) as { refused: string }).refused, 'not_liftable', 'an account-wide person revocation is seen, and stands');

      // Key ids: a label's family, an identity's family, one whole key id; a label is matched whole, at the end.
      const l1 = await cert(b, { identity: 'hal@example.com', label: 'deploy-7' });
      const l2 = await cert(b, { identity: 'ivy@example.com', label: 'deploy-7' });
      const l3 = await cert(b, { identity: 'hal@example.com', label: 'xdeploy-7' });
      const l4 = await cert(b, { identity: 'jon@example.com', label: 'deploy-70' });
      assert.equal((await revoke(b.id, b.id, 'key_id', 'label=deploy-7')).n, 2);
      revoked = await revokedIds();
      assert.ok(revoked.has(l1) && revoked.has(l2) && !revoked.has(l3) && !revoked.has(l4));
      assert.equal((await revoke(b.id, b.id, 'key_id', 'hal@example.com')).n, 1, 'the identity part: the one of hal\'s left');
      assert.ok((await revokedIds()).has(l3));
      const whole = (await opened.db.selectFrom('ssh_certificates').select('key_id').where('id', '=', l4).executeTakeFirstOrThrow()).key_id;
      assert.equal((await revoke(b.id, b.id, 'key_id', whole)).n, 1);

      // A user key: every app of the account refuses it and lists it; another account does not.
      const fp = `SHA256:${hex(8)}`;
      const keyInB = await cert(b, { identity: 'kim@example.com', fingerprint: fp });
      const keyElsewhere = await cert(c, { identity: 'kim@example.com', fingerprint: fp });
      assert.equal((await revoke(null, a.id, 'key', fp)).n, 1);
      revoked = await revokedIds();
      assert.ok(revoked.has(keyInB) && !revoked.has(keyElsewhere));
      assert.ok(await store.isKeyRevoked(accountId, fp));
      assert.ok(!(await store.isKeyRevoked(other, fp)));
      assert.ok((await store.krlSource(accountId, b.id, null, now())).fingerprints.includes(fp));
      assert.ok(!(await store.krlSource(other, c.id, null, now())).fingerprints.includes(fp));

      // The revocations that reach an app: its own and the account's, newest first; not another app's.
      const listed = await store.listRevocations(accountId, a.id, 0, 100);
      assert.deepEqual(new Set(listed.rows.map((r) => r.kind)), new Set(['identity', 'tokens', 'principal', 'key']));
      assert.equal(listed.total, 4);
      assert.equal((await store.getRevocation(accountId, b.id, principal.id)), undefined);
      assert.equal((await store.getRevocation(accountId, b.id, person.id))?.app_id, null);
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
      const idp = { id: hex(16), account_id: accountId, name: 'p', issuer: `https://${hex(4)}.example`, jwks_url: null, jwks_json: '{"keys":[]}', audiences: '[]', client_id: null, client_secret_sealed: null, scopes: 'openid email', email_claim: 'email', email_verified_required: 1, email_domains: '[]', max_token_lifetime: 86400, trial_key_sealed: null, created_at: now(), updated_at: now() };
      await bumps('a provider added', () => createIdentityProvidersStore(opened.db).insert(idp));
      await bumps('a key revoked', () => opened.db.insertInto('ssh_revoked_keys').values({ app_id: a.id, fingerprint: 'SHA256:x', revocation_id: hex(8), created_at: now() }).execute());
      const block = { id: randomUUID(), account_id: accountId, app_id: a.id, kind: 'principal', value: 'db', reason: 'r', actor: 't', certificates: 0, created_at: now(), lifted_at: null, lifted_by: null };
      await bumps('a revocation recorded', () => opened.db.insertInto('ssh_revocations').values(block).execute());
      await bumps('a block lifted', () => opened.db.updateTable('ssh_revocations').set({ lifted_at: now(), lifted_by: 'u' }).where('id', '=', block.id).execute());
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
      const row: AppRow = { id: randomUUID(), account_id: accountId, zone_id: null, aud: hex(32), name: 'n', domain: null, host: null, type: 'self_hosted', session_duration: '24h', settings: '{}', target_criteria: null, created_at: now(), updated_at: now() };
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

    // The fleet: infrastructure targets, join tokens and enrolled hosts, the host CA, and the fleet revision.
    const target = (accountId: string, fields: Partial<TargetRow> = {}): TargetRow => {
      const hostname = fields.hostname ?? `H${hex(4)}.Example.com`;
      return { id: randomUUID(), account_id: accountId, hostname, host: hostname.toLowerCase(), ipv4: null, ipv4_vnet: null, ipv6: null, ipv6_vnet: null, tags: '{}', aliases: '[]', created_at: now(), modified_at: now(), ...fields };
    };
    const auditRow = (accountId: string, type: string, subject: string) => ({ id: hex(16), account_id: accountId, type, actor: 'test', subject, data: '{}', created_at: now() });
    const eventTypes = async (accountId: string, subject?: string) => {
      let q = opened.db.selectFrom('audit_events').select('type').where('account_id', '=', accountId);
      if (subject !== undefined) q = q.where('subject', '=', subject);
      return (await q.execute()).map((e) => e.type).sort();
    };
    const eventExists = async (id: string) => (await opened.db.selectFrom('audit_events').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
    /** An ISO time `s` seconds from a fixed base, so that expiries can be crossed without waiting. */
    const base = Date.now();
    const at = (s: number) => new Date(base + s * 1000).toISOString();
    const joinToken = (t: TargetRow, fields: Partial<JoinTokenRow> = {}): JoinTokenRow => ({
      id: hex(16), account_id: t.account_id, target_id: t.id, secret_sha256: hex(32), host_key_fingerprints: '[]', challenge: null, challenge_expires_at: null,
      expires_at: at(3600), used_at: null, created_by: 'test', created_at: now(), ...fields,
    });
    const enrollmentRow = (t: TargetRow, fields: Partial<EnrollmentRow> = {}): EnrollmentRow => ({
      id: hex(16), account_id: t.account_id, target_id: t.id, secret_sha256: hex(32), host_keys: JSON.stringify([randomBytes(51).toString('base64')]), created_at: now(), last_seen_at: null, ...fields,
    });
    /** A host enrolled the way the service does it: a token, a challenge, and the enrollment that uses both. */
    const enrolled = async (t: TargetRow, fields: Partial<EnrollmentRow> = {}): Promise<EnrollmentRow> => {
      const s = createHostEnrollmentStore(opened.db);
      const token = joinToken(t);
      await s.insertJoinToken(token, auditRow(t.account_id, 'host_join_token.created', token.id));
      const challenge = hex(16);
      assert.equal(await s.setChallenge(token.id, challenge, at(300), at(0)), true);
      const row = enrollmentRow(t, fields);
      assert.equal(await s.enroll(token.id, challenge, at(1), row, auditRow(t.account_id, 'host.enrolled', row.id)), true);
      return row;
    };
    const hostCaRows = (accountId: string, fields: Partial<HostCaKeyRow> = {}) => {
      const caId = hex(16);
      return [
        { id: caId, account_id: accountId, max_ttl: 86_400, created_at: now() },
        { id: hex(16), ca_id: caId, account_id: accountId, state: 'active', algorithm: 'ssh-ed25519', public_key: randomBytes(51).toString('base64'), private_key_sealed: randomBytes(80), created_at: now(), ...fields },
      ] as const;
    };

    it('targets: inserted with their event; got, found by host and listed (exact filters, hostContains as a literal, either address\'s virtual network, pages and totals) only within their account', async () => {
      const s = createTargetsStore(opened.db);
      const accountId = await account();
      const other = await account();
      const vnet = randomUUID();
      const vnet2 = randomUUID();
      const suffix = `${hex(4)}.example.com`;
      const t = [
        target(accountId, { hostname: `A_b.${suffix}`, ipv4: '10.0.0.1', ipv4_vnet: vnet, created_at: '2026-01-01T00:00:00.000Z' }),
        target(accountId, { hostname: `axb.${suffix}`, ipv6: 'fd00::1', ipv6_vnet: vnet, created_at: '2026-01-01T00:00:01.000Z' }),
        target(accountId, { hostname: `a%b.${suffix}`, ipv4: '10.0.0.2', ipv4_vnet: vnet2, created_at: '2026-01-01T00:00:02.000Z' }),
        target(accountId, { hostname: `aqb.${suffix}`, ipv4: '10.0.0.1', created_at: '2026-01-01T00:00:03.000Z' }),
        target(accountId, { hostname: `a\\b.${suffix}`, ipv6: 'fd00::2', created_at: '2026-01-01T00:00:04.000Z' }),
        target(accountId, { hostname: `a_b.${suffix}`, created_at: '2026-01-01T00:00:05.000Z' }),
      ] as const;
      const event = auditRow(accountId, 'target.created', t[0].id);
      await s.insert(t[0], async (trx) => { await trx.insertInto('audit_events').values(event).execute(); });
      assert.equal(await eventExists(event.id), true, 'the insert\'s `also` wrote its event');
      for (const row of t.slice(1)) await s.insert(row);
      const theirs = target(other, { hostname: `a_b.${suffix}`, ipv4: '10.0.0.1', ipv4_vnet: vnet });
      await s.insert(theirs);
      // The insert and its `also` commit together or not at all.
      const refused = target(accountId);
      await assert.rejects(s.insert(refused, async () => { throw new Error('also failed'); }), /also failed/);
      assert.equal(await s.get(accountId, refused.id), undefined);

      assert.deepEqual({ ...(await s.get(accountId, t[0].id)) }, t[0]);
      assert.equal(await s.get(other, t[0].id), undefined);
      assert.equal(await s.get(accountId, theirs.id), undefined);
      assert.deepEqual((await s.byHost(accountId, `a_b.${suffix}`)).map((r) => r.id), [t[0].id, t[5].id], 'same host, oldest first');
      assert.deepEqual((await s.byHost(other, `a_b.${suffix}`)).map((r) => r.id), [theirs.id]);
      assert.deepEqual(await s.byHost(accountId, `A_b.${suffix}`), [], 'the lowercased host is what is matched');

      const ids = async (filter: TargetFilter, offset = 0, limit = 100) => {
        const { rows, total } = await s.list(accountId, filter, offset, limit);
        return { ids: rows.map((r) => r.id), total };
      };
      const all = t.map((r) => r.id);
      assert.deepEqual(await ids({}, 0, 4), { ids: all.slice(0, 4), total: 6 });
      assert.deepEqual(await ids({}, 4, 4), { ids: all.slice(4), total: 6 });
      assert.deepEqual(await ids({}, 6, 4), { ids: [], total: 6 });
      assert.deepEqual(await ids({ host: `a_b.${suffix}` }), { ids: [t[0].id, t[5].id], total: 2 });
      assert.deepEqual(await ids({ host: `a%b.${suffix}` }), { ids: [t[2].id], total: 1 });
      assert.deepEqual(await ids({ hostContains: '_' }), { ids: [t[0].id, t[5].id], total: 2 }, '`_` is itself, not any character');
      assert.deepEqual(await ids({ hostContains: '%' }), { ids: [t[2].id], total: 1 }, '`%` is itself, not any run');
      assert.deepEqual(await ids({ hostContains: '\\' }), { ids: [t[4].id], total: 1 }, 'the escape character is itself');
      assert.deepEqual(await ids({ hostContains: 'a_b.' }), { ids: [t[0].id, t[5].id], total: 2 });
      assert.deepEqual(await ids({ hostContains: suffix }), { ids: all, total: 6 });
      assert.deepEqual(await ids({ hostContains: 'zz' }), { ids: [], total: 0 });
      assert.deepEqual(await ids({ hostContains: '_' }, 1, 1), { ids: [t[5].id], total: 2 });
      assert.deepEqual(await ids({ ipv4: '10.0.0.1' }), { ids: [t[0].id, t[3].id], total: 2 });
      assert.deepEqual(await ids({ ipv6: 'fd00::1' }), { ids: [t[1].id], total: 1 });
      assert.deepEqual(await ids({ virtualNetworkId: vnet }), { ids: [t[0].id, t[1].id], total: 2 }, 'either address\'s network');
      assert.deepEqual(await ids({ virtualNetworkId: vnet2 }), { ids: [t[2].id], total: 1 });
      assert.deepEqual(await ids({ ipv4: '10.0.0.1', virtualNetworkId: vnet }), { ids: [t[0].id], total: 1 }, 'filters combine');
      assert.deepEqual(await ids({ hostContains: 'q', ipv4: '10.0.0.2' }), { ids: [], total: 0 });
      const theirList = await s.list(other, { ipv4: '10.0.0.1', virtualNetworkId: vnet }, 0, 10);
      assert.deepEqual([theirList.rows.map((r) => r.id), theirList.total], [[theirs.id], 1]);
    });

    it('targets: update and delete are confined to the account and commit with their `also`; deleting a target takes its join tokens and enrolled hosts', async () => {
      const s = createTargetsStore(opened.db);
      const hosts = createHostEnrollmentStore(opened.db);
      const accountId = await account();
      const other = await account();
      const t = target(accountId, { aliases: '["old.internal"]' });
      const kept = target(accountId);
      await s.insert(t);
      await s.insert(kept);
      const fields = (hostname: string) => ({ hostname, host: hostname.toLowerCase(), ipv4: '192.0.2.7', ipv4_vnet: null, ipv6: null, ipv6_vnet: null, tags: '{"env":"prod"}', aliases: '["new.internal"]', modified_at: now() });

      let called = 0;
      const count = async () => { called++; };
      assert.equal(await s.update(other, t.id, fields('X.example.com'), count), undefined);
      assert.equal(await s.update(accountId, randomUUID(), fields('X.example.com'), count), undefined);
      assert.equal(called, 0, '`also` runs only when a row changed');
      assert.deepEqual({ ...(await s.get(accountId, t.id)) }, t);
      await assert.rejects(s.update(accountId, t.id, fields('Y.example.com'), async () => { throw new Error('also failed'); }), /also failed/);
      assert.deepEqual({ ...(await s.get(accountId, t.id)) }, t, 'a failed `also` undoes the update');
      const updateEvent = auditRow(accountId, 'target.updated', t.id);
      const updated = await s.update(accountId, t.id, fields('Z.example.com'), async (trx) => { await trx.insertInto('audit_events').values(updateEvent).execute(); });
      assert.deepEqual([updated?.hostname, updated?.host, updated?.ipv4, updated?.tags, updated?.aliases], ['Z.example.com', 'z.example.com', '192.0.2.7', '{"env":"prod"}', '["new.internal"]']);
      assert.deepEqual([updated?.id, updated?.account_id, updated?.created_at], [t.id, accountId, t.created_at]);
      assert.equal(await eventExists(updateEvent.id), true);

      // Its tokens (used or not) and hosts go with it; another target's stay.
      const unused = joinToken(t);
      await hosts.insertJoinToken(unused, auditRow(accountId, 'host_join_token.created', unused.id));
      const host = await enrolled(t);
      const keptHost = await enrolled(kept);
      const tokensOf = async (targetId: string) => (await opened.db.selectFrom('host_join_tokens').select('id').where('target_id', '=', targetId).execute()).length;
      assert.equal(await tokensOf(t.id), 2);

      const theirEvent = auditRow(other, 'target.deleted', t.id);
      assert.equal(await s.delete(other, t.id, async (trx) => { await trx.insertInto('audit_events').values(theirEvent).execute(); }), false);
      assert.equal(await eventExists(theirEvent.id), false);
      assert.notEqual(await s.get(accountId, t.id), undefined);
      await assert.rejects(s.delete(accountId, t.id, async () => { throw new Error('also failed'); }), /also failed/);
      assert.notEqual(await s.get(accountId, t.id), undefined, 'a failed `also` undoes the delete');
      assert.equal(await tokensOf(t.id), 2);
      assert.notEqual(await hosts.bySecret(host.secret_sha256), undefined);

      const deleteEvent = auditRow(accountId, 'target.deleted', t.id);
      assert.equal(await s.delete(accountId, t.id, async (trx) => { await trx.insertInto('audit_events').values(deleteEvent).execute(); }), true);
      assert.equal(await eventExists(deleteEvent.id), true);
      assert.equal(await s.get(accountId, t.id), undefined);
      assert.equal(await tokensOf(t.id), 0);
      assert.equal(await hosts.joinTokenBySecret(unused.secret_sha256), undefined);
      assert.equal(await hosts.bySecret(host.secret_sha256), undefined);
      assert.equal((await opened.db.selectFrom('host_enrollments').select('id').where('target_id', '=', t.id).execute()).length, 0);
      assert.equal(await tokensOf(kept.id), 1);
      assert.equal((await hosts.bySecret(keptHost.secret_sha256))?.id, keptHost.id);
      assert.equal(await s.delete(accountId, t.id), false, 'a second delete finds nothing');
    });

    it('targets: zoneAccount is the account of the longest zone holding a host', async () => {
      const s = createTargetsStore(opened.db);
      const identity = createIdentityStore(opened.db);
      const [outerAccount, innerAccount] = [await account(), await account()];
      const outer = `z${hex(5)}.test`;
      await identity.insertZone({ id: hex(16), account_id: outerAccount, name: outer, created_at: now() });
      await identity.insertZone({ id: hex(16), account_id: innerAccount, name: `in.${outer}`, created_at: now() });
      assert.equal(await s.zoneAccount(`h.in.${outer}`), innerAccount);
      assert.equal(await s.zoneAccount(`a.b.in.${outer}`), innerAccount);
      assert.equal(await s.zoneAccount(`in.${outer}`), innerAccount, 'a zone holds its own name');
      assert.equal(await s.zoneAccount(`H.IN.${outer.toUpperCase()}`), innerAccount);
      assert.equal(await s.zoneAccount(`*.in.${outer}`), innerAccount);
      assert.equal(await s.zoneAccount(`h.${outer}`), outerAccount);
      assert.equal(await s.zoneAccount(`h.xin.${outer}`), outerAccount, 'zones match whole labels');
      assert.equal(await s.zoneAccount(outer), outerAccount);
      assert.equal(await s.zoneAccount(`h.y${outer}`), undefined);
      assert.equal(await s.zoneAccount(`z${hex(5)}.test`), undefined);
    });

    it('join tokens: a challenge only for an unused, unexpired token; enroll uses it with the last challenge, before both expiries, once; a refusal writes nothing', async () => {
      const s = createHostEnrollmentStore(opened.db);
      const accountId = await account();
      const t = target(accountId);
      await createTargetsStore(opened.db).insert(t);
      const token = joinToken(t, { expires_at: at(600), host_key_fingerprints: '["SHA256:abc"]' });
      const created = auditRow(accountId, 'host_join_token.created', token.id);
      await s.insertJoinToken(token, created);
      assert.deepEqual({ ...(await s.joinTokenBySecret(token.secret_sha256)) }, token);
      assert.equal(await eventExists(created.id), true);
      assert.equal(await s.joinTokenBySecret(hex(32)), undefined);
      // The token and its event commit together.
      const taken = joinToken(t);
      await assert.rejects(s.insertJoinToken(taken, { ...auditRow(accountId, 'x', taken.id), id: created.id }), isUniqueViolation);
      assert.equal(await s.joinTokenBySecret(taken.secret_sha256), undefined);

      const refusedIds: string[] = [];
      const tryEnroll = async (challenge: string, time: string) => {
        const row = enrollmentRow(t);
        const event = auditRow(accountId, 'host.enrolled', row.id);
        const ok = await s.enroll(token.id, challenge, time, row, event);
        if (!ok) refusedIds.push(row.id, event.id);
        return ok;
      };
      assert.equal(await s.setChallenge(randomUUID(), 'c0', at(60), at(0)), false, 'no such token');
      assert.equal(await s.setChallenge(token.id, 'c1', at(60), at(0)), true);
      assert.equal(await s.setChallenge(token.id, 'c2', at(700), at(1)), true);
      assert.equal(await tryEnroll('c1', at(2)), false, 'only the last challenge handed out');
      assert.equal(await tryEnroll('c2', at(650)), false, 'the token expired though its challenge did not');
      assert.equal(await tryEnroll('c2', at(600)), false, 'expiry is exclusive');
      assert.equal(await s.setChallenge(token.id, 'c3', at(120), at(10)), true);
      assert.equal(await tryEnroll('c3', at(130)), false, 'the challenge expired though the token did not');
      assert.equal(await tryEnroll('c2', at(11)), false, 'a challenge replaced is no longer good');
      assert.equal(await s.setChallenge(token.id, 'c4', at(900), at(600)), false, 'no challenge for an expired token');
      assert.equal((await s.joinTokenBySecret(token.secret_sha256))?.challenge, 'c3', 'a refused challenge changes nothing');
      const unused = await s.joinTokenBySecret(token.secret_sha256);
      assert.deepEqual([unused?.used_at, unused?.challenge_expires_at], [null, at(120)], 'refused enrollments leave the token unused');

      assert.equal(await s.setChallenge(token.id, 'c5', at(300), at(20)), true);
      const host = enrollmentRow(t, { last_seen_at: at(30) });
      const enrolledEvent = auditRow(accountId, 'host.enrolled', host.id);
      assert.equal(await s.enroll(token.id, 'c5', at(30), host, enrolledEvent), true);
      assert.equal((await s.joinTokenBySecret(token.secret_sha256))?.used_at, at(30));
      assert.equal(await tryEnroll('c5', at(31)), false, 'a token is used once');
      assert.equal(await s.setChallenge(token.id, 'c6', at(300), at(32)), false, 'no challenge for a used token');

      const rows = await opened.db.selectFrom('host_enrollments').selectAll().where('target_id', '=', t.id).execute();
      assert.deepEqual(rows.map((r) => ({ ...r })), [host]);
      assert.equal(await eventExists(enrolledEvent.id), true);
      assert.equal(refusedIds.length, 12);
      for (const id of refusedIds) assert.equal(await eventExists(id), false, 'a refused enrollment writes no event');
      assert.deepEqual(await eventTypes(accountId), ['host.enrolled', 'host_join_token.created']);

      // An enrollment whose event cannot be written leaves the token unused.
      const second = joinToken(t);
      await s.insertJoinToken(second, auditRow(accountId, 'host_join_token.created', second.id));
      assert.equal(await s.setChallenge(second.id, 'd1', at(300), at(0)), true);
      const orphan = enrollmentRow(t);
      await assert.rejects(s.enroll(second.id, 'd1', at(1), orphan, { ...auditRow(accountId, 'host.enrolled', orphan.id), id: enrolledEvent.id }), isUniqueViolation);
      assert.equal((await s.joinTokenBySecret(second.secret_sha256))?.used_at, null);
      assert.equal(await s.bySecret(orphan.secret_sha256), undefined);
    });

    it('join tokens: concurrent enrollments with one token and its challenge: exactly one wins, with one host and one event', async () => {
      const s = createHostEnrollmentStore(opened.db);
      const accountId = await account();
      const t = target(accountId);
      await createTargetsStore(opened.db).insert(t);
      const token = joinToken(t);
      await s.insertJoinToken(token, auditRow(accountId, 'host_join_token.created', token.id));
      assert.equal(await s.setChallenge(token.id, 'c', at(300), at(0)), true);
      const attempts = Array.from({ length: 8 }, () => {
        const row = enrollmentRow(t);
        return { row, event: auditRow(accountId, 'host.enrolled', row.id) };
      });
      const results = await Promise.all(attempts.map(({ row, event }) => s.enroll(token.id, 'c', at(1), row, event)));
      assert.equal(results.filter((ok) => ok).length, 1, `one enrollment wins: ${results.join(', ')}`);
      const winner = attempts[results.indexOf(true)]!;
      const rows = await opened.db.selectFrom('host_enrollments').select('id').where('account_id', '=', accountId).execute();
      assert.deepEqual(rows.map((r) => r.id), [winner.row.id]);
      const events = await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).where('type', '=', 'host.enrolled').execute();
      assert.deepEqual(events.map((e) => e.id), [winner.event.id]);
      for (const { row } of attempts) assert.equal((await s.bySecret(row.secret_sha256))?.id, row === winner.row ? row.id : undefined);
      assert.equal((await s.joinTokenBySecret(token.secret_sha256))?.used_at, at(1));
    });

    it('enrolled hosts: bySecret joins the target\'s names; list pages and filters by target within the account; remove writes its event and refuses another account\'s id', async () => {
      const s = createHostEnrollmentStore(opened.db);
      const targets = createTargetsStore(opened.db);
      const accountId = await account();
      const other = await account();
      const web = target(accountId, { hostname: `Web-${hex(3)}.Example.com`, aliases: '["web.internal","10.1.2.3"]' });
      const db = target(accountId);
      const theirs = target(other);
      for (const t of [web, db, theirs]) await targets.insert(t);
      const w = [
        await enrolled(web, { created_at: '2026-01-01T00:00:00.000Z' }),
        await enrolled(web, { created_at: '2026-01-01T00:00:01.000Z' }),
        await enrolled(web, { created_at: '2026-01-01T00:00:03.000Z' }),
      ] as const;
      const d = await enrolled(db, { created_at: '2026-01-01T00:00:02.000Z' });
      const theirHost = await enrolled(theirs);

      assert.deepEqual({ ...(await s.bySecret(w[1].secret_sha256)) }, { ...w[1], hostname: web.hostname, host: web.host, aliases: web.aliases });
      assert.equal((await s.bySecret(d.secret_sha256))?.hostname, db.hostname);
      assert.equal(await s.bySecret(hex(32)), undefined);

      const page = async (acct: string, targetId: string | undefined, offset: number, limit: number) => {
        const { rows, total } = await s.list(acct, targetId, offset, limit);
        return { ids: rows.map((r) => r.id), total };
      };
      assert.deepEqual(await page(accountId, undefined, 0, 2), { ids: [w[0].id, w[1].id], total: 4 });
      assert.deepEqual(await page(accountId, undefined, 2, 2), { ids: [d.id, w[2].id], total: 4 });
      assert.deepEqual(await page(accountId, undefined, 4, 2), { ids: [], total: 4 });
      assert.deepEqual(await page(accountId, web.id, 1, 10), { ids: [w[1].id, w[2].id], total: 3 });
      assert.deepEqual(await page(accountId, db.id, 0, 10), { ids: [d.id], total: 1 });
      assert.deepEqual(await page(accountId, theirs.id, 0, 10), { ids: [], total: 0 }, 'another account\'s target lists nothing');
      assert.deepEqual(await page(other, web.id, 0, 10), { ids: [], total: 0 });
      assert.deepEqual(await page(other, undefined, 0, 10), { ids: [theirHost.id], total: 1 });
      const listed = (await s.list(accountId, db.id, 0, 10)).rows[0];
      assert.deepEqual([listed?.hostname, listed?.host, listed?.aliases], [db.hostname, db.host, db.aliases]);

      const theirEvent = auditRow(other, 'host.removed', w[0].id);
      assert.equal(await s.remove(other, w[0].id, theirEvent), false);
      assert.equal(await eventExists(theirEvent.id), false, 'a refused removal writes no event');
      assert.equal((await s.bySecret(w[0].secret_sha256))?.id, w[0].id);
      const removed = auditRow(accountId, 'host.removed', w[0].id);
      const takenId = (await opened.db.selectFrom('audit_events').select('id').where('account_id', '=', accountId).executeTakeFirstOrThrow()).id;
      await assert.rejects(s.remove(accountId, w[0].id, { ...removed, id: takenId }), isUniqueViolation);
      assert.equal((await s.bySecret(w[0].secret_sha256))?.id, w[0].id, 'a removal whose event fails removes nothing');
      assert.equal(await s.remove(accountId, w[0].id, removed), true);
      assert.equal(await eventExists(removed.id), true);
      assert.equal(await s.bySecret(w[0].secret_sha256), undefined);
      assert.equal(await s.remove(accountId, w[0].id, auditRow(accountId, 'host.removed', w[0].id)), false, 'removed once');
      assert.deepEqual(await page(accountId, undefined, 0, 10), { ids: [w[1].id, d.id, w[2].id], total: 3 });
      assert.deepEqual((await eventTypes(accountId, w[0].id)), ['host.enrolled', 'host.removed']);
    });

    it('enrolled hosts: touch only moves last_seen_at forward, whatever order the nodes write in', async () => {
      const s = createHostEnrollmentStore(opened.db);
      const accountId = await account();
      const t = target(accountId);
      await createTargetsStore(opened.db).insert(t);
      const never = await enrolled(t, { last_seen_at: null });
      const seen = await enrolled(t, { last_seen_at: at(100) });
      const lastSeen = async (id: string) => (await opened.db.selectFrom('host_enrollments').select('last_seen_at').where('id', '=', id).executeTakeFirstOrThrow()).last_seen_at;

      await s.touch(new Map());
      await s.touch(new Map([[never.id, at(50)], [seen.id, at(10)], [hex(16), at(10)]]));
      assert.deepEqual([await lastSeen(never.id), await lastSeen(seen.id)], [at(50), at(100)], 'an older time never overwrites a newer');
      await s.touch(new Map([[never.id, at(40)], [seen.id, at(200)]]));
      assert.deepEqual([await lastSeen(never.id), await lastSeen(seen.id)], [at(50), at(200)]);
      await s.touch(new Map([[seen.id, at(200)]]));
      assert.equal(await lastSeen(seen.id), at(200));
      // Several nodes at once, in any order: the latest stays.
      const times = [7, 300, 150, 299, 250, 1, 120, 280];
      await Promise.all(times.map((sec) => s.touch(new Map([[never.id, at(sec)], [seen.id, at(sec + 1)]]))));
      assert.deepEqual([await lastSeen(never.id), await lastSeen(seen.id)], [at(300), at(301)]);
      // Two nodes flushing the same hosts, each in the order it saw them: no deadlock (PostgreSQL's 40P01).
      const many: string[] = [];
      for (let i = 0; i < 50; i++) many.push((await enrolled(t, { last_seen_at: null })).id);
      for (let round = 0; round < 20; round++) {
        const when = at(1000 + round);
        const forward = new Map(many.map((id) => [id, when]));
        const backward = new Map([...many].reverse().map((id) => [id, when]));
        const results = await Promise.allSettled([s.touch(forward), s.touch(backward), s.touch(forward), s.touch(backward)]);
        assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], `round ${round}`);
      }
      assert.equal(await lastSeen(many[0]!), at(1019));
    });

    it('host CA: one per account, enforced by the database even under concurrent inserts; nothing of a refused insert is left', async () => {
      const s = createHostCaStore(opened.db);
      const accountId = await account();
      const attempts = Array.from({ length: 10 }, () => {
        const [ca, key] = hostCaRows(accountId);
        return { ca, key, event: auditRow(accountId, 'host_ca.created', ca.id) };
      });
      const results = await Promise.allSettled(attempts.map(({ ca, key, event }) => s.insert(ca, key, event)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isUniqueViolation(r.reason), String(r.reason));
      const winner = attempts[results.findIndex((r) => r.status === 'fulfilled')]!;
      assert.deepEqual({ ...(await s.byAccount(accountId)) }, winner.ca);
      const keys = await opened.db.selectFrom('host_ca_keys').select(['id', 'ca_id']).where('account_id', '=', accountId).execute();
      assert.deepEqual(keys.map((k) => ({ ...k })), [{ id: winner.key.id, ca_id: winner.ca.id }], 'no orphan keys from the refused inserts');
      assert.deepEqual(await eventTypes(accountId), ['host_ca.created']);
      const [sealed] = await s.keysOf(winner.ca.id);
      assert.deepEqual(Buffer.from(sealed!.private_key_sealed), winner.key.private_key_sealed, 'sealed bytes round-trip');
      // Another account has its own.
      const other = await account();
      await s.insert(...hostCaRows(other), auditRow(other, 'host_ca.created', 'x'));
      assert.notEqual((await s.byAccount(other))?.id, winner.ca.id);
      assert.equal(await s.byAccount(await account()), undefined);
      const setTtl = auditRow(accountId, 'host_ca.updated', winner.ca.id);
      await s.setMaxTtl(winner.ca.id, 3600, setTtl);
      assert.equal((await s.byAccount(accountId))?.max_ttl, 3600);
      assert.equal(await eventExists(setTtl.id), true);
      await assert.rejects(
        opened.db.insertInto('host_ca_keys').values({ ...winner.key, id: hex(16) }).execute(),
        isUniqueViolation,
        'a second active key for one host CA is refused',
      );
    });

    it('gateway CA: one per account under concurrent inserts, rotation steps, delete takes its keys; every change moves the account\'s fleet and grant revisions, never another\'s', async () => {
      const s = createGatewayCaStore(opened.db);
      const accountId = await account();
      const other = await account();
      const fleet = createGrantRevisionReader(opened.db, 'fleet_revisions');
      const grants = createGrantRevisionReader(opened.db, 'grant_revisions');
      const revisions = async () => [await fleet.current(accountId), await grants.current(accountId), await fleet.current(other), await grants.current(other)];
      const rows = () => {
        const [ca, key] = hostCaRows(accountId);
        return { ca: { id: ca.id, account_id: accountId, created_at: ca.created_at }, key };
      };
      const start = await revisions();
      const attempts = Array.from({ length: 6 }, rows);
      const results = await Promise.allSettled(attempts.map(({ ca, key }) => s.insert(ca, key, auditRow(accountId, 'gateway_ca.created', ca.id))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isUniqueViolation(r.reason), String(r.reason));
      const winner = attempts[results.findIndex((r) => r.status === 'fulfilled')]!;
      assert.deepEqual({ ...(await s.byAccount(accountId)) }, winner.ca);
      assert.equal((await s.signingKey(accountId))?.id, winner.key.id);
      assert.equal(await s.signingKey(other), undefined);
      const created = await revisions();
      assert.ok(created[0]! > start[0]! && created[1]! > start[1]!, 'the account\'s fleet and grant revisions moved');
      assert.deepEqual(created.slice(2), start.slice(2), 'another account\'s did not');

      const next = { ...winner.key, id: hex(16), state: 'next', public_key: randomBytes(51).toString('base64'), created_at: at(5) };
      assert.equal((await s.addNextKey(next, auditRow(accountId, 'gateway_ca.rotated', winner.ca.id))).ok, true);
      const moved = await s.activateNextKey(winner.ca.id, () => auditRow(accountId, 'gateway_ca.activated', winner.ca.id));
      assert.equal(moved.ok, true);
      assert.equal((await s.signingKey(accountId))?.id, next.id, 'the next key signs');
      const rotated = await revisions();
      assert.ok(rotated[0]! > created[0]! && rotated[1]! > created[1]!);

      assert.equal(await s.delete(other, winner.ca.id, auditRow(other, 'gateway_ca.deleted', winner.ca.id)), false, 'another account cannot delete it');
      assert.equal(await s.delete(accountId, winner.ca.id, auditRow(accountId, 'gateway_ca.deleted', winner.ca.id)), true);
      assert.equal(await s.byAccount(accountId), undefined);
      assert.deepEqual(await opened.db.selectFrom('gateway_ca_keys').select('id').where('account_id', '=', accountId).execute(), [], 'its keys went with it');
      assert.ok((await fleet.current(accountId)) > rotated[0]!, 'hosts learn the CA is gone');
      assert.deepEqual(await eventTypes(accountId), ['gateway_ca.activated', 'gateway_ca.created', 'gateway_ca.deleted', 'gateway_ca.rotated']);
    });

    it('host CA: keys oldest first; rotation steps one at a time under concurrency, never zero or two active keys, each with its event', async () => {
      const s = createHostCaStore(opened.db);
      const accountId = await account();
      const [ca, original] = hostCaRows(accountId, { created_at: at(0) });
      await s.insert(ca, original, auditRow(accountId, 'host_ca.created', ca.id));
      const event = (type: string) => auditRow(accountId, type, ca.id);
      const nextKey = (created: number) => ({ ...original, id: hex(16), state: 'next', public_key: randomBytes(51).toString('base64'), created_at: at(created) });
      const states = async () => (await s.keysOf(ca.id)).map((k) => [k.id, k.state]);
      const refusals = (steps: { ok: boolean; refused?: string }[]) => steps.filter((r) => !r.ok).map((r) => r.refused);

      const adds = await Promise.all(Array.from({ length: 6 }, (_, i) => s.addNextKey(nextKey(10 + i), event('host_ca.rotated'))));
      assert.equal(adds.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(adds), Array(5).fill('next_exists'));
      const keys = await s.keysOf(ca.id);
      assert.equal(keys.length, 2);
      const next = keys[1]!;
      assert.deepEqual(await states(), [[original.id, 'active'], [next.id, 'next']], 'oldest first');
      assert.deepEqual(await s.addNextKey(nextKey(20), event('host_ca.rotated')), { ok: false, refused: 'next_exists' });
      // Same creation time: by id.
      const twin = { ...nextKey(0), id: `${original.id.slice(0, -1)}${original.id.endsWith('0') ? '1' : '0'}`, state: 'next' };
      const ordered = [original.id, twin.id].sort();
      await opened.db.insertInto('host_ca_keys').values(twin).execute();
      assert.deepEqual((await s.keysOf(ca.id)).map((k) => k.id).slice(0, 2), ordered);
      await opened.db.deleteFrom('host_ca_keys').where('id', '=', twin.id).execute();

      // An event that cannot be written undoes the whole step: the demotion too.
      const [taken] = await opened.db.selectFrom('audit_events').select('id').where('subject', '=', ca.id).execute();
      await assert.rejects(s.activateNextKey(ca.id, () => ({ ...event('host_ca.activated'), id: taken!.id })), isUniqueViolation);
      assert.deepEqual(await states(), [[original.id, 'active'], [next.id, 'next']]);

      let racing = true;
      const seen = new Set<string>();
      const watch = (async () => {
        while (racing) {
          const active = await opened.db.selectFrom('host_ca_keys').select('id').where('ca_id', '=', ca.id).where('state', '=', 'active').execute();
          assert.equal(active.length, 1, 'one active key at every moment');
          seen.add(active[0]!.id);
          await new Promise((r) => setImmediate(r));
        }
      })();
      const activations = await Promise.all(Array.from({ length: 6 }, () => s.activateNextKey(ca.id, ({ active, previous }) => ({ ...event('host_ca.activated'), data: JSON.stringify({ active: active.id, previous: previous.id }) }))));
      racing = false;
      await watch;
      assert.equal(activations.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(activations), Array(5).fill('no_next'));
      const won = activations.find((r) => r.ok) as { active: { id: string; state: string }; previous: { id: string; state: string } };
      assert.deepEqual([won.active.id, won.active.state, won.previous.id, won.previous.state], [next.id, 'active', original.id, 'previous']);
      assert.deepEqual(await states(), [[original.id, 'previous'], [next.id, 'active']]);
      assert.ok([...seen].every((id) => id === original.id || id === next.id));
      assert.deepEqual(JSON.parse((await opened.db.selectFrom('audit_events').select('data').where('subject', '=', ca.id).where('type', '=', 'host_ca.activated').executeTakeFirstOrThrow()).data), { active: next.id, previous: original.id });

      assert.deepEqual(await s.addNextKey(nextKey(30), event('host_ca.rotated')), { ok: false, refused: 'previous_exists' });
      const retirements = await Promise.all(Array.from({ length: 6 }, () => s.retirePreviousKey(ca.id, (retired) => ({ ...event('host_ca.retired'), data: JSON.stringify({ retired: retired.id }) }))));
      assert.equal(retirements.filter((r) => r.ok).length, 1);
      assert.deepEqual(refusals(retirements), Array(5).fill('no_previous'));
      assert.equal((retirements.find((r) => r.ok) as { retired: { id: string } }).retired.id, original.id);
      assert.deepEqual(await states(), [[next.id, 'active']]);
      assert.equal((await opened.db.selectFrom('host_ca_keys').select('id').where('id', '=', original.id).executeTakeFirst()), undefined, 'the retired key is deleted');
      assert.deepEqual(await s.activateNextKey(ca.id, () => event('x')), { ok: false, refused: 'no_next' });
      assert.deepEqual(await s.retirePreviousKey(ca.id, () => event('x')), { ok: false, refused: 'no_previous' });

      assert.deepEqual(await eventTypes(accountId, ca.id), ['host_ca.activated', 'host_ca.created', 'host_ca.retired', 'host_ca.rotated'], 'one event per step that changed something');
      const gone = hex(16);
      assert.deepEqual(await s.addNextKey({ ...nextKey(40), ca_id: gone }, event('x')), { ok: false, refused: 'no_ca' });
      assert.deepEqual(await s.activateNextKey(gone, () => event('x')), { ok: false, refused: 'no_ca' });
      assert.deepEqual(await s.retirePreviousKey(gone, () => event('x')), { ok: false, refused: 'no_ca' });
      assert.deepEqual(await eventTypes(accountId, ca.id), ['host_ca.activated', 'host_ca.created', 'host_ca.retired', 'host_ca.rotated'], 'refusals write no event');
      assert.equal((await s.addNextKey(nextKey(50), event('host_ca.rotated'))).ok, true, 'a new rotation may start');
    });

    it('host CA: a revoked host key is recorded once per account with its event; isRevoked and revokedKeys see only the account\'s own', async () => {
      const s = createHostCaStore(opened.db);
      const accountId = await account();
      const other = await account();
      const row = (acct: string, fingerprint: string, created: number) => ({ account_id: acct, fingerprint, public_key: randomBytes(51).toString('base64'), reason: 'compromised', created_at: at(created) });
      const fp = `SHA256:${hex(16)}`;
      const fp2 = `SHA256:${hex(16)}`;
      const first = auditRow(accountId, 'host_key.revoked', fp);
      assert.equal(await s.isRevoked(accountId, fp), false);
      assert.equal(await s.revokeKey(row(accountId, fp, 2), first), true);
      const again = auditRow(accountId, 'host_key.revoked', fp);
      assert.equal(await s.revokeKey(row(accountId, fp, 3), again), false, 'a repeat');
      assert.equal(await eventExists(first.id), true);
      assert.equal(await eventExists(again.id), false, 'a repeat writes no event');
      assert.equal(await s.revokeKey(row(accountId, fp2, 1), auditRow(accountId, 'host_key.revoked', fp2)), true);
      assert.equal(await s.isRevoked(accountId, fp), true);
      assert.equal(await s.isRevoked(other, fp), false, 'another account\'s revocation is not this one\'s');
      assert.equal(await s.isRevoked(accountId, `SHA256:${hex(16)}`), false);
      const theirs = row(other, fp, 0);
      assert.equal(await s.revokeKey(theirs, auditRow(other, 'host_key.revoked', fp)), true, 'the same key in another account is its own revocation');
      assert.deepEqual((await s.revokedKeys(accountId)).map((r) => [r.fingerprint, r.created_at]), [[fp2, at(1)], [fp, at(2)]], 'oldest first; the repeat changed nothing');
      assert.deepEqual((await s.revokedKeys(other)).map((r) => ({ ...r })), [theirs]);
      assert.deepEqual(await s.revokedKeys(await account()), []);
      // The row and its event commit together.
      const fp3 = `SHA256:${hex(16)}`;
      await assert.rejects(s.revokeKey(row(accountId, fp3, 4), { ...auditRow(accountId, 'host_key.revoked', fp3), id: first.id }), isUniqueViolation);
      assert.equal(await s.isRevoked(accountId, fp3), false);
      assert.deepEqual(await eventTypes(accountId), ['host_key.revoked', 'host_key.revoked']);
    });

    it('fleet revisions: every change to what a host trusts or enforces bumps its account\'s revision in the same commit; issuing and other accounts do not; it never goes down', async () => {
      const revisions = createGrantRevisionReader(opened.db, 'fleet_revisions');
      const accountId = await account();
      const bystander = await account();
      const bystanderApp = await app(bystander);
      await createTargetsStore(opened.db).insert(target(bystander));
      const bystanderBefore = await revisions.current(bystander);
      assert.ok(bystanderBefore > 0);
      assert.equal(await revisions.current(accountId), 0, 'an account with nothing yet is at 0');
      let last = 0;
      const bumps = async (what: string, change: () => Promise<unknown>) => {
        await change();
        const now_ = await revisions.current(accountId);
        assert.ok(now_ > last, `${what} bumps the revision (${last} → ${now_})`);
        last = now_;
      };
      const unchanged = async (what: string, change: () => Promise<unknown>) => {
        await change();
        assert.equal(await revisions.current(accountId), last, `${what} leaves the revision alone`);
      };
      const apps = createAccessAppsStore(opened.db);
      const scope = { accountId, zoneId: null };
      let a!: AppRow;
      await bumps('an app created', async () => { a = await app(accountId); });
      await bumps('an app updated', () => apps.update(scope, a.id, { name: 'renamed', domain: null, host: null, type: 'ssh', session_duration: '1h', updated_at: now() }));
      const [ca, key] = caRows(a.id);
      await bumps('a CA created', () => createAccessCasStore(opened.db).insert(ca, key));
      const next = { ...key, id: hex(16), state: 'next', public_key: randomBytes(104).toString('base64') };
      await bumps('a CA key inserted', () => opened.db.insertInto('ssh_ca_keys').values(next).execute());
      await bumps('a CA key\'s state changed', () => opened.db.updateTable('ssh_ca_keys').set({ state: 'previous' }).where('id', '=', next.id).execute());
      await bumps('a CA key deleted', () => opened.db.deleteFrom('ssh_ca_keys').where('id', '=', next.id).execute());
      const revocations = createRevocationStore(opened.db);
      const revoke = () => {
        const revocation = { id: hex(8), account_id: accountId, app_id: a.id, kind: 'identity', value: `p${hex(3)}@example.com`, reason: 'test', actor: 't', certificates: 0, created_at: now(), lifted_at: null, lifted_by: null };
        return revocations.revoke({ accountId, appId: a.id, via: a.id }, { kind: 'identity', value: revocation.value }, revocation, () => auditRow(accountId, 'ssh_certificate.revoked', revocation.id));
      };
      await bumps('a revocation (the KRL version\'s first insert)', revoke);
      await bumps('a revocation (the KRL version\'s upsert)', revoke);
      await bumps('a KRL version upsert alone', () => opened.db.insertInto('ssh_krl_versions').values({ app_id: a.id, version: 1, updated_at: now() })
        .onConflict((oc) => oc.column('app_id').doUpdateSet({ version: sql`ssh_krl_versions.version + 1`, updated_at: now() })).execute());
      await bumps('a user key revoked', () => opened.db.insertInto('ssh_revoked_keys').values({ app_id: a.id, fingerprint: `SHA256:${hex(8)}`, revocation_id: hex(8), created_at: now() }).execute());
      const targets = createTargetsStore(opened.db);
      const t = target(accountId);
      await bumps('a target created', () => targets.insert(t));
      await bumps('a target updated', () => targets.update(accountId, t.id, { hostname: 'n.example.com', host: 'n.example.com', ipv4: null, ipv4_vnet: null, ipv6: null, ipv6_vnet: null, tags: '{}', aliases: '["x"]', modified_at: now() }));
      const hostCas = createHostCaStore(opened.db);
      const [hostCa, hostKey] = hostCaRows(accountId);
      await bumps('a host CA created', () => hostCas.insert(hostCa, hostKey, auditRow(accountId, 'host_ca.created', hostCa.id)));
      await bumps('a host CA key inserted', () => opened.db.insertInto('host_ca_keys').values({ ...hostKey, id: hex(16), state: 'next' }).execute());
      await bumps('a host key revoked', () => hostCas.revokeKey({ account_id: accountId, fingerprint: `SHA256:${hex(8)}`, public_key: 'k', reason: 'r', created_at: now() }, auditRow(accountId, 'host_key.revoked', 'k')));

      const later = new Date(Date.now() + 3_600_000).toISOString();
      await unchanged('a certificate issued (the hot path)', () => createCertInventoryStore(opened.db).record([{
        cert: { id: hex(16), serial: '1', ca_id: ca.id, ca_key_id: key.id, app_id: a.id, account_id: accountId, key_id: 'k', principals: '["a"]', valid_after: now(), valid_before: later, identity: 'a@example.com', public_key_type: 'ssh-ed25519', public_key_fingerprint: 'SHA256:y', critical_options: '{}', extensions: '{}', source: 'api', created_at: now(), revoked_at: null, revocation_id: null },
        event: auditRow(accountId, 'ssh_certificate.issued', 'c'),
      }]));
      await unchanged('a host enrolled and seen', async () => {
        const host = await enrolled(t);
        await createHostEnrollmentStore(opened.db).touch(new Map([[host.id, now()]]));
      });
      await bumps('a target deleted (its tokens and hosts with it)', () => targets.delete(accountId, t.id));

      const beforeCascade = last;
      await bumps('the app deleted (its CA and keys with it)', () => apps.delete(scope, a.id));
      assert.ok(last > beforeCascade, 'a cascade never takes the revision down');
      assert.deepEqual(await createAccessCasStore(opened.db).keysOf(ca.id), [], 'the cascade ran (and its key deletes bumped nothing that went down)');
      assert.equal(await revisions.current(bystander), bystanderBefore, `another account's changes leave ${bystanderApp.id}'s account alone`);
    });

    it('fleet revisions: the bump is part of the writing transaction: seen inside it, gone with its rollback', async () => {
      const accountId = await account();
      const revisions = createGrantRevisionReader(opened.db, 'fleet_revisions');
      await createTargetsStore(opened.db).insert(target(accountId));
      const before = await revisions.current(accountId);
      assert.ok(before > 0);
      const read = async (q: typeof opened.db) => Number((await q.selectFrom('fleet_revisions').select('revision').where('account_id', '=', accountId).executeTakeFirstOrThrow()).revision);
      await assert.rejects(opened.db.transaction().execute(async (trx) => {
        await trx.insertInto('infrastructure_targets').values(target(accountId)).execute();
        const [hostCa, hostKey] = hostCaRows(accountId);
        await trx.insertInto('host_cas').values(hostCa).execute();
        await trx.insertInto('host_ca_keys').values(hostKey).execute();
        assert.equal(await read(trx), before + 3, 'one bump per row written, in the same transaction');
        throw new Error('roll back');
      }), /roll back/);
      assert.equal(await revisions.current(accountId), before, 'a rolled-back change leaves the revision as it was');
      assert.equal(await read(opened.db), before);
    });
  });
}
