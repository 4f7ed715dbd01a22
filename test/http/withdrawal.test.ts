import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Cloudflare from 'cloudflare';
import { BASE } from '../helpers/test-app.ts';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseUserPublicKey } from '../../src/openssh/user-public-key.ts';
import { decodeKrl } from '../../src/openssh/krl.ts';

const newKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const nowS = () => Math.floor(Date.now() / 1000);

/**
 * Withdrawal that lasts: a revoked person, an application's revoked tokens, a blocked principal, a key id
 * family and a user key revoked across applications — through the official SDK v7 where Cloudflare has
 * the route, and the API otherwise.
 */
describe('withdrawal: people, tokens, principals, key id families and keys', () => {
  let f: SigningFixture;
  let sdk: Cloudflare;
  let appB: { id: string; aud: string };
  let allOfB: string;

  before(async () => {
    f = await makeSigningFixture('https://withdraw.example');
    const { t, at, admin } = f;
    for (const id of [f.app.id]) {
      await t.call('PUT', at(`/access/apps/${id}/ca/policy`), { token: admin, body: { principals: { from: 'email_local_part', allow: ['*'] } } });
    }
    appB = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'b', domain: `b-${randomUUID()}.example.com` } })).body.result;
    assert.equal((await t.call('POST', at(`/access/apps/${appB.id}/ca`), { token: admin })).status, 200);
    await t.call('PUT', at(`/access/apps/${appB.id}/ca/policy`), { token: admin, body: { principals: { from: 'email_local_part', allow: ['*'] } } });
    const everyone = await t.call('POST', at(`/access/apps/${appB.id}/policies`), { token: admin, body: { name: 'all', decision: 'allow', include: [{ everyone: {} }] } });
    assert.equal(everyone.status, 201, everyone.raw);
    allOfB = everyone.body.result.id;
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.app.server.address() as AddressInfo;
    sdk = new Cloudflare({ apiToken: admin, apiEmail: null, apiKey: null, baseURL: `http://127.0.0.1:${port}${BASE}`, maxRetries: 0 } as never);
  });
  after(() => f.close());

  /** cert_sign for a person, with a token issued at `iat` (seconds). */
  const certSign = async (app: { aud: string }, email: string, iat = nowS() - 5, key = newKey()) =>
    f.t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: key, jwt: await f.idp.sign({ aud: [app.aud], email }, { issuedAt: iat }) } });
  const sign = (appId: string, principals: string[], extra: Record<string, unknown> = {}, key = newKey()) =>
    f.t.call('POST', f.at(`/access/apps/${appId}/ca/sign`), { token: f.admin, body: { public_key: key, principals, ...extra } });
  const status = async (appId: string, certId: string) =>
    (await f.t.call('GET', f.at(`/access/apps/${appId}/ca/certificates/${certId}`), { token: f.tenant.read })).body.result.status as string;
  const krl = async (appId: string) => {
    const res = await f.t.app.inject({ method: 'GET', url: f.at(`/access/apps/${appId}/ca/krl`), headers: { authorization: `Bearer ${f.tenant.read}` } });
    assert.equal(res.statusCode, 200);
    return { version: Number(res.headers['x-krl-version']), krl: decodeKrl(res.rawPayload) };
  };
  /** Revocations are cut off by whole seconds: a token of a later second is a later sign-in. */
  const afresh = () => nowS() + 2;

  it('revoke_user (SDK v7): every live certificate of the person in every app; their earlier tokens refused; a fresh sign-in works, unless a policy excludes them', async () => {
    const oldIat = nowS() - 5;
    const inA = await certSign(f.app, 'dana@example.com', oldIat);
    const inB = await certSign(appB, 'dana@example.com', oldIat);
    const bystander = await certSign(f.app, 'eli@example.com', oldIat);
    assert.equal(inA.status, 200, inA.raw);
    assert.equal(inB.status, 200, inB.raw);
    const krlBefore = await krl(appB.id);

    assert.equal(await sdk.zeroTrust.organizations.revokeUsers({ account_id: f.tenant.accountId, email: 'Dana@Example.com' }), true);

    assert.equal(await status(f.app.id, inA.body.id), 'revoked');
    assert.equal(await status(appB.id, inB.body.id), 'revoked');
    assert.equal(await status(f.app.id, bystander.body.id), 'valid', 'another person is untouched');
    assert.ok((await krl(appB.id)).version > krlBefore.version, 'every app\'s KRL moves on');
    const stale = await certSign(f.app, 'dana@example.com', oldIat);
    assert.equal(stale.status, 403, stale.raw);
    assert.match(stale.raw, /revoked .*sign in again/);
    assert.equal((await certSign(appB, 'dana@example.com', oldIat)).status, 403, 'in the other app too');
    assert.equal((await certSign(f.app, 'eli@example.com', oldIat)).status, 200, 'another person\'s token still works');

    const fresh = await certSign(f.app, 'dana@example.com', afresh());
    assert.equal(fresh.status, 200, fresh.raw);
    // A permanent ban is a policy that refuses them first (or an exclude): a fresh sign-in is then refused too.
    const moved = await f.t.call('PUT', f.at(`/access/apps/${appB.id}/policies/${allOfB}`), { token: f.admin, body: { name: 'all', decision: 'allow', include: [{ everyone: {} }], exclude: [{ email: { email: 'dana@example.com' } }], precedence: 2 } });
    assert.equal(moved.status, 200, moved.raw);
    assert.equal((await certSign(appB, 'dana@example.com', afresh())).status, 403, 'excluded');
    const ban = await f.t.call('POST', f.at(`/access/apps/${appB.id}/policies`), { token: f.admin, body: { name: 'ban', decision: 'deny', include: [{ email: { email: 'dana@example.com' } }], precedence: 1 } });
    assert.equal(ban.status, 201, ban.raw);
    assert.equal((await certSign(appB, 'dana@example.com', afresh())).status, 403);

    const listed = await f.t.call('GET', f.at(`/access/apps/${appB.id}/ca/revocations`), { token: f.tenant.read });
    const person = listed.body.result.find((r: any) => r.kind === 'identity' && r.value === 'dana@example.com');
    assert.deepEqual([person.app_id, person.reason, person.blocks, person.certificates], [null, 'revoke_user', 'earlier_sign_ins', 2]);
    assert.match(person.actor, /^token:/);
  });

  it('revoke_tokens (SDK v7): every person of one app signs in afresh; automation and other apps are untouched', async () => {
    const oldIat = nowS() - 5;
    const person = await certSign(f.app, 'fin@example.com', oldIat);
    const elsewhere = await certSign(appB, 'fin@example.com', oldIat);
    const robot = await sign(f.app.id, ['deploy']);
    assert.equal(robot.status, 200, robot.raw);

    assert.equal(await sdk.zeroTrust.access.applications.revokeTokens(f.app.id, { account_id: f.tenant.accountId }), null);

    assert.equal(await status(f.app.id, person.body.id), 'revoked');
    assert.equal(await status(f.app.id, robot.body.result.id), 'valid', 'automation holds no identity token');
    assert.equal(await status(appB.id, elsewhere.body.id), 'valid');
    assert.equal((await certSign(f.app, 'gus@example.com', oldIat)).status, 403, 'any person\'s earlier token, not only those who had certificates');
    assert.equal((await certSign(appB, 'gus@example.com', oldIat)).status, 200);
    assert.equal((await certSign(f.app, 'gus@example.com', afresh())).status, 200);
    await assert.rejects(sdk.zeroTrust.access.applications.revokeTokens(randomUUID(), { account_id: f.tenant.accountId }), Cloudflare.NotFoundError);
  });

  it('a revoked principal is refused on cert_sign and /ca/sign until lifted; its certificate stays in the KRL', async () => {
    const old = await sign(f.app.id, ['hana', 'web']);
    assert.equal(old.status, 200, old.raw);
    const revoked = await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/certificates/revoke`), { token: f.admin, body: { principal: 'hana', reason: 'left the db team' } });
    assert.equal(revoked.status, 200, revoked.raw);
    assert.deepEqual([revoked.body.result.kind, revoked.body.result.certificates, revoked.body.result.blocks, revoked.body.result.app_id], ['principal', 1, 'new_certificates', f.app.id]);

    const viaApi = await sign(f.app.id, ['web', 'hana']);
    assert.equal(viaApi.status, 403, viaApi.raw);
    assert.equal(viaApi.body.errors[0].code, 12140);
    assert.match(viaApi.body.errors[0].message, /principal "hana" has been revoked/);
    assert.equal((await certSign(f.app, 'hana@example.com', afresh())).status, 403, 'a person whose login is hana');
    assert.equal((await sign(appB.id, ['hana'])).status, 200, 'another app is untouched');

    const lift = (id: string) => f.t.call('DELETE', f.at(`/access/apps/${f.app.id}/ca/revocations/${id}`), { token: f.admin });
    assert.equal((await f.t.call('DELETE', f.at(`/access/apps/${appB.id}/ca/revocations/${revoked.body.result.id}`), { token: f.admin })).status, 404, 'only through its own app');
    assert.equal((await f.t.call('DELETE', f.at(`/access/apps/${f.app.id}/ca/revocations/${revoked.body.result.id}`), { token: f.tenant.read })).status, 403, 'lifting needs Write');
    const lifted = await lift(revoked.body.result.id);
    assert.equal(lifted.status, 200, lifted.raw);
    assert.equal(lifted.body.result.blocks, 'nothing');
    assert.match(lifted.body.result.lifted_by, /^token:/);
    assert.equal((await sign(f.app.id, ['hana'])).status, 200);
    assert.equal((await certSign(f.app, 'hana@example.com', afresh())).status, 200);
    assert.equal(await status(f.app.id, old.body.result.id), 'revoked', 'lifting un-revokes nothing');
    assert.ok((await krl(f.app.id)).krl.certificates.some((c) => c.serials.includes(BigInt(old.body.result.serial))), 'the old certificate stays in the KRL');

    const again = await lift(revoked.body.result.id);
    assert.deepEqual([again.status, again.body.errors[0].code], [409, 12139]);
    const person = (await f.t.call('GET', f.at(`/access/apps/${f.app.id}/ca/revocations`), { token: f.tenant.read })).body.result.find((r: any) => r.kind === 'identity');
    const standing = await lift(person.id);
    assert.deepEqual([standing.status, standing.body.errors[0].code], [409, 12139]);
    assert.match(standing.body.errors[0].message, /sign/);
    assert.equal((await lift(randomUUID())).status, 404);
    assert.equal((await lift('not-an-id')).status, 400);
    const events = await f.t.call('GET', f.at('/access/audit?type=ssh_revocation.lifted'), { token: f.admin });
    assert.ok(events.body.result.some((e: any) => e.subject === revoked.body.result.id), 'lifting is audited');
  });

  it('a key id revocation takes a label and covers every certificate issued with it', async () => {
    const one = await sign(f.app.id, ['ci'], { key_id: 'deploy-7' });
    const two = await sign(f.app.id, ['ci'], { key_id: 'deploy-7' });
    const other = await sign(f.app.id, ['ci'], { key_id: 'deploy-70' });
    const r = await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/certificates/revoke`), { token: f.admin, body: { key_id: 'label=deploy-7', reason: 'pipeline compromised' } });
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.body.result.certificates, 2);
    assert.equal(await status(f.app.id, one.body.result.id), 'revoked');
    assert.equal(await status(f.app.id, two.body.result.id), 'revoked');
    assert.equal(await status(f.app.id, other.body.result.id), 'valid');
    assert.equal((await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/certificates/revoke`), { token: f.admin, body: { key_id: 'label=', reason: 'x' } })).status, 400);
  });

  it('a user key revoked in one app is refused by every app of the account and listed in each KRL', async () => {
    const key = newKey();
    const fp = parseUserPublicKey(key).fingerprint;
    const inB = await sign(appB.id, ['ops'], {}, key);
    assert.equal(inB.status, 200, inB.raw);
    const r = await f.t.call('POST', f.at(`/access/apps/${f.app.id}/ca/certificates/revoke`), { token: f.admin, body: { public_key_fingerprint: fp, reason: 'laptop stolen' } });
    assert.equal(r.status, 200, r.raw);
    assert.deepEqual([r.body.result.app_id, r.body.result.certificates], [null, 1]);
    assert.equal(await status(appB.id, inB.body.result.id), 'revoked');
    const refused = await sign(appB.id, ['ops'], {}, key);
    assert.equal(refused.status, 403, refused.raw);
    assert.match(refused.body.errors[0].message, /revoked/);
    for (const id of [f.app.id, appB.id]) {
      const { krl: decoded } = await krl(id);
      assert.ok(decoded.sha256Keys.some((h) => `SHA256:${h.toString('base64').replace(/=+$/, '')}` === fp), `app ${id}'s KRL lists the key`);
    }
  });

  it('refuses bad revoke_user bodies with the contract\'s envelope', async () => {
    const call = (body: unknown) => f.t.call('POST', f.at('/access/organizations/revoke_user'), { token: f.admin, body });
    for (const body of [{}, { email: 'not an email' }, { email: 'a@example.com', user_uid: randomUUID() }, { email: 'a@example.com', extra: 1 }, { email: 'a\u0000b@example.com' }]) {
      const r = await call(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.raw}`);
      assert.equal(r.body.success, false);
    }
    assert.equal((await f.t.call('POST', f.at('/access/organizations/revoke_user'), { token: f.tenant.read, body: { email: 'a@example.com' } })).status, 403);
  });
});
