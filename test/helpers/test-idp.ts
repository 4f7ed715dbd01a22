import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** An identity provider made by a test: its key pair, its JWKS, and JWTs signed as it would sign them. */
export interface TestIdp {
  issuer: string;
  jwks: { keys: JWK[] };
  kid: string;
  /** Serves the JWKS on loopback; returns its URL. */
  serve(): Promise<string>;
  sign(claims: Record<string, unknown>, opts?: { expiresIn?: string | number; notBefore?: string | number; issuedAt?: number; issuer?: string; alg?: string; key?: CryptoKey }): Promise<string>;
  close(): Promise<void>;
}

export async function makeTestIdp(issuer = 'https://idp.test.example'): Promise<TestIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${Math.random().toString(36).slice(2, 10)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  let server: Server | undefined;
  return {
    issuer,
    jwks: { keys: [jwk] },
    kid,
    async serve() {
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
    },
    async sign(claims, opts = {}) {
      // Providers vouch for the emails they verified; a test that means otherwise says so in its claims.
      const withVerified = 'email' in claims && !('email_verified' in claims) ? { ...claims, email_verified: true } : claims;
      let jwt = new SignJWT(withVerified).setProtectedHeader({ alg: opts.alg ?? 'ES256', kid }).setIssuer(opts.issuer ?? issuer)
        .setIssuedAt(opts.issuedAt).setExpirationTime(opts.expiresIn ?? '5m');
      if (opts.notBefore !== undefined) jwt = jwt.setNotBefore(opts.notBefore);
      return jwt.sign(opts.key ?? privateKey);
    },
    async close() {
      if (server) await new Promise<void>((r) => server!.close(() => r()));
    },
  };
}

/** An unsigned token (`alg: none`), which every verifier must refuse. */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}
