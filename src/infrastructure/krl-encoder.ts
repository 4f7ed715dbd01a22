import type { Worker } from 'node:worker_threads';
import { encodeKrl, KrlError, type Krl } from '../openssh/krl.ts';
import { spawnModuleWorker } from '../platform/worker-spawn.ts';

/** Below this many serials a KRL encodes in a few milliseconds: inline costs less than the message. */
const INLINE_BELOW = 5_000;

/** A KRL as it crosses to the encoder's thread: serials as one typed array per CA key (transferred, not copied). */
export interface EncodeRequest {
  id: number;
  version: bigint;
  generatedDate: bigint;
  comment: string;
  /** An empty caKeyBlob stands for null ("any CA"). */
  certificates: { caKeyBlob: Uint8Array; serials: BigUint64Array }[];
  sha256Keys: Uint8Array[];
}
export type EncodeReply = { id: number; bytes: Uint8Array } | { id: number; error: string };

/**
 * Encodes KRLs: small ones inline, large ones on a thread of their own, so that the first host to ask
 * after a revocation does not stop every other request for the time of the build. One thread, started
 * when first needed and ended with `close`; a thread that dies fails what it held and the next call starts another.
 */
export function createKrlEncoder(options: { inlineBelow?: number } = {}) {
  const inlineBelow = options.inlineBelow ?? INLINE_BELOW;
  let worker: Worker | null = null;
  let next = 1;
  const pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  function failAll(error: Error): void {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
    worker = null;
  }
  function start(): Worker {
    if (worker) return worker;
    const w = spawnModuleWorker(import.meta.url, 'krl-encode-worker', null);
    w.unref();
    w.on('message', (m: EncodeReply) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if ('bytes' in m) p.resolve(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
      else p.reject(new KrlError(m.error));
      if (pending.size === 0) w.unref();
    });
    w.on('error', (error) => failAll(error));
    w.on('exit', (code) => {
      if (worker === w) failAll(new Error(`the KRL encoder's thread exited (${code})`));
    });
    worker = w;
    return w;
  }

  return {
    /** The KRL's bytes, as encodeKrl would give them. */
    async encode(krl: Krl): Promise<Buffer> {
      const serials = krl.certificates.reduce((n, c) => n + c.serials.length, 0);
      if (serials < inlineBelow) return encodeKrl(krl);
      const id = next++;
      const request: EncodeRequest = {
        id, version: krl.version, generatedDate: krl.generatedDate, comment: krl.comment,
        certificates: krl.certificates.map((c) => ({ caKeyBlob: new Uint8Array(c.caKeyBlob ?? Buffer.alloc(0)), serials: BigUint64Array.from(c.serials) })),
        sha256Keys: krl.sha256Keys.map((k) => new Uint8Array(k)),
      };
      const w = start();
      w.ref();
      return new Promise<Buffer>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage(request, request.certificates.map((c) => c.serials.buffer as ArrayBuffer));
      });
    },
    async close(): Promise<void> {
      const w = worker;
      worker = null;
      if (w) await w.terminate();
      failAll(new Error('the KRL encoder is closed'));
    },
  };
}

export type KrlEncoder = ReturnType<typeof createKrlEncoder>;
