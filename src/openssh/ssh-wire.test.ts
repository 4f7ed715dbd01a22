import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SshReader, SshWriter } from './ssh-wire.ts';
import { decodeP256PublicKey } from './ecdsa-p256.ts';
import { authorizedKeyLine, publicKeyBlob } from './public-key-blob.ts';

const hex = (b: Buffer) => b.toString('hex');

describe('SSH wire encoding', () => {
  it('encodes mpints as RFC 4251 §5 shows', () => {
    const mp = (h: string) => hex(new SshWriter().mpint(Buffer.from(h, 'hex')).toBuffer());
    assert.equal(mp(''), '00000000');
    assert.equal(mp('00'), '00000000');
    assert.equal(mp('09a378f9b2e332a7'), '0000000809a378f9b2e332a7');
    assert.equal(mp('80'), '000000020080');
    assert.equal(mp('0000ff'), '0000000200ff');
  });

  it('reads back what it wrote and refuses truncation and trailing bytes', () => {
    const buf = new SshWriter().string('ssh').uint32(7).uint64(2n ** 63n).toBuffer();
    const r = new SshReader(buf);
    assert.equal(r.text(), 'ssh');
    assert.equal(r.uint32(), 7);
    assert.equal(r.uint64(), 2n ** 63n);
    r.end();
    assert.throws(() => new SshReader(buf.subarray(0, 5)).text(), /truncated/);
    const extra = new SshReader(Buffer.concat([buf, Buffer.of(0)]));
    extra.text(); extra.uint32(); extra.uint64();
    assert.throws(() => extra.end(), /trailing/);
  });

  it('grows past its first buffer, hands out independent copies, and a refused write adds nothing', () => {
    const w = new SshWriter();
    const big = Buffer.alloc(5000, 7);
    w.byte(1).string(big).uint32(2);
    const first = w.toBuffer();
    assert.equal(first.length, 1 + 4 + 5000 + 4);
    assert.deepEqual(new SshReader(first.subarray(1, 5005)).bytes(), big);
    assert.throws(() => w.uint64(2n ** 64n), RangeError);
    assert.throws(() => w.uint64(-1n), RangeError);
    w.raw(Buffer.of(9));
    const second = w.toBuffer();
    assert.deepEqual(second, Buffer.concat([first, Buffer.of(9)]), 'the refused uint64 left no bytes behind');
    first.fill(0);
    assert.equal(w.toBuffer()[0], 1, 'a copy handed out does not share the writer\'s memory');
  });

  it('encodes P-256 public keys with the fixed OpenSSH prefix and decodes them back', () => {
    for (let i = 0; i < 50; i++) {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const blob = publicKeyBlob(publicKey);
      assert.equal(blob.length, 4 + 19 + 4 + 8 + 4 + 65);
      assert.ok(blob.toString('base64').startsWith('AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB'));
      const point = decodeP256PublicKey(blob);
      const jwk = publicKey.export({ format: 'jwk' });
      assert.equal(point.subarray(1, 33).toString('base64url'), jwk.x);
      assert.match(authorizedKeyLine(blob, 'c'), /^ecdsa-sha2-nistp256 AAAA\S+ c$/);
    }
    assert.throws(() => publicKeyBlob(generateKeyPairSync('x25519').publicKey), /unsupported key type/);
    assert.throws(() => decodeP256PublicKey(Buffer.concat([publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey), Buffer.of(1)])), /trailing/);
  });
});
