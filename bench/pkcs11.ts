// CA keys in a PKCS#11 token (SoftHSM2), against sealed keys on the same run: cert_sign through the real
// app for a CA of each kind, in alternating rounds (one server, two applications), and the latency of one
// signature in the token from this process, beside Node's in-process signature.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createSoftHsmToken, softhsmUnavailable } from '../test/helpers/softhsm.ts';
import { openPkcs11Token } from '../src/signers/pkcs11-token.ts';
import { signP256 } from '../src/openssh/ecdsa-signature.ts';
import { paired, type Measured, type Scenario } from './load.ts';

export interface Pkcs11Result {
  skipped?: string;
  sealed?: Measured;
  token?: Measured;
  /** One signature, sequential, in ms: in the token (session taken, C_SignInit, C_Sign on the thread pool) and in-process. */
  tokenSignature?: { p50: number; p99: number; perSecond: number };
  nodeSignature?: { p50: number; p99: number; perSecond: number };
  /** Signatures per second with 4 in flight (the default session pool). */
  tokenConcurrent?: number;
}

type Start = (mode: string, kind: string) => Promise<{ info: any; stop(): Promise<void> }>;

function latencies(ms: number[]): { p50: number; p99: number; perSecond: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99), perSecond: 1000 / (ms.reduce((a, b) => a + b, 0) / ms.length) };
}

export async function measurePkcs11(startServer: Start, kind: string): Promise<Pkcs11Result> {
  const why = softhsmUnavailable();
  if (why) return { skipped: why };
  const hsm = createSoftHsmToken();
  // The server process and this one read the same token (SoftHSM2's file store serves several processes).
  process.env['SOFTHSM2_CONF'] = hsm.conf;
  process.env['BENCH_PKCS11'] = JSON.stringify({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
  try {
    const server = await startServer('pkcs11', kind);
    const { port, jwt, keys, sealedAud, tokenAud } = server.info;
    const scenario = (aud: string): Scenario => ({
      method: 'POST', path: '/cdn-cgi/access/cert_sign', headers: { 'content-type': 'application/json' },
      vary: (n) => ({ body: JSON.stringify({ public_key: keys[n % keys.length], jwt: jwt[aud] }) }),
    });
    const run = await paired({ port, scenario: scenario(sealedAud) }, { port, scenario: scenario(tokenAud) });
    await server.stop();

    const token = openPkcs11Token({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin }, { log: { info() {}, warn() {}, error() {} } });
    const id = randomBytes(16);
    const signer = token.signer(id.toString('hex'), await token.generateKey('bench', id));
    const data = randomBytes(600);
    for (let i = 0; i < 200; i++) await signer.sign(data);
    const inToken: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      await signer.sign(data);
      inToken.push(performance.now() - t0);
    }
    const started = performance.now();
    let done = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (performance.now() - started < 2000) {
        await signer.sign(data);
        done++;
      }
    }));
    const tokenConcurrent = done / ((performance.now() - started) / 1000);
    await token.close();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const inNode: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      signP256(privateKey, data);
      inNode.push(performance.now() - t0);
    }
    return { sealed: run.ceiling, token: run.subject, tokenSignature: latencies(inToken), nodeSignature: latencies(inNode), tokenConcurrent };
  } finally {
    delete process.env['BENCH_PKCS11'];
    hsm.remove();
  }
}

export function pkcs11Report(results: { kind: string; result: Pkcs11Result }[]): string[] {
  const lines = ['CA keys in a PKCS#11 token (SoftHSM2) against sealed keys, same run, alternating rounds:', ''];
  lines.push('| scenario | store | req/s | p50 ms | p99 ms | ratio | against |', '|---|---|---:|---:|---:|---:|---|');
  for (const { kind, result: r } of results) {
    if (r.skipped) {
      lines.push(`| cert_sign, CA key in the token | ${kind} | | | | | skipped: ${r.skipped} |`);
      continue;
    }
    lines.push(`| cert_sign, sealed CA key | ${kind} | ${r.sealed!.rate.toFixed(0)} | ${r.sealed!.p50.toFixed(2)} | ${r.sealed!.p99.toFixed(2)} | 1.00 | itself |`);
    lines.push(`| cert_sign, CA key in the token | ${kind} | ${r.token!.rate.toFixed(0)} | ${r.token!.p50.toFixed(2)} | ${r.token!.p99.toFixed(2)} | ${(r.token!.rate / r.sealed!.rate).toFixed(2)} | sealed |`);
  }
  const first = results.find((r) => !r.result.skipped)?.result;
  if (first) {
    const f = (s: { p50: number; p99: number; perSecond: number }) => `p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms (${s.perSecond.toFixed(0)}/s one at a time)`;
    lines.push('', `One P-256 signature in the token: ${f(first.tokenSignature!)}; ${first.tokenConcurrent!.toFixed(0)}/s with 4 in flight. In-process (sealed key): ${f(first.nodeSignature!)}.`);
  }
  return lines;
}
