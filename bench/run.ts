// `npm run bench`: throughput as ratios to a bare Fastify POST measured in the same run, and PostgreSQL
// as a ratio to the same run's SQLite (these machines drift ±25 % in absolute terms; ratios do not).
import { call, closeAgent, rate, startCeiling, CONCURRENCY } from './bench-http.ts';
import { postgresReachable, startBenchNode } from './bench-store.ts';
import { measureCaApi } from './ca-api.ts';
import { krlReport, measureKrl } from './krl.ts';
import { measureSign } from './sign.ts';

const N = Number(process.env['BENCH_N'] ?? 2000);
const ceiling = await startCeiling();
const ceilingBody = JSON.stringify({ public_key: 'x'.repeat(80), jwt: 'y'.repeat(600) });
const measureCeiling = () => rate(N, () => call(ceiling.port, 'POST', '/ceiling', { 'content-type': 'application/json' }, ceilingBody), 200);
// A long warm-up: the first thousands of requests run before the JIT has settled.
await rate(5000, () => call(ceiling.port, 'POST', '/ceiling', { 'content-type': 'application/json' }, ceilingBody), 200);

const kinds = ['sqlite', ...((await postgresReachable()) ? ['postgres' as const] : [])] as const;
const results: Record<string, Record<string, number>> = {};
const ceilings: number[] = [await measureCeiling()];
for (const kind of kinds) {
  const node = await startBenchNode(kind);
  results[kind] = { ...(await measureSign(node, N)), ...(await measureCaApi(node, N)) };
  await node.close();
  ceilings.push(await measureCeiling());
}
const bare = ceilings.reduce((a, b) => a + b, 0) / ceilings.length;

console.log(`N=${N}, concurrency ${CONCURRENCY}; ceiling = bare Fastify JSON POST, measured ${ceilings.length}× (${ceilings.map((c) => c.toFixed(0)).join(', ')}/s)`);
const header = ['scenario'.padEnd(34), ...kinds.map((k) => `${k}/s`.padStart(12)), ...kinds.map((k) => `${k} × ceil`.padStart(16)), ...(kinds.length > 1 ? ['postgres × sqlite'.padStart(19)] : [])];
console.log(header.join(''));
for (const scenario of Object.keys(results['sqlite']!)) {
  const values = kinds.map((k) => results[k]![scenario]!);
  console.log([
    scenario.padEnd(34),
    ...values.map((v) => v.toFixed(0).padStart(12)),
    ...values.map((v) => (v / bare).toFixed(3).padStart(16)),
    ...(kinds.length > 1 ? [(values[1]! / values[0]!).toFixed(2).padStart(19)] : []),
  ].join(''));
}
if (kinds.length === 1) console.log('(no PostgreSQL at 127.0.0.1:5432: SQLite only)');
await ceiling.app.close();
closeAgent();

// Pure CPU, no server: the KRL encoder on 100,000 revoked serials (bench/krl.ts).
console.log('');
for (const line of krlReport(measureKrl())) console.log(line);
