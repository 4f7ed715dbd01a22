import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliInProcess, startServer, type ServerProcess } from './server-process.ts';
import { postgresTestDatabase, type TestDatabase } from './databases.ts';
import { makeTestIdp, type TestIdp } from './test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { testTempDir } from './temp-dir.ts';

/** A master key file shared by every node of one deployment. */
export function sharedMasterKey(): string {
  const file = join(testTempDir('access-ca-mk-'), 'master.key');
  writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  return file;
}

export const userKey = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

/** HTTP calls against one node with the deployment's admin token; fails loudly on an unexpected status. */
export function nodeApi(node: { base: string }, accountId: string, token: string) {
  return async (method: string, path: string, body?: unknown, expect?: number) => {
    const res = await fetch(`${node.base}/accounts/${accountId}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as any;
    if (expect !== undefined) assert.equal(res.status, expect, `${method} ${path}: ${JSON.stringify(json)}`);
    return { status: res.status, headers: res.headers, body: json };
  };
}

/** A deployment ready to sign: an identity provider trusted by the account, and a way to make JWTs. */
export interface Signing {
  idp: TestIdp;
  /** A reusable Access policy that allows everyone the provider vouches for: list it in an app's `policies`. */
  everyone: string;
  jwtFor(aud: string): Promise<string>;
  certSign(node: { origin: string }, aud: string): Promise<{ status: number; body: any }>;
  /** The provider's id, and a token that may change it (Identity Providers Write). */
  idpId: string;
  idpToken: string;
}

export async function prepareSigning(first: ServerProcess, env: Record<string, string>): Promise<Signing> {
  const made = await runCliInProcess(['--data-dir', first.dataDir, 'token', 'create', '--account', first.accountId,
    '--permission', 'Access: Organizations, Identity Providers, and Groups Write', '--json'], env);
  assert.equal(made.code, 0, made.stderr);
  const idp = await makeTestIdp();
  const res = await fetch(`${first.base}/accounts/${first.accountId}/access/identity_providers`, {
    method: 'POST', headers: { authorization: `Bearer ${JSON.parse(made.stdout).value}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'test', config: { issuer: idp.issuer, jwks: idp.jwks } }),
  });
  const provider = (await res.json()) as any;
  assert.equal(res.status, 201, JSON.stringify(provider));
  const policy = await fetch(`${first.base}/accounts/${first.accountId}/access/policies`, {
    method: 'POST', headers: { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'everyone', decision: 'allow', include: [{ everyone: {} }] }),
  });
  const everyone = ((await policy.json()) as any).result?.id;
  assert.equal(policy.status, 201, everyone);
  const jwtFor = (aud: string) => idp.sign({ aud: [aud], email: 'load@example.com' }, { expiresIn: '1h' });
  return {
    idp,
    everyone,
    idpId: provider.result.id,
    idpToken: JSON.parse(made.stdout).value,
    jwtFor,
    async certSign(node, aud) {
      const r = await fetch(`${node.origin}/cdn-cgi/access/cert_sign`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key: userKey(), jwt: await jwtFor(aud) }),
      });
      return { status: r.status, body: await r.json() };
    },
  };
}

/** Two server processes on one fresh PostgreSQL database with one master key, started at once. */
export interface TwoNodes {
  pg: TestDatabase;
  a: ServerProcess;
  b: ServerProcess;
  env: Record<string, string>;
  /** The node that made the first account (and printed its token). */
  first: ServerProcess;
  stop(): Promise<void>;
}

/**
 * Starts two nodes together on an empty database: migrations and the first account happen exactly once.
 * `args` and `env` are given to both (say, one PKCS#11 token they share).
 */
export async function startTwoNodes(opts: { args?: string[]; env?: Record<string, string> } = {}): Promise<TwoNodes> {
  const pg = await postgresTestDatabase();
  const env = { ACCESS_CA_DATABASE_URL: pg.url, ACCESS_CA_MASTER_KEY_FILE: sharedMasterKey(), ...opts.env };
  const started = await Promise.allSettled([
    startServer({ env, dataDir: testTempDir('node-a-'), args: opts.args }),
    startServer({ env, dataDir: testTempDir('node-b-'), args: opts.args }),
  ]);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    // A node that did start would outlive the test (its pipes keep the test process from exiting), and so would the database.
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : null)));
    await pg.drop();
    throw failed.reason;
  }
  const [a, b] = started.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value) as [ServerProcess, ServerProcess];
  const banners = [a, b].filter((n) => n.token !== '');
  assert.equal(banners.length, 1, 'one node made the first account and printed its token');
  return {
    pg, a, b, env, first: banners[0]!,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
      await pg.drop();
    },
  };
}
