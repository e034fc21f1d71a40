/**
 * A minimal Protocol Buffers encoder: the two wire types ONNX's ModelProto
 * needs (varint, length-delimited). A message is built inside out: encode the
 * submessage, then append its chunks as a field of the parent (each byte is
 * copied once, by the outermost finish()).
 * No dependency: the schema is the handful of field numbers in onnx.ts.
 */

const VARINT = 0;
const LENGTH_DELIMITED = 2;

const utf8 = new TextEncoder();

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private pending: number[] = [];
  private size = 0;

  /** An int32/int64/enum/bool field; negative values take ten bytes, as protobuf's two's complement int64. */
  int(field: number, value: number | bigint): this {
    this.tag(field, VARINT);
    this.varint(BigInt.asUintN(64, BigInt(value)));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A length-delimited field: raw bytes or an encoded submessage. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(BigInt(value.length));
    this.flush();
    this.chunks.push(value);
    this.size += value.length;
    return this;
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.append(field, inner);
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(BigInt.asUintN(64, BigInt(v)));
    return this.append(field, inner);
  }

  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** `inner`'s encoding as a length-delimited field: its chunks are taken over, not copied. */
  private append(field: number, inner: ProtoWriter): this {
    inner.flush();
    this.tag(field, LENGTH_DELIMITED);
    this.varint(BigInt(inner.size));
    this.flush();
    for (const c of inner.chunks) this.chunks.push(c);
    this.size += inner.size;
    return this;
  }

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  private varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Uint8Array.from(this.pending));
    this.size += this.pending.length;
    this.pending = [];
  }
}
