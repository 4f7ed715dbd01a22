// KRL size and encode time for 100,000 revoked serials, in three shapes. The baseline, measured in the
// same run, is the naive encoding: the serials sorted and written as one u64 list (8 bytes each).
// `node --import tsx bench/krl.ts` runs it alone; `npm run bench` prints it after the HTTP table.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { encodeKrl, type Krl } from '../src/openssh/krl.ts';
import { SshWriter } from '../src/openssh/ssh-wire.ts';

const COUNT = 100_000;
const REPS = Number(process.env['BENCH_KRL_REPS'] ?? 7);
// A P-256 CA blob's size and shape; its contents do not matter to the encoder.
const CA = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(Buffer.alloc(65, 4)).toBuffer();

function shapes(): Record<string, bigint[]> {
  const random = randomBytes(8 * COUNT);
  return {
    consecutive: Array.from({ length: COUNT }, (_, i) => 1_000_000n + BigInt(i)),
    'random 64-bit': Array.from({ length: COUNT }, (_, i) => random.readBigUInt64BE(8 * i) || 1n),
    'every other': Array.from({ length: COUNT }, (_, i) => 1n + 2n * BigInt(i)),
  };
}

const naiveList = (serials: bigint[]): Buffer => {
  const w = new SshWriter();
  for (const s of BigUint64Array.from(serials).sort()) w.uint64(s);
  return w.toBuffer();
};

/** Median milliseconds of `REPS` runs, after one warm-up run. */
function medianMs(f: () => unknown): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const start = process.hrtime.bigint();
    f();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

export interface KrlBenchRow { shape: string; bytes: number; encodeMs: number; baselineBytes: number; baselineMs: number }

/** Encodes each shape of 100,000 serials; returns sizes and median encode times beside the naive list's. */
export function measureKrl(): KrlBenchRow[] {
  return Object.entries(shapes()).map(([shape, serials]) => {
    const krl: Krl = { version: 1n, generatedDate: 1_700_000_000n, comment: '', certificates: [{ caKeyBlob: CA, serials, keyIds: [] }], sha256Keys: [] };
    return {
      shape,
      bytes: encodeKrl(krl).length,
      encodeMs: medianMs(() => encodeKrl(krl)),
      baselineBytes: naiveList(serials).length,
      baselineMs: medianMs(() => naiveList(serials)),
    };
  });
}

/** The report's lines, in the style of bench/run.ts: absolute values and ratios to the same-run baseline. */
export function krlReport(rows: KrlBenchRow[]): string[] {
  return [
    `KRL encode, ${COUNT} revoked serials, median of ${REPS}; baseline = the serials sorted and written as a plain u64 list`,
    ['shape'.padEnd(34), 'bytes'.padStart(12), 'bytes/serial'.padStart(14), '× list size'.padStart(13), 'encode ms'.padStart(12), '× list time'.padStart(13)].join(''),
    ...rows.map((r) => [
      r.shape.padEnd(34),
      String(r.bytes).padStart(12),
      (r.bytes / COUNT).toFixed(3).padStart(14),
      (r.bytes / r.baselineBytes).toFixed(4).padStart(13),
      r.encodeMs.toFixed(1).padStart(12),
      (r.encodeMs / r.baselineMs).toFixed(2).padStart(13),
    ].join('')),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const line of krlReport(measureKrl())) console.log(line);
}
