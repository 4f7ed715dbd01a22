import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';

/** A real OpenID Provider (oidc-provider, with its development sign-in pages) on a loopback port. */
export interface TestOp {
  issuer: string;
  clientId: string;
  jwksUrl: string;
  /** Revokes a refresh token, as a provider does when a session is ended. */
  revoke(refreshToken: string): Promise<void>;
  close(): Promise<void>;
}

export async function startTestOp(opts: { clientId?: string } = {}): Promise<TestOp> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const clientId = opts.clientId ?? 'access-ca-cli';
  const op = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      // RFC 8252: for a native client the loopback port is not compared.
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
    }],
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true }, revocation: { enabled: true } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // Like Okta, Google, Keycloak and Entra: scope-requested claims go into the ID token too.
    conformIdTokenClaims: false,
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    // The person signs in with their Unix name; the email's local part maps back to it.
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true }) }),
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    ttl: { IdToken: 600, AccessToken: 600, RefreshToken: 3600, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  } as never);
  server.on('request', op.callback());
  return {
    issuer,
    clientId,
    jwksUrl: `${issuer}/jwks`,
    async revoke(refreshToken) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: clientId }),
      });
      if (res.status !== 200) throw new Error(`revocation: HTTP ${res.status} ${await res.text()}`);
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
