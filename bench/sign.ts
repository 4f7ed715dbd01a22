import { generateKeyPairSync } from 'node:crypto';
import { authorizedKeyLine, publicKeyBlob } from '../src/openssh/public-key-blob.ts';
import { makeTestIdp } from '../test/helpers/test-idp.ts';
import { call, rate } from './bench-http.ts';
import type { BenchNode } from './bench-store.ts';

/** A body cloudflared would send: a fresh ed25519 key and the person's token. */
export async function certSignBodies(node: BenchNode): Promise<{ bodies: string[]; close(): Promise<void> }> {
  const base = `/client/v4/accounts/${node.accountId}`;
  const idp = await makeTestIdp();
  await node.app.inject({ method: 'POST', url: `${base}/access/identity_providers`, headers: node.auth, payload: { name: 'bench', config: { issuer: idp.issuer, jwks: idp.jwks } } });
  const target = JSON.parse((await node.app.inject({ method: 'POST', url: `${base}/access/apps`, headers: node.auth, payload: { name: 'b', domain: 'b.example.com' } })).body).result;
  await node.app.inject({ method: 'POST', url: `${base}/access/apps/${target.id}/ca`, headers: node.auth });
  await node.app.inject({ method: 'POST', url: `${base}/access/apps/${target.id}/policies`, headers: node.auth, payload: { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] } });
  // Tokens and keys are made before timing: the bench measures the server, not the client.
  const jwt = await idp.sign({ aud: [target.aud], email: 'bench@example.com' }, { expiresIn: '1h' });
  const bodies = Array.from({ length: 64 }, () =>
    JSON.stringify({ public_key: authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey)), jwt, issuer: 'http://bench' }));
  return { bodies, close: () => idp.close() };
}

/** Certificates per second through POST /cdn-cgi/access/cert_sign: verify the JWT, check policy, sign, re-verify, record durably. */
export async function measureSign(node: BenchNode, n: number): Promise<Record<string, number>> {
  const { bodies, close } = await certSignBodies(node);
  const json = { 'content-type': 'application/json' };
  const send = (i: number) => call(node.port, 'POST', '/cdn-cgi/access/cert_sign', json, bodies[i % bodies.length]);
  await rate(300, send, 200);
  const r = await rate(n, send, 200);
  await close();
  return { 'POST /cdn-cgi/access/cert_sign': r };
}
