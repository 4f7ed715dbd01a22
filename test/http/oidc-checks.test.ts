import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestOp, type TestOp } from '../helpers/test-op.ts';
import { actAsPerson } from '../helpers/oidc-person.ts';
import { completeBrowserSignIn, connectProvider, type Provider } from '../../src/cli/oidc/oidc-client.ts';
import { ClientError } from '../../src/cli/cli-config.ts';

describe('sign-in checks against a real OpenID Provider', () => {
  let op: TestOp;
  let provider: Provider;
  before(async () => {
    op = await startTestOp();
    provider = await connectProvider(op.issuer, op.clientId, ['openid', 'email']);
  });
  after(() => op.close());

  /** Runs the browser half as the person and returns where the provider sent them, undelivered. */
  async function authorize(p: Provider = provider) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(p.config, {
      redirect_uri: 'http://127.0.0.1:45678/callback', scope: 'openid email', response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
    });
    const { url: returned } = await actAsPerson(url.href, { login: 'carol', stopAt: (u) => u.pathname === '/callback', deliver: false });
    return { returned, verifier, state, nonce };
  }

  it('completes with the right verifier, state and nonce', async () => {
    const a = await authorize();
    const signedIn = await completeBrowserSignIn(provider, a.returned, a);
    assert.equal(signedIn.email, 'carol@example.com');
  });

  it('refuses an ID token with another nonce', async () => {
    const a = await authorize();
    await assert.rejects(completeBrowserSignIn(provider, a.returned, { ...a, nonce: 'another' }), (e: Error) => e instanceof ClientError && /nonce mismatch/.test(e.message));
  });

  it('refuses a PKCE verifier that does not match (the provider refuses the code)', async () => {
    const a = await authorize();
    await assert.rejects(completeBrowserSignIn(provider, a.returned, { ...a, verifier: oidc.randomPKCECodeVerifier() }), /provider refused the grant \(grant request is invalid\)/);
  });

  it('refuses a response with another state', async () => {
    const a = await authorize();
    await assert.rejects(completeBrowserSignIn(provider, a.returned, { ...a, state: 'another' }), /state mismatch/);
  });

  it('a client id the provider does not know is named as such', async () => {
    const a = await authorize();
    const stranger = await connectProvider(op.issuer, 'not-registered', ['openid']);
    await assert.rejects(completeBrowserSignIn(stranger, a.returned, a), /does not know this client id/);
  });

  it('an unreachable provider is named as such', async () => {
    await assert.rejects(connectProvider('http://127.0.0.1:9', 'x', ['openid']), /cannot be reached/);
    await assert.rejects(connectProvider('http://idp.example.com', 'x', ['openid']), /is not https/);
  });
});
