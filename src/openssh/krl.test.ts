import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeKrl, encodeKrl, KrlError, MAX_BITMAP_BITS, MAX_KRL_BYTES, type Krl, type KrlCertificates } from './krl.ts';
import { SshReader, SshWireError, SshWriter } from './ssh-wire.ts';

const LIST = 0x20, RANGE = 0x21, BITMAP = 0x22, KEY_ID = 0x23;
const U64_MAX = (1n << 64n) - 1n;

// Two Ed25519 CA keys, as OpenSSH wire blobs (fixed, so the bytes below are fixed).
const CA_A = Buffer.from('0000000b7373682d65643235353139000000208b71132cf806e121f75910bb2e722eda67cee9671b77d065cd0f6c74540eb078', 'hex');
const CA_B = Buffer.from('0000000b7373682d6564323535313900000020c4faa9488cd24d57fc54bfc898dec034c870356434cca2e8545788c560082a93', 'hex');

/*
 * Golden vector, made once with OpenSSH 9.2p1's ssh-keygen (the CA is CA_A above):
 *   printf 'id: retired-host\n' > spec2
 *   printf 'serial: 1\nserial: 3\nserial: 1000-2000\nserial: 0x10000000000\nserial: 0x4000000000000\n
 *           id: bob\nid: alice@example.com\nhash: SHA256:JLIpbnB+edOP3tDMh7X2ubTU5VxnleLo09xidV0VhiY\n' > spec1
 *   ssh-keygen -k -z 7 -f out.krl -s none spec2          # the "any CA" section first...
 *   ssh-keygen -k -u -z 7 -f out.krl -s ca.pub spec1     # ...then CA_A's, as our encoder sorts them
 *   xxd -p out.krl | tr -d '\n'
 * It holds a bitmap (serials 1 and 3: 0x05), a range (1000-2000), a list (2^40, 2^50), key ids and a hash.
 */
const GOLDEN_HEX =
  '5353484b524c0a00000000010000000000000007000000006b0a673600000000000000000000000000000000010000001d00000000' +
  '0000000023000000100000000c726574697265642d686f73740100000098000000330000000b7373682d65643235353139000000' +
  '208b71132cf806e121f75910bb2e722eda67cee9671b77d065cd0f6c74540eb07800000000220000000d00000000000000010000' +
  '000105210000001000000000000003e800000000000007d0200000001000000100000000000004000000000000230000001c0000' +
  '0011616c696365406578616d706c652e636f6d00000003626f6205000000240000002024b2296e707e79d38fded0cc87b5f6b9b4' +
  'd4e55c6795e2e8d3dc62755d158626';
const GOLDEN_HASH = Buffer.from('24b2296e707e79d38fded0cc87b5f6b9b4d4e55c6795e2e8d3dc62755d158626', 'hex');
const range = (lo: bigint, hi: bigint) => Array.from({ length: Number(hi - lo + 1n) }, (_, i) => lo + BigInt(i));
const GOLDEN: Krl = {
  version: 7n, generatedDate: 0x6b0a6736n, comment: '',
  certificates: [
    { caKeyBlob: CA_A, serials: [1n, 3n, ...range(1000n, 2000n), 1n << 40n, 1n << 50n], keyIds: ['bob', 'alice@example.com'] },
    { caKeyBlob: null, serials: [], keyIds: ['retired-host'] },
  ],
  sha256Keys: [GOLDEN_HASH],
};

/** A small seeded generator, so every run tests the same "random" serials. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}
const random64 = (next: () => number): bigint => BigInt.asUintN(64, (BigInt(Math.floor(next() * 2 ** 32)) << 32n) | BigInt(Math.floor(next() * 2 ** 32))) || 1n;

/** What a KRL means, independent of how it was written: sets, merged per CA, empty CAs dropped. */
function meaning(krl: Krl) {
  const byCa = new Map<string, { serials: Set<bigint>; keyIds: Set<string> }>();
  for (const c of krl.certificates) {
    const key = c.caKeyBlob ? c.caKeyBlob.toString('hex') : '*';
    const e = byCa.get(key) ?? { serials: new Set<bigint>(), keyIds: new Set<string>() };
    byCa.set(key, e);
    c.serials.forEach((s) => e.serials.add(s));
    c.keyIds.forEach((k) => e.keyIds.add(k));
  }
  return {
    version: krl.version, generatedDate: krl.generatedDate, comment: krl.comment,
    certificates: [...byCa.entries()]
      .filter(([, e]) => e.serials.size > 0 || e.keyIds.size > 0)
      .map(([ca, e]) => ({ ca, serials: [...e.serials].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), keyIds: [...e.keyIds].sort() }))
      .sort((a, b) => (a.ca < b.ca ? -1 : a.ca > b.ca ? 1 : 0)),
    sha256Keys: [...new Set(krl.sha256Keys.map((h) => h.toString('hex')))].sort(),
  };
}

function roundTrip(krl: Krl) {
  const bytes = encodeKrl(krl);
  const back = decodeKrl(bytes);
  assert.deepEqual(meaning(back), meaning(krl));
  assert.deepEqual(back.explicitKeys, []);
  assert.deepEqual(back.sha1Keys, []);
  return { bytes, back };
}

/** The sub-sections of every certificates section: [type, data] in order. */
function subsections(bytes: Buffer): Array<[number, Buffer]> {
  const r = new SshReader(bytes.subarray(8));
  r.uint32(); r.uint64(); r.uint64(); r.uint64(); r.bytes(); r.bytes();
  const out: Array<[number, Buffer]> = [];
  while (!r.done) {
    const type = r.byte();
    const data = r.bytes();
    if (type !== 1) continue;
    const s = new SshReader(data);
    s.bytes(); s.bytes();
    while (!s.done) out.push([s.byte(), s.bytes()]);
  }
  return out;
}

const base = (certificates: KrlCertificates[], sha256Keys: Buffer[] = []): Krl =>
  ({ version: 1n, generatedDate: 1_700_000_000n, comment: 'test', certificates, sha256Keys });

/** A KRL header followed by the given raw sections. */
const withSections = (...sections: Buffer[]) => Buffer.concat([encodeKrl(base([])), ...sections]);
const section = (type: number, data: Buffer) => new SshWriter().byte(type).string(data).toBuffer();
const certSection = (ca: Buffer, ...subs: Buffer[]) => section(1, Buffer.concat([new SshWriter().string(ca).string('').toBuffer(), ...subs]));

/** Decoding must fail with one of the module's errors, never a RangeError or TypeError. */
function assertRefused(bytes: Buffer, message?: RegExp) {
  assert.throws(() => decodeKrl(bytes), (e: unknown) => {
    assert.ok(e instanceof KrlError || e instanceof SshWireError, `unexpected ${String(e)}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('KRL: golden bytes from ssh-keygen', () => {
  it('encodes exactly what ssh-keygen -k wrote, and decodes it to the same sets', () => {
    assert.equal(encodeKrl(GOLDEN).toString('hex'), GOLDEN_HEX);
    const back = decodeKrl(Buffer.from(GOLDEN_HEX, 'hex'));
    assert.deepEqual(meaning(back), meaning(GOLDEN));
    assert.deepEqual(back.certificates.map((c) => c.caKeyBlob), [null, CA_A]);
    assert.deepEqual(back.certificates[1]!.keyIds, ['alice@example.com', 'bob']);
    assert.deepEqual(subsections(Buffer.from(GOLDEN_HEX, 'hex')).map(([t]) => t), [KEY_ID, BITMAP, RANGE, LIST, KEY_ID]);
  });
});

describe('KRL: round trips', () => {
  it('an empty KRL is the bare header', () => {
    const { bytes, back } = roundTrip(base([]));
    assert.equal(bytes.length, 8 + 4 + 8 + 8 + 8 + 4 + 4 + 4);
    assert.deepEqual(back.certificates, []);
    assert.deepEqual(back.sha256Keys, []);
    assert.equal(back.comment, 'test');
  });

  it('one serial, the smallest and the largest', () => {
    for (const s of [1n, 42n, U64_MAX]) {
      const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials: [s], keyIds: [] }]));
      assert.deepEqual(subsections(bytes).map(([t]) => t), [LIST], `serial ${s}`);
    }
  });

  it('ranges: consecutive runs become one range section each, including one ending at 2^64-1', () => {
    const serials = [...range(10n, 5000n), ...range(100_000n, 200_000n), ...range(U64_MAX - 1000n, U64_MAX)];
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials, keyIds: [] }]));
    const subs = subsections(bytes);
    assert.deepEqual(subs.map(([t]) => t), [RANGE, RANGE, RANGE]);
    assert.deepEqual(subs.map(([, d]) => d.toString('hex')), [
      new SshWriter().uint64(10n).uint64(5000n), new SshWriter().uint64(100_000n).uint64(200_000n), new SshWriter().uint64(U64_MAX - 1000n).uint64(U64_MAX),
    ].map((w) => w.toBuffer().toString('hex')));
  });

  it('a short run is cheaper as a new bitmap than as a range, as krl.c decides', () => {
    // 11 serials: a range costs 17 bytes, a fresh bitmap 72 + 11 bits = 11 bytes.
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials: range(U64_MAX - 10n, U64_MAX), keyIds: [] }]));
    assert.deepEqual(subsections(bytes).map(([t, d]) => [t, d.toString('hex')]), [[BITMAP, 'fffffffffffffff5' + '0000000207ff']]);
  });

  it('100,000 consecutive serials are a single range section', () => {
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials: range(1_000_000n, 1_099_999n), keyIds: [] }]));
    assert.deepEqual(subsections(bytes).map(([t]) => t), [RANGE]);
    assert.ok(bytes.length < 200, `${bytes.length} bytes`);
  });

  it('100,000 random 64-bit serials are one compact list', () => {
    const next = prng(7);
    const serials = Array.from({ length: 100_000 }, () => random64(next));
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials, keyIds: [] }]));
    const subs = subsections(bytes);
    assert.deepEqual(subs.map(([t]) => t), [LIST]);
    assert.equal(subs[0]![1].length, 8 * new Set(serials).size);
  });

  it('bitmaps: serial_offset is the first serial, bit N is offset + N, and no bitmap outgrows what sshd reads', () => {
    const small = roundTrip(base([{ caKeyBlob: CA_A, serials: [100n, 102n, 107n, 108n, 115n], keyIds: [] }]));
    const subs = subsections(small.bytes);
    assert.deepEqual(subs.map(([t]) => t), [BITMAP]);
    // offset 100; bits 0, 2, 7, 8, 15 → 0x8185, an mpint with a leading zero byte since its top bit is set
    assert.equal(subs[0]![1].toString('hex'), '0000000000000064' + '00000003008185');

    const everyOther = range(1n, 200_000n).filter((s) => s % 2n === 1n);
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials: everyOther, keyIds: [] }]));
    const bitmaps = subsections(bytes);
    assert.ok(bitmaps.every(([t]) => t === BITMAP));
    assert.ok(bitmaps.length >= Math.ceil(200_000 / MAX_BITMAP_BITS), `${bitmaps.length} bitmap sections`);
    for (const [, data] of bitmaps) {
      const r = new SshReader(data);
      r.uint64();
      const mp = r.bytes();
      const magnitude = mp[0] === 0 ? mp.length - 1 : mp.length;
      assert.ok(magnitude <= MAX_BITMAP_BITS / 8, `bitmap of ${magnitude} bytes`);
    }
  });

  it('mixed: lists, ranges and bitmaps in one CA, chosen per run', () => {
    const next = prng(11);
    const serials = [
      ...range(1n, 3000n).filter(() => next() < 0.3), // dense: bitmap
      ...range(50_000n, 60_000n), // a run: range
      ...Array.from({ length: 50 }, () => random64(next)), // sparse: list
      ...range(70_000n, 70_010n).filter((s) => s % 3n === 0n),
    ];
    const { bytes } = roundTrip(base([{ caKeyBlob: CA_A, serials: [...serials, ...serials.slice(0, 100)], keyIds: [] }]));
    const types = new Set(subsections(bytes).map(([t]) => t));
    assert.deepEqual([...types].sort(), [LIST, RANGE, BITMAP]);
  });

  it('key ids: sorted by bytes and unique, any text but NUL', () => {
    const keyIds = ['zed', 'alice@example.com', 'bob', 'alice@example.com', 'ünïcödé', '😀 emoji', 'ｆｕｌｌ', '', 'a b\tc'];
    const { bytes, back } = roundTrip(base([{ caKeyBlob: CA_A, serials: [], keyIds }]));
    assert.deepEqual(subsections(bytes).map(([t]) => t), [KEY_ID]);
    const expected = [...new Set(keyIds)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(back.certificates[0]!.keyIds, expected);
    const r = new SshReader(subsections(bytes)[0]![1]);
    const written: string[] = [];
    while (!r.done) written.push(r.text());
    assert.deepEqual(written, expected);
  });

  it('SHA-256 hashes: one section, sorted and unique', () => {
    const hashes = ['c', 'a', 'b', 'a'].map((x) => createHash('sha256').update(x).digest());
    const { bytes, back } = roundTrip(base([], hashes));
    const sorted = [...new Set(hashes.map((h) => h.toString('hex')))].sort();
    assert.deepEqual(back.sha256Keys.map((h) => h.toString('hex')), sorted);
    const body = new SshWriter();
    for (const h of sorted) body.string(Buffer.from(h, 'hex'));
    const expected = section(5, body.toBuffer());
    assert.equal(bytes.subarray(bytes.length - expected.length).toString('hex'), expected.toString('hex'));
  });

  it('several CAs: one section each, sorted by blob, "any CA" first, duplicates merged', () => {
    const krl = base([
      { caKeyBlob: CA_B, serials: [5n, 6n, 7n], keyIds: ['b'] },
      { caKeyBlob: CA_A, serials: [9n], keyIds: [] },
      { caKeyBlob: null, serials: [], keyIds: ['anyone'] },
      { caKeyBlob: Buffer.from(CA_B), serials: [8n], keyIds: ['b', 'c'] },
      { caKeyBlob: CA_A, serials: [], keyIds: [] },
    ], [GOLDEN_HASH]);
    const { back } = roundTrip(krl);
    assert.deepEqual(back.certificates.map((c) => c.caKeyBlob && c.caKeyBlob.toString('hex')), [null, CA_A.toString('hex'), CA_B.toString('hex')]);
    assert.deepEqual(back.certificates[2], { caKeyBlob: CA_B, serials: [5n, 6n, 7n, 8n], keyIds: ['b', 'c'] });
  });

  it('a CA with nothing revoked is left out', () => {
    const { back } = roundTrip(base([{ caKeyBlob: CA_A, serials: [], keyIds: [] }]));
    assert.deepEqual(back.certificates, []);
  });

  it('header fields: u64 extremes and a UTF-8 comment', () => {
    const { back } = roundTrip({ version: U64_MAX, generatedDate: 0n, comment: 'revocations — week 42', certificates: [], sha256Keys: [] });
    assert.equal(back.version, U64_MAX);
    assert.equal(back.comment, 'revocations — week 42');
  });
});

describe('KRL: deterministic bytes', () => {
  it('the same revocations in any order, with duplicates, give the same bytes', () => {
    const next = prng(3);
    const serials = Array.from({ length: 2000 }, () => BigInt(1 + Math.floor(next() * 50_000)));
    const a = base([
      { caKeyBlob: CA_A, serials, keyIds: ['x', 'y'] },
      { caKeyBlob: CA_B, serials: [1n], keyIds: [] },
    ], [GOLDEN_HASH]);
    const b = base([
      { caKeyBlob: CA_B, serials: [1n, 1n], keyIds: [] },
      { caKeyBlob: CA_A, serials: [...serials].reverse().concat(serials.slice(0, 10)), keyIds: ['y', 'x', 'x'] },
    ], [GOLDEN_HASH, GOLDEN_HASH]);
    assert.ok(encodeKrl(a).equals(encodeKrl(b)));
    assert.ok(encodeKrl(a).equals(encodeKrl(a)));
  });
});

describe('KRL: the encoder refuses what OpenSSH would refuse', () => {
  const refused = (krl: Krl, message: RegExp) => assert.throws(() => encodeKrl(krl), (e: unknown) => e instanceof KrlError && message.test(e.message));
  it('serial 0, negative or over 64 bits', () => {
    for (const s of [0n, -1n, 1n << 64n]) refused(base([{ caKeyBlob: CA_A, serials: [s], keyIds: [] }]), /serial/);
  });
  it('NUL in a key id or the comment, a hash not 32 bytes, an empty CA blob, a header field out of range', () => {
    refused(base([{ caKeyBlob: CA_A, serials: [], keyIds: ['a\0b'] }]), /NUL/);
    refused({ ...base([]), comment: 'x\0' }, /NUL/);
    refused(base([], [Buffer.alloc(31)]), /32 bytes/);
    refused(base([{ caKeyBlob: Buffer.alloc(0), serials: [1n], keyIds: [] }]), /null for any CA/);
    refused(base([{ caKeyBlob: Buffer.from('not a key'), serials: [1n], keyIds: [] }]), /not an SSH public key/);
    refused({ ...base([]), version: -1n }, /version/);
    refused({ ...base([]), generatedDate: 1n << 64n }, /generatedDate/);
  });
});

describe('KRL: the decoder refuses malformed input with its own errors', () => {
  const golden = Buffer.from(GOLDEN_HEX, 'hex');

  it('bad magic, format version, or empty input', () => {
    assertRefused(Buffer.alloc(0), /bad magic/);
    assertRefused(Buffer.from('SSHKRL\n'), /bad magic/);
    assertRefused(Buffer.concat([Buffer.from('SSHKRL\n\x01'), golden.subarray(8)]), /bad magic/);
    const v2 = Buffer.from(golden);
    v2.writeUInt32BE(2, 8);
    assertRefused(v2, /format version 2/);
  });

  it('every truncation of a valid KRL', () => {
    for (let n = 0; n < golden.length; n++) {
      // Cutting exactly between sections leaves a valid, shorter KRL.
      try {
        decodeKrl(golden.subarray(0, n));
      } catch (e) {
        assert.ok(e instanceof KrlError || e instanceof SshWireError, `at ${n}: ${String(e)}`);
        continue;
      }
      assert.ok([44, 78, 235].includes(n), `a cut at ${n} decoded`);
    }
  });

  it('section lengths one too short, one too long, and huge', () => {
    const sectionLengthAt = 8 + 4 + 24 + 4 + 4 + 1; // the first section's string length, after its type byte
    assert.equal(golden.readUInt32BE(sectionLengthAt), 0x1d);
    for (const len of [0x1c, 0x1e, 0xffffffff, 0x80000000, 0x7fffffff]) {
      const bad = Buffer.from(golden);
      bad.writeUInt32BE(len, sectionLengthAt);
      assertRefused(bad);
    }
    // A sub-section whose declared length runs past its section.
    assertRefused(withSections(certSection(CA_A, Buffer.from('20ffffffff', 'hex'))), /truncated/);
    assertRefused(withSections(certSection(CA_A, section(LIST, Buffer.alloc(12, 1)))), /truncated/);
    assertRefused(withSections(certSection(CA_A, section(RANGE, Buffer.alloc(24)))), /trailing/);
  });

  it('every single-byte corruption decodes or throws KrlError/SshWireError, never anything else', () => {
    for (let i = 0; i < golden.length; i++) {
      const orig = golden[i]!;
      for (const v of new Set([0, 0xff, orig ^ 1, orig ^ 0x80, (orig + 1) & 0xff])) {
        const bad = Buffer.from(golden);
        bad[i] = v;
        try {
          decodeKrl(bad);
        } catch (e) {
          assert.ok(e instanceof KrlError || e instanceof SshWireError, `byte ${i} = ${v}: ${String(e)}`);
        }
      }
    }
  });

  it('inputs over 64 MiB', () => {
    assertRefused(Buffer.concat([golden, Buffer.alloc(MAX_KRL_BYTES)]), /larger than/);
  });

  it('ranges: serial 0, inverted, 2^64 wide, just over a million', () => {
    const rangeOf = (lo: bigint, hi: bigint) => withSections(certSection(CA_A, section(RANGE, new SshWriter().uint64(lo).uint64(hi).toBuffer())));
    assertRefused(rangeOf(0n, 5n), /invalid serial range/);
    assertRefused(rangeOf(6n, 5n), /invalid serial range/);
    assertRefused(rangeOf(1n, U64_MAX), /range too large to list/);
    assertRefused(rangeOf(10n, 10n + 1_000_000n), /range too large to list/);
    const million = decodeKrl(rangeOf(10n, 10n + 999_999n)).certificates[0]!.serials;
    assert.equal(million.length, 1_000_000);
    assert.equal(million[999_999], 10n + 999_999n);
  });

  it('bitmaps: negative, wrapping past 2^64, revoking serial 0; bounded by their bytes', () => {
    const bitmapOf = (offset: bigint, mp: string) => withSections(certSection(CA_A, section(BITMAP, Buffer.concat([new SshWriter().uint64(offset).toBuffer(), new SshWriter().string(Buffer.from(mp, 'hex')).toBuffer()]))));
    assertRefused(bitmapOf(1n, '80'), /negative/);
    assertRefused(bitmapOf(U64_MAX, '02'), /wraps/);
    assertRefused(bitmapOf(0n, '01'), /serial 0/);
    assert.deepEqual(decodeKrl(bitmapOf(U64_MAX, '01')).certificates[0]!.serials, [U64_MAX]);
    assert.deepEqual(decodeKrl(bitmapOf(0n, '0002')).certificates[0]!.serials, [1n]);
    assert.deepEqual(decodeKrl(bitmapOf(5n, '')).certificates[0]!.serials, []);
    // 8 MiB of set bits is 64 Mi serials: over the listing budget, refused before they are all built.
    assertRefused(bitmapOf(1n, '7f' + 'ff'.repeat(8 * 1024 * 1024)), /too many serials/);
  });

  it('lists: a partial serial, serial 0, more serials than can be listed', () => {
    assertRefused(withSections(certSection(CA_A, section(LIST, Buffer.alloc(7, 1)))), /truncated/);
    assertRefused(withSections(certSection(CA_A, section(LIST, Buffer.alloc(8)))), /serial 0/);
    assertRefused(withSections(certSection(CA_A, section(LIST, Buffer.alloc(8 * 4_000_001, 1)))), /too many serials/);
  });

  it('hashes of the wrong length, NUL or invalid UTF-8 in a key id, a garbage CA blob', () => {
    assertRefused(withSections(section(5, new SshWriter().string(Buffer.alloc(31)).toBuffer())), /32 bytes/);
    assertRefused(withSections(section(3, new SshWriter().string(Buffer.alloc(32)).toBuffer())), /20 bytes/);
    assertRefused(withSections(certSection(CA_A, section(KEY_ID, new SshWriter().string(Buffer.from('a\0b')).toBuffer()))), /NUL/);
    assertRefused(withSections(certSection(CA_A, section(KEY_ID, new SshWriter().string(Buffer.from([0xc3, 0x28])).toBuffer()))), /UTF-8/);
    assertRefused(withSections(certSection(Buffer.from('garbage!'))), /not an SSH public key/);
  });

  it('unknown sections, critical extensions and signatures; non-critical extensions are skipped', () => {
    const ext = (critical: number) => new SshWriter().string('x@example.com').byte(critical).string('v').toBuffer();
    assertRefused(withSections(section(6, Buffer.alloc(0))), /unknown KRL section type 6/);
    assertRefused(withSections(certSection(CA_A, section(0x24, Buffer.alloc(0)))), /unknown KRL certificate sub-section/);
    assertRefused(withSections(section(255, ext(1))), /critical/);
    assertRefused(withSections(certSection(CA_A, section(0x39, ext(1)))), /critical/);
    assertRefused(withSections(section(4, new SshWriter().string(CA_A).toBuffer()), new SshWriter().string('sig').toBuffer()), /signed KRLs/);
    const ok = decodeKrl(withSections(section(255, ext(0)), certSection(CA_A, section(0x39, ext(0)), section(LIST, new SshWriter().uint64(4n).toBuffer()))));
    assert.deepEqual(ok.certificates[0]!.serials, [4n]);
  });

  it('explicit keys and SHA-1 hashes are decoded, sorted and unique', () => {
    const sha1 = createHash('sha1').update('k').digest();
    const krl = decodeKrl(withSections(
      section(2, new SshWriter().string(CA_B).string(CA_A).string(CA_B).toBuffer()),
      section(3, new SshWriter().string(sha1).toBuffer()),
    ));
    assert.deepEqual(krl.explicitKeys, [CA_A, CA_B]);
    assert.deepEqual(krl.sha1Keys, [sha1]);
  });
});
