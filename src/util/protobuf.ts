/**
 * Protobuf's wire format, both ways: the one writer and reader the ONNX encoder (engine/onnx) and
 * the ONNX model codec (compress/onnx) share. Messages are plain bytes here; what a field means is
 * the caller's.
 * @module
 */

/** Wire types: varint, 64-bit, length-delimited, 32-bit. */
export type WireType = 0 | 1 | 2 | 5;

/**
 * Appends protobuf wire-format fields; messages nest by encoding the child first. Byte fields are
 * kept as references and copied once, by `finish` (a model's weights can be tens of megabytes).
 */
export class Writer {
  private readonly chunks: Uint8Array[] = [];
  /** Keys, lengths and scalars not yet moved into `chunks`. */
  private pending: number[] = [];

  private varint(value: bigint): void {
    // int64 fields carry negatives as 10-byte two's complement.
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  private key(field: number, wire: WireType): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.fixed(field, 5, b);
  }

  /** A 32-bit (wire 5) or 64-bit (wire 1) field, its little-endian bytes as read. */
  fixed(field: number, wire: 1 | 5, value: Uint8Array): this {
    this.key(field, wire);
    this.pending.push(...value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(BigInt(value.length));
    this.flush();
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, child: Writer): this {
    return this.bytes(field, child.finish());
  }

  /** A field read by `fields`, written back as it was. */
  raw(field: number, wire: WireType, value: bigint | Uint8Array): this {
    if (typeof value === 'bigint') return this.int(field, value);
    return wire === 2 ? this.bytes(field, value) : this.fixed(field, wire as 1 | 5, value);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

/**
 * Reads the fields of one message: [field, wire type, value]. Varints come as (unsigned) bigints;
 * the others as views into `buf` (fixed-size fields as their 4 or 8 little-endian bytes).
 */
export function* fields(buf: Uint8Array): Generator<[number, WireType, bigint | Uint8Array]> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error('truncated protobuf');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error('truncated protobuf');
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield [field, 0, varint()];
    else if (wire === 2) yield [field, 2, take(Number(varint()))];
    else if (wire === 5) yield [field, 5, take(4)];
    else if (wire === 1) yield [field, 1, take(8)];
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** The varints of a packed repeated field (or of one unpacked element). */
export function packedVarints(value: bigint | Uint8Array): bigint[] {
  if (typeof value === 'bigint') return [value];
  const out: bigint[] = [];
  let result = 0n;
  let shift = 0n;
  for (const byte of value) {
    result |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if (byte < 0x80) {
      out.push(result);
      result = 0n;
      shift = 0n;
    }
  }
  return out;
}
