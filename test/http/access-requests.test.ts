import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Cloudflare from 'cloudflare';
import { BASE } from '../helpers/test-app.ts';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const newKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

/** The authentication log in Cloudflare's shape, read through SDK v7: every signing decision, allowed or refused. */
describe('the authentication log: GET …/access/logs/access_requests', () => {
  let f: SigningFixture;
  let sdk: Cloudflare;
  let issued: { id: string; serial: string };
  let automation: { id: string; serial: string };
  let start: string;
  let between: string;

  before(async () => {
    f = await makeSigningFixture('https://log.example');
    await f.t.call('PUT', f.at(`/access/apps/${f.app.id}/ca/policy`), { token: f.admin, body: { principals: { from: 'email_local_part', allow: ['*'] } } });
    // Only ann and bo are let in: cy is refused by the policies.
    const policies = (await f.t.call('GET', f.at(`/access/apps/${f.app.id}/policies`), { token: f.admin })).body.result;
    for (const p of policies) {
      const r = await f.t.call('PUT', f.at(`/access/apps/${f.app.id}/policies/${p.id}`), { token: f.admin, body: { name: p.name, decision: 'allow', include: [{ everyone: {} }], exclude: [{ email: { email: 'cy@example.com' } }] } });
      assert.equal(r.status, 200, r.raw);
    }
    await f.t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = f.t.app.server.address() as AddressInfo;
    sdk = new Cloudflare({ apiToken: f.admin, apiEmail: null, apiKey: null, baseURL: `http://127.0.0.1:${port}${BASE}`, maxRetries: 0 } as never);

    start = new Date().toISOString();
    const certSign = async (email: string) => f.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: newKey(), jwt: await f.idp.sign({ aud: [f.app.aud], email }) } });
    const ann = await certSign('ann@example.com');
    assert.equal(ann.status, 200, ann.raw);
    issued = { id: ann.body.id, serial: '' };
    await new Promise((r) => setTimeout(r, 20));
    between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await certSign('cy@example.com')).status, 403);
    assert.equal((await certSign('bo@other.example')).status, 200);
    const signed = await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/sign`), { token: f.admin, body: { public_key: newKey(), principals: ['deploy'] } });
    assert.equal(signed.status, 200, signed.raw);
    automation = signed.body.result;
    await f.t.call('PUT', f.at(`/access/apps/${f.app.id}/ca/policy`), { token: f.admin, body: { principals: { from: 'email_local_part', allow: ['deploy'] } } });
    const refusedApi = await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/sign`), { token: f.admin, body: { public_key: newKey(), principals: ['root'] } });
    assert.equal(refusedApi.status, 403, refusedApi.raw);
  });
  after(() => f.close());

  const list = (query: Record<string, unknown> = {}) => sdk.zeroTrust.access.logs.accessRequests.list({ account_id: f.tenant.accountId, ...query } as never);

  it('lists every decision, newest first, in Cloudflare\'s item shape with the certificate or the reason', async () => {
    const all = await list();
    assert.equal(all.length, 5);
    assert.deepEqual(all.map((e) => [e.action, e.allowed, e.user_email]), [
      ['ca_sign', false, ''], ['ca_sign', true, ''], ['login', true, 'bo@other.example'], ['login', false, 'cy@example.com'], ['login', true, 'ann@example.com'],
    ]);
    const ann = all[4] as any;
    assert.deepEqual(Object.keys(ann).sort(), ['action', 'actor', 'allowed', 'app_domain', 'app_uid', 'certificate_id', 'connection', 'created_at', 'ip_address', 'non_identity', 'ray_id', 'serial', 'user_email']);
    assert.equal(ann.app_uid, f.app.id);
    assert.equal(ann.certificate_id, issued.id);
    assert.match(ann.serial, /^[0-9]+$/);
    assert.equal(ann.connection, 'p', 'the identity provider\'s name');
    assert.equal(ann.ip_address, '127.0.0.1');
    assert.match(ann.ray_id, /^[0-9a-f]{16}$/);
    assert.ok(ann.app_domain.endsWith('.example.com'));
    const cy = all[3] as any;
    assert.match(cy.reason, /matched|none of/);
    assert.equal(cy.certificate_id, undefined);
    assert.equal((all[1] as any).certificate_id, automation.id);
    assert.equal((all[1] as any).connection, 'api_token');
    assert.match((all[0] as any).reason, /root/);
    assert.notEqual(all[0]!.ray_id, all[1]!.ray_id);
  });

  it('filters: since/until, direction, email (contains, exact, neq), allowed, app_uid, ray_id, non_identity, idp, limit and paging, fields', async () => {
    assert.deepEqual((await list({ direction: 'asc' })).map((e) => e.user_email).slice(0, 3), ['ann@example.com', 'cy@example.com', 'bo@other.example']);
    assert.deepEqual((await list({ until: between, since: start })).map((e) => e.user_email), ['ann@example.com']);
    assert.equal((await list({ since: between })).length, 4);
    assert.deepEqual((await list({ email: '@example.com' })).map((e) => e.user_email), ['cy@example.com', 'ann@example.com'], 'a substring by default');
    assert.deepEqual((await list({ email: 'ANN@example.com', email_exact: true })).map((e) => e.user_email), ['ann@example.com']);
    assert.deepEqual((await list({ email: 'ann@', emailOp: 'eq' })).length, 0, 'eq is exact');
    assert.deepEqual((await list({ email: 'example.com', emailOp: 'neq' })).map((e) => e.user_email), ['', '', 'bo@other.example']);
    assert.deepEqual((await list({ allowed: false })).map((e) => e.allowed), [false, false]);
    assert.deepEqual((await list({ allowed: false, allowedOp: 'neq' })).map((e) => e.allowed), [true, true, true]);
    assert.equal((await list({ app_uid: f.app.id })).length, 5);
    assert.equal((await list({ app_uid: randomUUID() })).length, 0);
    const one = (await list())[2]!;
    assert.deepEqual((await list({ ray_id: one.ray_id })).map((e) => e.ray_id), [one.ray_id]);
    assert.deepEqual((await list({ non_identity: true })).map((e) => e.action), ['ca_sign', 'ca_sign']);
    assert.equal((await list({ idp: 'api_token' })).length, 2);
    assert.equal((await list({ country_code: 'US' })).length, 0, 'no country is known');
    assert.equal((await list({ user_id: randomUUID() })).length, 5, 'user_id is deprecated by Cloudflare too: ignored');
    assert.equal((await list({ limit: 2 })).length, 2);
    const second = await list({ per_page: 2, page: 2 });
    assert.deepEqual(second.map((e) => e.ray_id), (await list()).slice(2, 4).map((e) => e.ray_id));
    assert.deepEqual(await list({ fields: 'user_email,allowed', email: 'cy@example.com', email_exact: true }), [{ user_email: 'cy@example.com', allowed: false }]);
  });

  it('refuses what it cannot apply, with the contract\'s envelope', async () => {
    for (const query of [{ since: 'yesterday' }, { direction: 'up' }, { allowed: 'maybe' }, { emailOp: 'like' }, { limit: '0' }, { fields: 'password' }, { email: 'a\u0007b' }]) {
      const r = await f.t.call('GET', f.at(`/access/logs/access_requests?${new URLSearchParams(query as unknown as Record<string, string>)}`), { token: f.admin });
      assert.equal(r.status, 400, `${JSON.stringify(query)}: ${r.raw}`);
      assert.equal(r.body.errors[0].code, 12130);
    }
    assert.equal((await f.t.call('GET', f.at('/access/logs/access_requests'), { token: f.tenant.read })).status, 200, 'Apps and Policies Read may read it');
  });
});
