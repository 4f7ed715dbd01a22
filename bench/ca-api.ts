import { call, rate } from './bench-http.ts';
import type { BenchNode } from './bench-store.ts';

/** CA create, get and list throughput on one node, over real HTTP on loopback. */
export async function measureCaApi(node: BenchNode, n: number): Promise<Record<string, number>> {
  const base = `/client/v4/accounts/${node.accountId}/access/apps`;
  const appIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await node.app.inject({ method: 'POST', url: base, headers: node.auth, payload: { name: `b${i}`, domain: `b${i}.example.com` } });
    appIds.push(JSON.parse(res.body).result.id);
  }
  return {
    'POST /access/apps/{id}/ca': await rate(n, (i) => call(node.port, 'POST', `${base}/${appIds[i]}/ca`, node.auth, '{}'), 200),
    'GET /access/apps/{id}/ca': await rate(n, (i) => call(node.port, 'GET', `${base}/${appIds[i]}/ca`, node.auth), 200),
    'GET /access/apps/ca?per_page=100': await rate(Math.floor(n / 4), () => call(node.port, 'GET', `${base}/ca?per_page=100`, node.auth), 200),
  };
}
