import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerProcess } from '../helpers/server-process.ts';
import { postgresUnavailable } from '../helpers/databases.ts';
import { nodeApi, prepareSigning, startTwoNodes, userKey, type Signing, type TwoNodes } from '../helpers/deployment.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { parseUserPublicKey } from '../../src/openssh/user-public-key.ts';

const skip = await postgresUnavailable();

/**
 * Each cache of the signing path (apps, providers and verified tokens, Access policies, certificate
 * policies, revoked keys, CA keys) on two nodes: B answers once, so it holds everything; A changes one
 * thing; B's very next answer follows the change. The same token and key are sent each time, as
 * cloudflared does, so B's remembered verify is what would be served stale.
 */
describe('caches follow a change made on another node at once', { skip: skip ?? false }, () => {
  let nodes: TwoNodes;
  let a: ServerProcess;
  let b: ServerProcess;
  let signing: Signing;
  let onA: ReturnType<typeof nodeApi>;

  before(async () => {
    nodes = await startTwoNodes();
    ({ a, b } = nodes);
    signing = await prepareSigning(nodes.first, nodes.env);
    onA = nodeApi(a, nodes.first.accountId, nodes.first.token);
  });
  after(async () => {
    await nodes?.stop();
    await signing?.idp.close();
  });

  /** A fresh app with a CA, a token for it and a key, signed twice on B so that B has cached all of it. */
  async function warmOnB(name: string) {
    const app = (await onA('POST', '/access/apps', { name, domain: `${name}.example.com`, policies: [signing.everyone] }, 201)).body.result;
    const ca = (await onA('POST', `/access/apps/${app.id}/ca`, undefined, 200)).body.result;
    const jwt = await signing.jwtFor(app.aud);
    const key = userKey();
    const sign = async (node = b) => {
      const r = await fetch(`${node.origin}/cdn-cgi/access/cert_sign`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: key, jwt }),
      });
      return { status: r.status, body: (await r.json()) as any };
    };
    for (let i = 0; i < 2; i++) assert.equal((await sign()).status, 200);
    return { app, ca, key, sign };
  }

  it('Access policies: a policy that no longer allows the person refuses on B', async () => {
    const { app, sign } = await warmOnB('policy-change');
    const nobody = (await onA('POST', '/access/policies', { name: 'nobody', decision: 'allow', include: [{ email_domain: { domain: 'nobody.example' } }] }, 201)).body.result;
    await onA('PUT', `/access/apps/${app.id}`, { name: app.name, domain: app.domain, policies: [nobody.id] }, 200);
    const refused = await sign();
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.match(refused.body.message, /no Access policy/);
  });

  it('certificate policy: a principal rule changed on A applies on B', async () => {
    const { app, sign } = await warmOnB('cert-policy');
    await onA('PUT', `/access/apps/${app.id}/ca/policy`, { principals: { allow: ['ops-*'] } }, 200);
    const refused = await sign();
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
  });

  it('revoked keys: a key revoked on A is refused on B', async () => {
    const { app, key, sign } = await warmOnB('revoked-key');
    await onA('POST', `/access/apps/${app.id}/ca/certificates/revoke`, { public_key_fingerprint: parseUserPublicKey(key).fingerprint, reason: 'lost laptop' }, 200);
    const refused = await sign();
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.match(refused.body.message, /revoked/);
  });

  it('CA keys: after a rotation on A, B signs with the new key', async () => {
    const { app, ca, sign } = await warmOnB('rotation');
    const next = (await onA('POST', `/access/apps/${app.id}/ca/rotate`, undefined, 200)).body.result;
    await onA('POST', `/access/apps/${app.id}/ca/rotate/activate`, undefined, 200);
    const signed = await sign();
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    const by = parseCertificate(Buffer.from(signed.body.certificate.split(' ')[1], 'base64')).signatureKey.toString('base64');
    assert.notEqual(by, ca.public_key.split(' ')[1]);
    assert.equal(by, JSON.stringify(next).match(/ecdsa-sha2-nistp256 ([A-Za-z0-9+/=]+)/)![1]);
  });

  it('identity providers and verified tokens: new provider keys on A make B verify the same token again, and refuse it', async () => {
    const { sign } = await warmOnB('provider-keys');
    const asIdpAdmin = nodeApi(a, nodes.first.accountId, signing.idpToken);
    const provider = (jwks: unknown) => ({ name: 'test', config: { issuer: signing.idp.issuer, jwks } });
    const other = await makeTestIdp(signing.idp.issuer);
    await asIdpAdmin('PUT', `/access/identity_providers/${signing.idpId}`, provider(other.jwks), 200);
    try {
      const refused = await sign();
      assert.equal(refused.status, 401, JSON.stringify(refused.body));
      assert.match(refused.body.message, /key the identity provider does not publish|signature/);
    } finally {
      // The other tests' tokens are signed by the first provider's key.
      await asIdpAdmin('PUT', `/access/identity_providers/${signing.idpId}`, provider(signing.idp.jwks), 200);
      await other.close();
    }
  });

  it('applications: an app deleted on A is unknown on B', async () => {
    const { app, sign } = await warmOnB('app-deleted');
    await onA('DELETE', `/access/apps/${app.id}`, undefined, 202);
    const refused = await sign();
    assert.equal(refused.status, 404, JSON.stringify(refused.body));
  });
});
