import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomInt } from 'node:crypto';
import { decodeKrl, encodeKrl, type Krl } from '../openssh/krl.ts';
import { publicKeyBlob } from '../openssh/public-key-blob.ts';
import { createKrlEncoder } from './krl-encoder.ts';

const caKey = () => publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);

function bigKrl(serials: number): Krl {
  const base = BigInt(Date.now()) << 22n;
  const list = Array.from({ length: serials }, () => base - (BigInt(randomInt(0, 2 ** 40)) << 8n) - BigInt(randomInt(1, 255)));
  return {
    version: 42n, generatedDate: 1_700_000_000n, comment: 'access-ca account test',
    certificates: [{ caKeyBlob: caKey(), serials: list, keyIds: [] }, { caKeyBlob: caKey(), serials: list.slice(0, 10), keyIds: [] }],
    sha256Keys: [Buffer.alloc(32, 7)],
  };
}

describe('KRL encoder: large KRLs on a thread of their own', () => {
  it('gives the bytes encodeKrl gives, inline and on the thread, and leaves the event loop free meanwhile', async () => {
    const encoder = createKrlEncoder();
    try {
      const small = bigKrl(100);
      assert.ok((await encoder.encode(small)).equals(encodeKrl(small)), 'inline');
      const large = bigKrl(60_000);
      const expected = encodeKrl(large);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const started = performance.now();
      const bytes = await encoder.encode(large);
      const took = performance.now() - started;
      clearInterval(timer);
      assert.ok(bytes.equals(expected), 'the thread\'s bytes are encodeKrl\'s');
      assert.equal(decodeKrl(bytes).version, 42n);
      // The main thread kept turning while the thread encoded: a 1 ms timer fired many times (not once at the end).
      assert.ok(ticks >= 3, `the event loop turned ${ticks} times in ${took.toFixed(0)} ms`);
      // Two at once both come back, each its own.
      const other = bigKrl(10_000);
      const [a, b] = await Promise.all([encoder.encode(large), encoder.encode(other)]);
      assert.ok(a.equals(expected));
      assert.ok(b.equals(encodeKrl(other)));
    } finally {
      await encoder.close();
    }
  });

  it('a refusal on the thread is the KrlError encodeKrl would throw', async () => {
    const encoder = createKrlEncoder({ inlineBelow: 1 });
    try {
      const bad = { ...bigKrl(10), sha256Keys: [Buffer.alloc(31)] };
      await assert.rejects(encoder.encode(bad), (e: Error) => e.name === 'KrlError' && /32/.test(e.message));
      assert.ok((await encoder.encode(bigKrl(5))).length > 0, 'the thread still works after a refusal');
    } finally {
      await encoder.close();
    }
  });
});
