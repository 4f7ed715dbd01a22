import { ClientError, SignInExpired } from '../cli-config.ts';
import { forgetSignIn, readSignIn, writeSignIn, type CachedSignIn } from './token-cache.ts';

/** What the server publishes for a host: `GET /cdn-cgi/access/app?hostname=H`. */
export interface SignInInfo {
  aud: string;
  issuer: string;
  client_id: string;
  scopes: string[];
}

/** The client a `login --trial` sign-in names: there is none to refresh it with, so it is made again. */
export const TRIAL_CLIENT_ID = 'access-ca-trial';

/** ID tokens this close to expiry are refreshed before use. */
const EXPIRY_MARGIN_S = 10;

export async function fetchSignInInfo(server: string, host: string): Promise<SignInInfo> {
  let res: Response;
  try {
    res = await fetch(`${server}/cdn-cgi/access/app?hostname=${encodeURIComponent(host)}`, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new ClientError(`cannot reach ${server}: ${(error as Error).message}`);
  }
  const body = (await res.json().catch(() => null)) as (SignInInfo & { message?: string }) | null;
  if (res.status !== 200 || !body || typeof body.issuer !== 'string') {
    throw new ClientError(`${server} has no sign-in for ${host}: ${body?.message ?? `HTTP ${res.status}`}`);
  }
  return body;
}

export interface SignInOptions {
  server: string;
  host: string;
  dir: string;
  /** Use the device grant instead of a browser. */
  device: boolean;
  openBrowser: boolean;
  /** When false, a needed sign-in is an error instead of a prompt (for ssh's Match exec). */
  interactive: boolean;
  say(text: string): void;
  now(): number;
}

/** Signs in now (browser or device code) and caches the result. */
export async function signIn(opts: SignInOptions, info?: SignInInfo): Promise<CachedSignIn & { file: string }> {
  const published = info ?? (await fetchSignInInfo(opts.server, opts.host));
  // The OpenID client (openid-client, jose) is loaded only to sign in or refresh: ssh-gen with a
  // sign-in still fresh, run before every ssh, never needs it.
  const { connectProvider, signInWithBrowser, signInWithDevice } = await import('./oidc-client.ts');
  const provider = await connectProvider(published.issuer, published.client_id, published.scopes);
  const signedIn = opts.device ? await signInWithDevice(provider, opts) : await signInWithBrowser(provider, opts);
  const cached = { ...signedIn, issuer: published.issuer, clientId: published.client_id };
  return { ...cached, file: writeSignIn(opts.dir, opts.host, cached) };
}

/**
 * An ID token for the host: the cached one while it is fresh; else a silent refresh; else a sign-in
 * (or, when not interactive, an error that says how to sign in).
 */
export async function currentIdToken(opts: SignInOptions): Promise<string> {
  const cached = readSignIn(opts.dir, opts.host);
  if (cached && cached.expiresAt - opts.now() > EXPIRY_MARGIN_S) return cached.idToken;
  if (cached?.refreshToken) {
    try {
      const { connectProvider, refreshSignIn } = await import('./oidc-client.ts');
      const refreshed = await refreshSignIn(await connectProvider(cached.issuer, cached.clientId, []), cached.refreshToken);
      writeSignIn(opts.dir, opts.host, { ...refreshed, issuer: cached.issuer, clientId: cached.clientId });
      return refreshed.idToken;
    } catch (error) {
      // Only a refused refresh ends the saved sign-in; an unreachable provider is reported as it is.
      if (!(error instanceof SignInExpired)) throw error;
      forgetSignIn(opts.dir, opts.host);
      opts.say(`the saved sign-in for ${opts.host} no longer works (${error.message})`);
    }
  }
  if (cached?.clientId === TRIAL_CLIENT_ID) {
    throw new ClientError(`the trial sign-in${cached.email ? ` of ${cached.email}` : ''} for ${opts.host} has expired: run access-ca login --trial --email ${cached.email ?? '<email>'} --hostname ${opts.host} again`);
  }
  if (!opts.interactive) {
    throw new ClientError(`sign-in needed for ${opts.host}: run access-ca login --server ${opts.server} --hostname ${opts.host}`);
  }
  return (await signIn(opts)).idToken;
}
