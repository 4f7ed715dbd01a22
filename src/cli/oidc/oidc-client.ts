import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ClientError, SignInExpired } from '../cli-config.ts';

/** What a sign-in yields and what the cache keeps. */
export interface SignedIn {
  idToken: string;
  refreshToken: string | null;
  /** Seconds since the epoch when the ID token expires. */
  expiresAt: number;
  email: string | null;
}

export interface Provider {
  config: oidc.Configuration;
  issuer: string;
  clientId: string;
  scopes: string[];
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;
const SIGN_IN_TIMEOUT_MS = 5 * 60_000;

/** Turns what openid-client and the provider say into something a person can act on. */
export function explainOidcError(error: unknown, doing: string): ClientError {
  if (error instanceof ClientError) return error;
  const e = error as { name?: string; code?: string; error?: string; error_description?: string; message?: string; cause?: unknown };
  const oauthError = e.error ?? (e.cause as { error?: string } | undefined)?.error;
  const description = e.error_description ?? (e.cause as { error_description?: string } | undefined)?.error_description;
  if (oauthError === 'access_denied') return new ClientError(`${doing}: sign-in was cancelled or consent was denied at the identity provider`);
  if (oauthError === 'invalid_client' || oauthError === 'unauthorized_client') {
    return new ClientError(`${doing}: the identity provider does not know this client id (${description ?? oauthError}); ask your administrator to check the provider's client_id`);
  }
  if (oauthError === 'invalid_grant') return new SignInExpired(`${doing}: the provider refused the grant (${description ?? 'invalid_grant'}); sign in again`);
  if (oauthError === 'expired_token') return new ClientError(`${doing}: the sign-in code expired before it was used; start again`);
  if (oauthError) return new ClientError(`${doing}: the identity provider said ${oauthError}${description ? `: ${description}` : ''}`);
  // openid-client wraps what went wrong in `cause`; its own message is generic.
  const cause = (e.cause as { message?: string } | undefined)?.message;
  const message = cause ?? e.message ?? String(error);
  if (/"state"/i.test(message)) return new ClientError(`${doing}: the sign-in response does not belong to this sign-in (state mismatch); start again`);
  if (/response parameter/i.test(message)) return new ClientError(`${doing}: the sign-in response is not one this sign-in expects (${message}); start again`);
  if (/nonce/i.test(message)) return new ClientError(`${doing}: the ID token does not belong to this sign-in (nonce mismatch); start again`);
  if (/"iat"|"exp"|"nbf"|clock|timestamp/i.test(message)) return new ClientError(`${doing}: the ID token's times do not fit this machine's clock; check the clock (${message})`);
  if (/"aud"|audience/i.test(message)) return new ClientError(`${doing}: the ID token is for another client (${message})`);
  if (/"iss"|issuer/i.test(message)) return new ClientError(`${doing}: the ID token is from another issuer (${message})`);
  if (e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || e.name === 'TypeError' || /fetch failed|ECONNREFUSED|ENOTFOUND|timeout/i.test(message)) {
    return new ClientError(`${doing}: the identity provider cannot be reached (${message})`);
  }
  return new ClientError(`${doing}: ${message}`);
}

/** Reads the provider's discovery document; plain http is allowed to loopback issuers only. */
export async function connectProvider(issuer: string, clientId: string, scopes: string[]): Promise<Provider> {
  const url = new URL(issuer);
  const insecure = url.protocol === 'http:';
  if (insecure && !LOOPBACK.test(url.hostname)) throw new ClientError(`the issuer ${issuer} is not https`);
  try {
    const config = await oidc.discovery(url, clientId, undefined, oidc.None(), insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
    return { config, issuer, clientId, scopes };
  } catch (error) {
    throw explainOidcError(error, `reading ${issuer}/.well-known/openid-configuration`);
  }
}

/** Checks the ID token's signature against the provider's published keys, as well as its claims. */
async function verifiedIdToken(p: Provider, response: oidc.TokenEndpointResponse, nonce?: string): Promise<SignedIn> {
  const idToken = response.id_token;
  if (!idToken) throw new ClientError('the identity provider returned no ID token; is the openid scope allowed for this client?');
  const jwksUri = p.config.serverMetadata().jwks_uri;
  if (!jwksUri) throw new ClientError('the identity provider publishes no jwks_uri');
  try {
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(jwksUri)), { issuer: p.config.serverMetadata().issuer, audience: p.clientId, clockTolerance: 30 });
    if (nonce !== undefined && payload['nonce'] !== nonce) throw new ClientError('the ID token does not belong to this sign-in (nonce mismatch); start again');
    return {
      idToken,
      refreshToken: response.refresh_token ?? null,
      expiresAt: payload.exp ?? 0,
      email: typeof payload['email'] === 'string' ? payload['email'] : null,
    };
  } catch (error) {
    throw explainOidcError(error, 'checking the ID token');
  }
}

function openBrowser(url: string): boolean {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** Waits for the provider's redirect on a loopback port (RFC 8252), then answers the browser. */
function loopbackReceiver(): Promise<{ redirectUri: string; callback: Promise<URL>; close(): void }> {
  return new Promise((resolve, reject) => {
    let deliver: (u: URL) => void;
    let fail: (e: Error) => void;
    const callback = new Promise<URL>((res, rej) => ((deliver = res), (fail = rej)));
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/callback') {
        res.writeHead(404).end();
        return;
      }
      const failed = url.searchParams.has('error');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>access-ca</title><p>${failed ? 'Sign-in did not complete. You can close this window and look at the terminal.' : 'Signed in. You can close this window.'}</p>`);
      deliver(new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}${req.url}`));
    });
    const timer = setTimeout(() => fail(new ClientError('sign-in timed out after 5 minutes; start again')), SIGN_IN_TIMEOUT_MS);
    timer.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ redirectUri: `http://127.0.0.1:${port}/callback`, callback, close: () => (clearTimeout(timer), server.close()) });
    });
  });
}

/** Authorization code flow with PKCE and a loopback redirect; prints the URL when no browser opens. */
export async function signInWithBrowser(p: Provider, opts: { openBrowser: boolean; say(text: string): void }): Promise<SignedIn> {
  const receiver = await loopbackReceiver();
  try {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(p.config, {
      redirect_uri: receiver.redirectUri, scope: p.scopes.join(' '), response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
    });
    const opened = opts.openBrowser && openBrowser(url.href);
    opts.say(`${opened ? 'A browser window opens to sign in. If it does not, open' : 'Open'} this URL to sign in:\n${url.href}`);
    const returned = await receiver.callback;
    return await completeBrowserSignIn(p, returned, { verifier, state, nonce });
  } finally {
    receiver.close();
  }
}

/** The second half of the code flow, separate so that each check it makes can be tested. */
export async function completeBrowserSignIn(p: Provider, returned: URL, checks: { verifier: string; state: string; nonce: string }): Promise<SignedIn> {
  let tokens: oidc.TokenEndpointResponse;
  try {
    tokens = await oidc.authorizationCodeGrant(p.config, returned, {
      pkceCodeVerifier: checks.verifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true,
    });
  } catch (error) {
    throw explainOidcError(error, 'signing in');
  }
  return verifiedIdToken(p, tokens, checks.nonce);
}

/** The device authorization grant, for machines without a browser: a code to enter elsewhere. */
export async function signInWithDevice(p: Provider, opts: { say(text: string): void }): Promise<SignedIn> {
  let tokens: oidc.TokenEndpointResponse;
  try {
    const started = await oidc.initiateDeviceAuthorization(p.config, { scope: p.scopes.join(' ') });
    opts.say(started.verification_uri_complete
      ? `To sign in, open ${started.verification_uri_complete}\n(or open ${started.verification_uri} and enter the code ${started.user_code})`
      : `To sign in, open ${started.verification_uri} and enter the code ${started.user_code}`);
    tokens = await oidc.pollDeviceAuthorizationGrant(p.config, started);
  } catch (error) {
    throw explainOidcError(error, 'signing in with a device code');
  }
  return verifiedIdToken(p, tokens);
}

/** A new ID token from a refresh token, with no sign-in. */
export async function refreshSignIn(p: Provider, refreshToken: string): Promise<SignedIn> {
  let tokens: oidc.TokenEndpointResponse;
  try {
    // No scope parameter: the refresh keeps what was granted (asking again for offline_access is refused).
    tokens = await oidc.refreshTokenGrant(p.config, refreshToken);
  } catch (error) {
    throw explainOidcError(error, 'refreshing the sign-in');
  }
  const signedIn = await verifiedIdToken(p, tokens);
  return { ...signedIn, refreshToken: signedIn.refreshToken ?? refreshToken };
}
