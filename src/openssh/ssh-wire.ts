/** Builds byte strings in the SSH wire encoding (RFC 4251 §5). */
export class SshWriter {
  private readonly parts: Buffer[] = [];

  byte(n: number): this {
    this.parts.push(Buffer.of(n & 0xff));
    return this;
  }

  uint32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    this.parts.push(b);
    return this;
  }

  uint64(n: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    this.parts.push(b);
    return this;
  }

  /** A length-prefixed string; text is UTF-8. */
  string(value: string | Uint8Array): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    this.uint32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  /** An unsigned big-endian integer as an mpint: minimal, with a 0x00 lead when the top bit is set. */
  mpint(unsigned: Uint8Array): this {
    let start = 0;
    while (start < unsigned.length && unsigned[start] === 0) start++;
    const body = Buffer.from(unsigned.subarray(start));
    return this.string(body.length > 0 && body[0]! & 0x80 ? Buffer.concat([Buffer.of(0), body]) : body);
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
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
