// OpenSSH Key Revocation Lists (PROTOCOL.krl): a pure encoder, and a bounded decoder for our tests and
// tooling. The encoder chooses serial encodings with the cost model of OpenSSH's krl.c, so a KRL we write
// is as small as the one ssh-keygen would write for the same revocations, and byte-identical to it when
// ssh-keygen added the CAs in blob order and no bitmap would outgrow what sshd can read (MAX_BITMAP_BITS).
import { SshReader, SshWriter } from './ssh-wire.ts';

export interface KrlCertificates {
  /** The CA public key blob the section applies to (OpenSSH wire blob), or null for "any CA" (the empty string). */
  caKeyBlob: Buffer | null;
  /** Revoked serials (u64). */
  serials: bigint[];
  /** Revoked key ids (the certificate's key id string). */
  keyIds: string[];
}

export interface Krl {
  version: bigint; // krl_version, u64
  generatedDate: bigint; // seconds since epoch, u64
  comment: string;
  certificates: KrlCertificates[];
  /** SHA-256 hashes (32 bytes) of revoked plain public key blobs (KRL_SECTION_FINGERPRINT_SHA256). */
  sha256Keys: Buffer[];
}

/** What decodeKrl returns: a Krl plus the revocations our encoder never writes but ssh-keygen may. */
export type DecodedKrl = Krl & { explicitKeys: Buffer[]; sha1Keys: Buffer[] };

/** A KRL that is malformed, or one this module will not write or list. */
export class KrlError extends Error {
  override name = 'KrlError';
}

const KRL_MAGIC = Buffer.from('SSHKRL\n\0', 'latin1');
const KRL_FORMAT_VERSION = 1;

const KRL_SECTION_CERTIFICATES = 1;
const KRL_SECTION_EXPLICIT_KEY = 2;
const KRL_SECTION_FINGERPRINT_SHA1 = 3;
const KRL_SECTION_SIGNATURE = 4;
const KRL_SECTION_FINGERPRINT_SHA256 = 5;
const KRL_SECTION_EXTENSION = 255;

const KRL_SECTION_CERT_SERIAL_LIST = 0x20;
const KRL_SECTION_CERT_SERIAL_RANGE = 0x21;
const KRL_SECTION_CERT_SERIAL_BITMAP = 0x22;
const KRL_SECTION_CERT_KEY_ID = 0x23;
const KRL_SECTION_CERT_EXTENSION = 0x39;

type SerialSection = typeof KRL_SECTION_CERT_SERIAL_LIST | typeof KRL_SECTION_CERT_SERIAL_RANGE | typeof KRL_SECTION_CERT_SERIAL_BITMAP;

const U64_MAX = (1n << 64n) - 1n;

/**
 * sshd reads a bitmap as a bignum and refuses one over SSHBUF_MAX_BIGNUM (2048 bytes, 16384 bits). krl.c
 * has no such cap when it writes, so ssh-keygen -k can write a KRL that ssh-keygen -Q and sshd refuse
 * ("bignum is too large", seen with OpenSSH 9.2); we start a new bitmap section instead.
 */
export const MAX_BITMAP_BITS = 16384;
/** The decoder refuses larger inputs outright. */
export const MAX_KRL_BYTES = 64 * 1024 * 1024;
/** The decoder lists a serial range only up to this many members ("range too large to list"). */
export const MAX_LISTED_RANGE = 1_000_000;
/** The decoder lists at most this many serials in all, counted before duplicates are merged. */
export const MAX_LISTED_SERIALS = 4_000_000;

// ---------------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes a KRL as ssh-keygen would: one certificates section per CA (sorted by blob bytes, "any CA"
 * first), serials as the cheapest mix of list, range and bitmap sub-sections, key ids sorted and unique,
 * then one SHA-256 section with the hashes sorted and unique. CA entries that revoke nothing are left
 * out. Throws KrlError on values OpenSSH would refuse (serial 0, NUL in a string, a hash not 32 bytes).
 */
export function encodeKrl(krl: Krl): Buffer {
  checkU64(krl.version, 'version');
  checkU64(krl.generatedDate, 'generatedDate');
  const w = new SshWriter()
    .raw(KRL_MAGIC)
    .uint32(KRL_FORMAT_VERSION)
    .uint64(krl.version)
    .uint64(krl.generatedDate)
    .uint64(0n) // flags: none are defined
    .string(Buffer.alloc(0)) // reserved
    .string(cstringBytes(krl.comment, 'comment'));
  for (const ca of mergeCas(krl.certificates)) {
    w.byte(KRL_SECTION_CERTIFICATES).string(encodeCertificatesSection(ca));
  }
  const hashes = sortedUniqueBlobs(krl.sha256Keys.map((h) => {
    if (!Buffer.isBuffer(h) || h.length !== 32) throw new KrlError('a SHA-256 key hash is 32 bytes');
    return h;
  }));
  if (hashes.length > 0) {
    const s = new SshWriter();
    for (const h of hashes) s.string(h);
    w.byte(KRL_SECTION_FINGERPRINT_SHA256).string(s.toBuffer());
  }
  return w.toBuffer();
}

interface MergedCa {
  blob: Buffer;
  serials: bigint[];
  keyIds: Buffer[];
}

/** One entry per CA blob; "any CA" is the empty blob, which sorts first in byte order. */
function mergeCas(entries: KrlCertificates[]): MergedCa[] {
  const byBlob = new Map<string, MergedCa>();
  for (const entry of entries) {
    if (entry.caKeyBlob !== null) {
      if (!Buffer.isBuffer(entry.caKeyBlob) || entry.caKeyBlob.length === 0) {
        throw new KrlError('caKeyBlob must be a non-empty key blob, or null for any CA');
      }
      checkKeyBlob(entry.caKeyBlob, 'caKeyBlob');
    }
    const blob = entry.caKeyBlob ?? Buffer.alloc(0);
    const key = blob.toString('hex');
    let merged = byBlob.get(key);
    if (!merged) byBlob.set(key, (merged = { blob, serials: [], keyIds: [] }));
    for (const s of entry.serials) {
      if (typeof s !== 'bigint' || s < 1n || s > U64_MAX) throw new KrlError('a revoked serial is an integer from 1 to 2^64-1 (OpenSSH cannot revoke serial 0)');
      merged.serials.push(s);
    }
    for (const id of entry.keyIds) merged.keyIds.push(cstringBytes(id, 'key id'));
  }
  return [...byBlob.values()]
    .filter((ca) => ca.serials.length > 0 || ca.keyIds.length > 0)
    .sort((a, b) => Buffer.compare(a.blob, b.blob));
}

function encodeCertificatesSection(ca: MergedCa): Buffer {
  const w = new SshWriter().string(ca.blob).string(Buffer.alloc(0)); // ca_key, reserved
  w.raw(encodeSerials(ca.serials));
  const ids = sortedUniqueBlobs(ca.keyIds);
  if (ids.length > 0) {
    const s = new SshWriter();
    for (const id of ids) s.string(id);
    w.byte(KRL_SECTION_CERT_KEY_ID).string(s.toBuffer());
  }
  return w.toBuffer();
}

/** Sorted, unique runs of consecutive serials: run i is lo[i]..hi[i] inclusive. */
function serialRuns(serials: bigint[]): { lo: BigUint64Array; hi: BigUint64Array; count: number } {
  const sorted = BigUint64Array.from(serials).sort();
  const lo = new BigUint64Array(sorted.length);
  const hi = new BigUint64Array(sorted.length);
  let count = 0;
  for (const s of sorted) {
    if (count > 0 && s <= hi[count - 1]! + 1n) {
      if (s > hi[count - 1]!) hi[count - 1] = s;
    } else {
      lo[count] = s;
      hi[count] = s;
      count++;
    }
  }
  return { lo, hi, count };
}

// krl.c clamps to 2^31 to avoid overflow; the limit is high enough not to change any choice.
const clampBits = (v: bigint): number => Number(v < 1n << 31n ? v : 1n << 31n);
const toBytes = (bits: number): number => Math.floor((bits + 7) / 8);
/** chooseNextSection's answer when the next run starts a new bitmap section though one is open. */
const RESTART_BITMAP = 0x100;

/**
 * krl.c's choose_next_state: a bit-cost estimate of continuing or switching to each section type for
 * the next run, rounded to bytes, with its tie-breaking order (bitmap, range, list, new bitmap). The
 * only change is that a bitmap may not grow past MAX_BITMAP_BITS. A new bitmap needs no such check:
 * it costs at least 72 + contig bits against a range's 136 to 208, so a run too long for one bitmap
 * is always a range. Returns the section type, or RESTART_BITMAP | KRL_SECTION_CERT_SERIAL_BITMAP.
 */
function chooseNextSection(
  current: SerialSection | 0, contig: bigint, final: boolean, lastGap: bigint, nextGap: bigint, canExtendBitmap: boolean,
): number {
  const c = clampBits(contig), last = clampBits(lastGap), next = clampBits(nextGap);
  // Switching costs: a new section costs its type byte and length (8 + 64 bits, krl.c's estimate).
  let list = 0, bitmap = 0, restart = 0, range = 8;
  switch (current) {
    case KRL_SECTION_CERT_SERIAL_LIST:
      restart = bitmap = 8 + 64;
      break;
    case KRL_SECTION_CERT_SERIAL_BITMAP:
      list = 8;
      restart = 8 + 64;
      break;
    default:
      restart = bitmap = 8 + 64;
      list = 8;
  }
  list += 64 * c + (final ? 0 : 8 + 64);
  range += 2 * 64 + (final ? 0 : 8 + 64);
  bitmap += last + c + (final ? 0 : Math.min(next, 8 + 64));
  restart += c + (final ? 0 : Math.min(next, 8 + 64));

  let choice: number = KRL_SECTION_CERT_SERIAL_BITMAP;
  let cost = current === KRL_SECTION_CERT_SERIAL_BITMAP && !canExtendBitmap ? Infinity : toBytes(bitmap);
  if (toBytes(range) < cost) {
    choice = KRL_SECTION_CERT_SERIAL_RANGE;
    cost = toBytes(range);
  }
  if (toBytes(list) < cost) {
    choice = KRL_SECTION_CERT_SERIAL_LIST;
    cost = toBytes(list);
  }
  if (toBytes(restart) < cost) choice = KRL_SECTION_CERT_SERIAL_BITMAP | RESTART_BITMAP;
  return choice;
}

/** The serial sub-sections of one CA, walking the runs as krl.c's revoked_certs_generate does. */
function encodeSerials(serials: bigint[]): Buffer {
  const out = new SshWriter();
  const runs = serialRuns(serials);
  let state: SerialSection | 0 = 0;
  let listed: bigint[] = []; // a list, or a range's [lo, hi]: written as u64s when the section ends
  let bitmapStart = 0n;
  let bitmapBits: number[] = [];
  let last = 0n;
  const flush = (): void => {
    if (state === KRL_SECTION_CERT_SERIAL_BITMAP) {
      out.byte(state).string(new SshWriter().uint64(bitmapStart).mpint(bitmapBytes(bitmapBits)).toBuffer());
    } else {
      const body = Buffer.alloc(8 * listed.length);
      listed.forEach((s, i) => body.writeBigUInt64BE(s, 8 * i));
      out.byte(state).string(body);
    }
    listed = [];
    bitmapBits = [];
  };
  for (let i = 0; i < runs.count; i++) {
    const lo = runs.lo[i]!, hi = runs.hi[i]!;
    const final = i + 1 === runs.count;
    const contig = hi - lo + 1n;
    const choice = chooseNextSection(
      state, contig, final, state === 0 ? 0n : lo - last, final ? 0n : runs.lo[i + 1]! - hi,
      state === KRL_SECTION_CERT_SERIAL_BITMAP && hi - bitmapStart < BigInt(MAX_BITMAP_BITS),
    );
    const next = (choice & 0xff) as SerialSection;
    const restart = (choice & RESTART_BITMAP) !== 0;
    // A range section holds a single range; any other section ends when the type changes.
    if (state !== 0 && (restart || next !== state || state === KRL_SECTION_CERT_SERIAL_RANGE)) flush();
    if (next !== state || restart) {
      state = next;
      bitmapStart = lo; // serial_offset, if this is a bitmap: bit N revokes serial_offset + N
    }
    switch (state) {
      case KRL_SECTION_CERT_SERIAL_LIST:
        for (let s = lo; s <= hi; s++) listed.push(s);
        break;
      case KRL_SECTION_CERT_SERIAL_RANGE:
        listed.push(lo, hi);
        break;
      case KRL_SECTION_CERT_SERIAL_BITMAP:
        for (let s = lo; s <= hi; s++) bitmapBits.push(Number(s - bitmapStart));
        break;
    }
    last = hi;
  }
  if (state !== 0) flush();
  return out.toBuffer();
}

/** The bitmap as an unsigned big-endian integer: bit N is bit N%8 of the N/8-th byte from the end. */
function bitmapBytes(bits: number[]): Buffer {
  const top = bits[bits.length - 1] ?? 0; // bits are added in increasing order
  const out = Buffer.alloc((top >> 3) + 1);
  for (const b of bits) {
    const i = out.length - 1 - (b >> 3);
    out[i] = out[i]! | (1 << (b & 7));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes any KRL OpenSSH writes (serial lists, ranges and bitmaps; key ids; explicit keys; SHA-1 and
 * SHA-256 hashes) into sets: serials, key ids and hashes sorted and unique, certificate sections merged
 * per CA and sorted by blob. It is meant for our tests and tooling, not for checking keys at scale: it
 * lists every revoked serial, so it refuses a range of more than MAX_LISTED_RANGE serials ("range too
 * large to list") and more than MAX_LISTED_SERIALS serials in all. Throws SshWireError or KrlError on
 * anything malformed, on what OpenSSH refuses (serial 0, a critical extension, format version ≠ 1), and
 * on signature sections (OpenSSH 9.4 and later refuse them too). Bitmaps are bounded only by the input,
 * so the over-2048-byte bitmaps that ssh-keygen -k writes (and then cannot read) are decoded.
 */
export function decodeKrl(bytes: Buffer): DecodedKrl {
  if (!Buffer.isBuffer(bytes)) throw new KrlError('a KRL is a byte buffer');
  if (bytes.length > MAX_KRL_BYTES) throw new KrlError(`KRL larger than ${MAX_KRL_BYTES} bytes`);
  if (bytes.length < KRL_MAGIC.length || !bytes.subarray(0, KRL_MAGIC.length).equals(KRL_MAGIC)) {
    throw new KrlError('not a KRL: bad magic');
  }
  const r = new SshReader(bytes.subarray(KRL_MAGIC.length));
  const formatVersion = r.uint32();
  if (formatVersion !== KRL_FORMAT_VERSION) throw new KrlError(`unsupported KRL format version ${formatVersion}`);
  const version = r.uint64();
  const generatedDate = r.uint64();
  r.uint64(); // flags: none are defined, and OpenSSH ignores them
  r.bytes(); // reserved
  const comment = cstringText(r.bytes(), 'comment');

  const cas = new Map<string, DecodedCa>();
  const budget = { serials: 0 };
  const explicitKeys: Buffer[] = [];
  const sha1Keys: Buffer[] = [];
  const sha256Keys: Buffer[] = [];
  while (!r.done) {
    const type = r.byte();
    const data = r.bytes();
    switch (type) {
      case KRL_SECTION_CERTIFICATES:
        decodeCertificatesSection(data, cas, budget);
        break;
      case KRL_SECTION_EXPLICIT_KEY:
        for (const blob of blobList(data)) explicitKeys.push(checkKeyBlob(blob, 'explicit key'));
        break;
      case KRL_SECTION_FINGERPRINT_SHA1:
        for (const h of blobList(data)) sha1Keys.push(checkLength(h, 20, 'SHA-1 hash'));
        break;
      case KRL_SECTION_FINGERPRINT_SHA256:
        for (const h of blobList(data)) sha256Keys.push(checkLength(h, 32, 'SHA-256 hash'));
        break;
      case KRL_SECTION_EXTENSION:
        decodeExtension(data);
        break;
      case KRL_SECTION_SIGNATURE:
        throw new KrlError('signed KRLs are not supported (OpenSSH 9.4 and later refuse them too)');
      default:
        throw new KrlError(`unknown KRL section type ${type}`);
    }
  }
  const certificates = [...cas.values()]
    .sort((a, b) => Buffer.compare(a.blob ?? Buffer.alloc(0), b.blob ?? Buffer.alloc(0)))
    .map((ca) => ({ caKeyBlob: ca.blob, serials: sortedUniqueSerials(ca.serials), keyIds: sortedUniqueStrings(ca.keyIds) }));
  return {
    version, generatedDate, comment, certificates,
    sha256Keys: sortedUniqueBlobs(sha256Keys), explicitKeys: sortedUniqueBlobs(explicitKeys), sha1Keys: sortedUniqueBlobs(sha1Keys),
  };
}

/** A CA's revocations while decoding; sorted and made unique at the end. */
interface DecodedCa { blob: Buffer | null; serials: bigint[]; keyIds: string[] }

function decodeCertificatesSection(
  data: Buffer,
  cas: Map<string, DecodedCa>,
  budget: { serials: number },
): void {
  const r = new SshReader(data);
  const caBlob = r.bytes();
  r.bytes(); // reserved
  if (caBlob.length > 0) checkKeyBlob(caBlob, 'CA key');
  const key = caBlob.toString('hex');
  let ca = cas.get(key);
  if (!ca) cas.set(key, (ca = { blob: caBlob.length > 0 ? Buffer.from(caBlob) : null, serials: [], keyIds: [] }));
  const serials = ca.serials;
  const add = (s: bigint) => {
    if (s === 0n) throw new KrlError('serial 0 cannot be revoked');
    if (++budget.serials > MAX_LISTED_SERIALS) throw new KrlError(`too many serials to list (over ${MAX_LISTED_SERIALS})`);
    serials.push(s);
  };
  while (!r.done) {
    const type = r.byte();
    const sub = new SshReader(r.bytes());
    switch (type) {
      case KRL_SECTION_CERT_SERIAL_LIST:
        while (!sub.done) add(sub.uint64());
        break;
      case KRL_SECTION_CERT_SERIAL_RANGE: {
        const lo = sub.uint64();
        const hi = sub.uint64();
        sub.end();
        if (lo === 0n || lo > hi) throw new KrlError('invalid serial range');
        if (hi - lo + 1n > BigInt(MAX_LISTED_RANGE)) throw new KrlError('range too large to list');
        for (let s = lo; s <= hi; s++) add(s);
        break;
      }
      case KRL_SECTION_CERT_SERIAL_BITMAP: {
        const offset = sub.uint64();
        const bitmap = sub.bytes();
        sub.end();
        if (bitmap.length > 0 && bitmap[0]! & 0x80) throw new KrlError('negative serial bitmap');
        // Bit N (counted from the least significant end) revokes offset + N.
        for (let i = bitmap.length - 1; i >= 0; i--) {
          const byte = bitmap[i]!;
          if (byte === 0) continue;
          const base = offset + BigInt((bitmap.length - 1 - i) * 8);
          for (let bit = 0; bit < 8; bit++) {
            if (!(byte & (1 << bit))) continue;
            const s = base + BigInt(bit);
            if (s > U64_MAX) throw new KrlError('serial bitmap wraps past 2^64');
            add(s);
          }
        }
        break;
      }
      case KRL_SECTION_CERT_KEY_ID:
        while (!sub.done) ca.keyIds.push(cstringText(sub.bytes(), 'key id'));
        break;
      case KRL_SECTION_CERT_EXTENSION:
        decodeExtension(sub);
        break;
      default:
        throw new KrlError(`unknown KRL certificate sub-section type ${type}`);
    }
  }
}

/** An extension (section or certificate sub-section): OpenSSH knows none, so a critical one is refused. */
function decodeExtension(data: Buffer | SshReader): void {
  const r = data instanceof SshReader ? data : new SshReader(data);
  const name = cstringText(r.bytes(), 'extension name');
  const critical = r.byte();
  r.bytes();
  r.end();
  if (critical !== 0) throw new KrlError(`unsupported critical KRL extension "${name}"`);
}

function blobList(data: Buffer): Buffer[] {
  const r = new SshReader(data);
  const out: Buffer[] = [];
  while (!r.done) out.push(Buffer.from(r.bytes()));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Shared checks and orderings

function checkU64(v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new KrlError(`${what} must be an unsigned 64-bit integer`);
}

function checkLength(b: Buffer, n: number, what: string): Buffer {
  if (b.length !== n) throw new KrlError(`a ${what} is ${n} bytes, not ${b.length}`);
  return b;
}

/** A key blob starts with its type name: printable ASCII. OpenSSH parses the whole key; this catches garbage. */
function checkKeyBlob(blob: Buffer, what: string): Buffer {
  let type: Buffer;
  try {
    type = new SshReader(blob).bytes();
  } catch {
    throw new KrlError(`${what} is not an SSH public key blob`);
  }
  if (type.length === 0 || type.length > 256 || !/^[\x21-\x7e]+$/.test(type.toString('latin1'))) {
    throw new KrlError(`${what} is not an SSH public key blob`);
  }
  return blob;
}

/** OpenSSH writes these strings from C strings: no NUL inside. */
function cstringBytes(text: string, what: string): Buffer {
  if (typeof text !== 'string') throw new KrlError(`${what} must be a string`);
  if (text.includes('\0')) throw new KrlError(`${what} contains a NUL character`);
  return Buffer.from(text, 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function cstringText(bytes: Buffer, what: string): string {
  if (bytes.includes(0)) throw new KrlError(`${what} contains a NUL character`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new KrlError(`${what} is not UTF-8`);
  }
}

/** Sorted by bytes (for equal-length hashes, numeric big-endian order, as PROTOCOL.krl asks), unique. */
function sortedUniqueBlobs(blobs: Buffer[]): Buffer[] {
  const sorted = [...blobs].sort(Buffer.compare);
  return sorted.filter((b, i) => i === 0 || !b.equals(sorted[i - 1]!));
}

/** Sorted by UTF-8 bytes, as krl.c's strcmp orders key ids; unique. */
function sortedUniqueStrings(texts: string[]): string[] {
  return sortedUniqueBlobs(texts.map((t) => Buffer.from(t, 'utf8'))).map((b) => b.toString('utf8'));
}

function sortedUniqueSerials(serials: bigint[]): bigint[] {
  const sorted = BigUint64Array.from(serials).sort();
  const out: bigint[] = [];
  for (const s of sorted) if (out.length === 0 || out[out.length - 1] !== s) out.push(s);
  return out;
}
