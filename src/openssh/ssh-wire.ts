/** Builds byte strings in the SSH wire encoding (RFC 4251 §5). */
export class SshWriter {
  // One growing buffer: a certificate is a few dozen fields, and a Buffer per field (then a concat) was a
  // large share of what signing a certificate allocated.
  private buf = Buffer.allocUnsafe(256);
  private length = 0;

  /** Where the next `n` bytes go; grows (replaces) `buf`, so read `buf` only after calling it. */
  private room(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, at + n));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.length = at + n;
    return at;
  }

  byte(n: number): this {
    const at = this.room(1);
    this.buf[at] = n & 0xff;
    return this;
  }

  uint32(n: number): this {
    const at = this.room(4);
    this.buf.writeUInt32BE(n >>> 0, at);
    return this;
  }

  uint64(n: bigint): this {
    // Checked before the room is taken: a failed write must not leave unwritten bytes in the output.
    if (n < 0n || n >= 1n << 64n) throw new RangeError('uint64 out of range');
    const at = this.room(8);
    this.buf.writeBigUInt64BE(n, at);
    return this;
  }

  /** A length-prefixed string; text is UTF-8. */
  string(value: string | Uint8Array): this {
    if (typeof value === 'string') {
      const n = Buffer.byteLength(value, 'utf8');
      this.uint32(n);
      const at = this.room(n);
      this.buf.write(value, at, n, 'utf8');
      return this;
    }
    this.uint32(value.length);
    return this.raw(value);
  }

  /** An unsigned big-endian integer as an mpint: minimal, with a 0x00 lead when the top bit is set. */
  mpint(unsigned: Uint8Array): this {
    let start = 0;
    while (start < unsigned.length && unsigned[start] === 0) start++;
    const body = unsigned.subarray(start);
    const lead = body.length > 0 && body[0]! & 0x80 ? 1 : 0;
    this.uint32(body.length + lead);
    if (lead) this.byte(0);
    return this.raw(body);
  }

  raw(bytes: Uint8Array): this {
    const at = this.room(bytes.length);
    this.buf.set(bytes, at);
    return this;
  }

  /** The bytes written, in a buffer of their own (the writer's may be written to again). */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/** Reads the SSH wire encoding; every read checks bounds and throws SshWireError past the end. */
export class SshReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  /** How many bytes have been read. */
  get position(): number {
    return this.offset;
  }

  private take(n: number): Buffer {
    if (n < 0 || this.offset + n > this.buf.length) throw new SshWireError('truncated');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  byte(): number {
    return this.take(1)[0]!;
  }

  uint32(): number {
    return this.take(4).readUInt32BE();
  }

  uint64(): bigint {
    return this.take(8).readBigUInt64BE();
  }

  bytes(): Buffer {
    return this.take(this.uint32());
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  get done(): boolean {
    return this.offset === this.buf.length;
  }

  /** Throws unless every byte was read: trailing bytes make a blob malformed. */
  end(): void {
    if (!this.done) throw new SshWireError('trailing bytes');
  }
}

export class SshWireError extends Error {
  override name = 'SshWireError';
}
