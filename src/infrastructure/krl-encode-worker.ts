// The KRL encoder's thread (krl-encoder.ts): a large KRL takes a few hundred milliseconds to encode, which
// must not stop the thread that answers requests and signs certificates.
import { parentPort, type MessagePort } from 'node:worker_threads';
import { encodeKrl } from '../openssh/krl.ts';
import type { EncodeReply, EncodeRequest } from './krl-encoder.ts';

const port = parentPort as MessagePort;
port.on('message', (m: EncodeRequest) => {
  let reply: EncodeReply;
  try {
    const encoded = encodeKrl({
      version: m.version, generatedDate: m.generatedDate, comment: m.comment,
      certificates: m.certificates.map((c) => ({ caKeyBlob: c.caKeyBlob.length === 0 ? null : Buffer.from(c.caKeyBlob), serials: [...c.serials], keyIds: [] })),
      sha256Keys: m.sha256Keys.map((k) => Buffer.from(k)),
    });
    const bytes = new Uint8Array(encoded.length);
    bytes.set(encoded);
    port.postMessage({ id: m.id, bytes } satisfies EncodeReply, [bytes.buffer]);
    return;
  } catch (error) {
    reply = { id: m.id, error: (error as Error).message };
  }
  port.postMessage(reply);
});
