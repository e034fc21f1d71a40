/**
 * The Tensor class: a handle to a libtorch tensor plus the elementwise, shape
 * and reduction methods PyTorch users expect. Neural-network ops live in ops.ts.
 */
import { native, type Handle } from './native.js';
import { keep, track } from './scope.js';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
/** `cpu` or `cuda:N` (`cuda` means `cuda:0`). */
export type Device = string;
export type MemoryFormat = 'contiguous' | 'channelsLast';

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int8'
            ? Int8Array
            : Uint8Array;

type Operand = Tensor | number;

/** A libtorch tensor. Dispose it (or make it inside `tidy`) when done. */
export class Tensor {
  private readonly handleValue: Handle;
  private description?: { shape: number[]; dtype: DType; device: Device };
  private disposed = false;

  /** Wraps a handle returned by the addon; registers it with the current tidy scope. */
  constructor(handle: Handle) {
    this.handleValue = handle;
    track(this);
  }

  /** The native handle, for ops; throws if this tensor was disposed. */
  get handle(): Handle {
    if (this.disposed) throw new Error('tensor was disposed');
    return this.handleValue;
  }

  private describe() {
    if (this.description === undefined) {
      const d = native.describe(this.handle);
      this.description = { shape: d.shape, dtype: d.dtype as DType, device: d.device };
    }
    return this.description;
  }

  get shape(): readonly number[] {
    return this.describe().shape;
  }
  get rank(): number {
    return this.describe().shape.length;
  }
  get numel(): number {
    return this.describe().shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return this.describe().dtype;
  }
  get device(): Device {
    return this.describe().device;
  }
  get requiresGrad(): boolean {
    return native.describe(this.handle).requiresGrad;
  }
  set requiresGrad(value: boolean) {
    native.setRequiresGrad(this.handle, value);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    native.dispose(this.handleValue);
  }

  /** Keeps this tensor alive past the enclosing tidy scopes. */
  keep(): this {
    return keep(this);
  }

  /** The accumulated gradient as a new handle (dispose it), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(value: Tensor | null) {
    if (value === null) native.clearGrad(this.handle);
    else native.setGrad(this.handle, value.handle);
  }

  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    try {
      native.backward(this.handle, gradient?.handle ?? null, options.retainGraph ?? false);
    } catch (e) {
      throw withShapes(e, 'backward', [this, gradient]);
    }
  }

  /** A copy of the data as a typed array (float16/bfloat16 come back as float32). */
  toArray(): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array {
    const dtype = this.dtype;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      const wide = this.to('float32');
      try {
        return new Float32Array(native.toBuffer(wide.handle));
      } finally {
        wide.dispose();
      }
    }
    return typedArray(dtype, native.toBuffer(this.handle));
  }

  /** The data as a Float32Array, converting from any dtype. */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return new Float32Array(native.toBuffer(this.handle));
    const f = this.to('float32');
    try {
      return new Float32Array(native.toBuffer(f.handle));
    } finally {
      f.dispose();
    }
  }

  /** The raw contiguous bytes (little-endian), as a checkpoint stores them. */
  toBytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.handle));
  }

  item(): number {
    try {
      return native.item(this.handle);
    } catch (e) {
      throw withShapes(e, 'item', [this]);
    }
  }

  /** Moves and/or converts: `t.to('cuda:0')`, `t.to('float16')`, `t.to({ device, dtype })`. */
  to(target: Device | DType | { device?: Device; dtype?: DType; nonBlocking?: boolean }): Tensor {
    const spec = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    return new Tensor(native.to(this.handle, spec.device ?? null, spec.dtype ?? null, spec.nonBlocking ?? false));
  }
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this.handle, format));
  }
  isContiguous(format: MemoryFormat = 'contiguous'): boolean {
    return native.isContiguous(this.handle, format);
  }
  pinMemory(): Tensor {
    return new Tensor(native.pinMemory(this.handle));
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- elementwise, broadcasting ----
  add(other: Operand, alpha = 1): Tensor {
    return this.binary('add', other, (a, b) => native.add(a, b, alpha));
  }
  sub(other: Operand, alpha = 1): Tensor {
    return this.binary('sub', other, (a, b) => native.sub(a, b, alpha));
  }
  /** number - this */
  rsub(value: number): Tensor {
    return new Tensor(native.rsub(this.handle, value));
  }
  mul(other: Operand): Tensor {
    return this.binary('mul', other, native.mul);
  }
  div(other: Operand): Tensor {
    return this.binary('div', other, native.div);
  }
  pow(other: Operand): Tensor {
    return this.binary('pow', other, native.pow);
  }
  maximum(other: Operand): Tensor {
    return this.binary('maximum', other, native.maximum);
  }
  minimum(other: Operand): Tensor {
    return this.binary('minimum', other, native.minimum);
  }
  eq(other: Operand): Tensor {
    return this.binary('eq', other, native.eq);
  }
  ne(other: Operand): Tensor {
    return this.binary('ne', other, native.ne);
  }
  lt(other: Operand): Tensor {
    return this.binary('lt', other, native.lt);
  }
  le(other: Operand): Tensor {
    return this.binary('le', other, native.le);
  }
  gt(other: Operand): Tensor {
    return this.binary('gt', other, native.gt);
  }
  ge(other: Operand): Tensor {
    return this.binary('ge', other, native.ge);
  }
  logicalAnd(other: Tensor): Tensor {
    return this.binary('logicalAnd', other, (a, b) => native.logicalAnd(a, b as Handle));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.handle));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  logSigmoid(): Tensor {
    return new Tensor(native.logSigmoid(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  floor(): Tensor {
    return new Tensor(native.floor(this.handle));
  }
  round(): Tensor {
    return new Tensor(native.round(this.handle));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  /** Clamps to [min, max]; either bound may be null. */
  clamp(min: number | null, max: number | null): Tensor {
    return new Tensor(native.clamp(this.handle, min, max));
  }

  // ---- reductions ----
  /** Sum over `dims` (all when omitted). */
  sum(dims?: number | number[], keepdim = false): Tensor {
    return this.reduce('sum', dims, keepdim, native.sum);
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return this.reduce('mean', dims, keepdim, native.mean);
  }
  max(dims?: number | number[], keepdim = false): Tensor {
    return this.reduce('max', dims, keepdim, native.amax);
  }
  min(dims?: number | number[], keepdim = false): Tensor {
    return this.reduce('min', dims, keepdim, native.amin);
  }
  argmax(dim: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, this.dim('argmax', dim), keepdim));
  }

  // ---- shape ----
  /** Reshape; one dimension may be -1. */
  reshape(shape: number[]): Tensor {
    const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const inferred = shape.includes(-1);
    if (shape.filter((d) => d === -1).length > 1 || (inferred ? this.numel % known !== 0 : known !== this.numel)) {
      throw new Error(`reshape: cannot reshape [${this.shape}] (${this.numel} elements) to [${shape}]`);
    }
    return new Tensor(native.reshape(this.handle, shape));
  }
  flatten(): Tensor {
    return this.reshape([-1]);
  }
  unsqueeze(dim: number): Tensor {
    const shape = [...this.shape];
    shape.splice(dim < 0 ? dim + this.rank + 1 : dim, 0, 1);
    return this.reshape(shape);
  }
  squeeze(dim: number): Tensor {
    const d = this.dim('squeeze', dim);
    if (this.shape[d] !== 1) throw new Error(`squeeze: dimension ${dim} of [${this.shape}] is not 1`);
    return this.reshape(this.shape.filter((_, i) => i !== d));
  }
  permute(dims: number[]): Tensor {
    if (dims.length !== this.rank) throw new Error(`permute: ${dims.length} dims given for a rank-${this.rank} tensor [${this.shape}]`);
    return this.unary('permute', (h) => native.permute(h, dims), dims);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this.handle, this.dim('transpose', dim0), this.dim('transpose', dim1)));
  }
  flip(dims: number[]): Tensor {
    return new Tensor(native.flip(this.handle, dims.map((d) => this.dim('flip', d))));
  }
  /** Rotates by 90 degrees k times in the plane of `dims` (default the last two). */
  rot90(k = 1, dims: [number, number] = [-2, -1]): Tensor {
    return this.unary('rot90', (h) => native.rot90(h, k, dims.map((d) => this.dim('rot90', d))), dims);
  }
  expand(shape: number[]): Tensor {
    return this.unary('expand', (h) => native.expand(h, shape), shape);
  }
  /** A view of `start:end:step` along `dim` (negative indices count from the end). */
  slice(dim: number, start: number, end: number = this.shape[this.dim('slice', dim)], step = 1): Tensor {
    const d = this.dim('slice', dim);
    const size = this.shape[d];
    const s = start < 0 ? start + size : start;
    const e = end < 0 ? end + size : Math.min(end, size);
    if (s < 0 || s > e || step < 1) throw new Error(`slice: range ${start}:${end}:${step} is invalid for dimension ${dim} of size ${size}`);
    return new Tensor(native.slice(this.handle, d, s, e, step));
  }

  // ---- in place (optimizers, initialisation; call under noGrad for leaves) ----
  mul_(other: Operand): this {
    native.mul_(this.handle, typeof other === 'number' ? other : other.handle);
    return this;
  }
  /** this += alpha * other */
  add_(other: Operand, alpha = 1): this {
    native.add_(this.handle, typeof other === 'number' ? other : other.handle, alpha);
    return this;
  }
  /** this += value * a * b */
  addcmul_(a: Tensor, b: Tensor, value = 1): this {
    native.addcmul_(this.handle, a.handle, b.handle, value);
    return this;
  }
  /** this += value * a / b */
  addcdiv_(a: Tensor, b: Tensor, value = 1): this {
    native.addcdiv_(this.handle, a.handle, b.handle, value);
    return this;
  }
  copy_(source: Tensor): this {
    try {
      native.copy_(this.handle, source.handle);
    } catch (e) {
      throw withShapes(e, 'copy_', [this, source]);
    }
    return this;
  }
  fill_(value: number): this {
    native.fill_(this.handle, value);
    return this;
  }
  uniform_(low: number, high: number): this {
    native.uniform_(this.handle, low, high);
    return this;
  }
  normal_(mean: number, std: number): this {
    native.normal_(this.handle, mean, std);
    return this;
  }

  toString(): string {
    return this.disposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }

  /** Normalises a possibly negative dimension index, with a clear error. */
  dim(op: string, dim: number): number {
    const rank = this.rank;
    const d = dim < 0 ? dim + rank : dim;
    if (d < 0 || d >= rank) throw new Error(`${op}: dimension ${dim} is out of range for shape [${this.shape}]`);
    return d;
  }

  private binary(op: string, other: Operand, fn: (a: Handle, b: Handle | number) => Handle): Tensor {
    const b = typeof other === 'number' ? other : other.handle;
    try {
      return new Tensor(fn(this.handle, b));
    } catch (e) {
      throw withShapes(e, op, [this, other]);
    }
  }

  /** A one-input op whose native errors get this tensor's shape and the op's arguments appended. */
  private unary(op: string, fn: (h: Handle) => Handle, args: readonly number[]): Tensor {
    try {
      return new Tensor(fn(this.handle));
    } catch (e) {
      throw withShapes(e, op, [this, `[${args}]`]);
    }
  }

  private reduce(
    op: string,
    dims: number | number[] | undefined,
    keepdim: boolean,
    fn: (a: Handle, dims: number[] | null, keepdim: boolean) => Handle,
  ): Tensor {
    const list = dims === undefined ? null : (Array.isArray(dims) ? dims : [dims]).map((d) => this.dim(op, d));
    return new Tensor(fn(this.handle, list, keepdim));
  }
}

/** Re-throws a native error with the shapes of the operands appended. */
export function withShapes(error: unknown, op: string, operands: (Tensor | number | string | null | undefined)[]): Error {
  const message = error instanceof Error ? error.message : String(error);
  const shapes = operands
    .map((o) => (o instanceof Tensor ? (o.isDisposed ? 'disposed' : `[${o.shape}]`) : String(o)))
    .join(', ');
  const prefixed = message.startsWith(`${op}:`) ? message : `${op}: ${message}`;
  return new Error(`${prefixed} (operands: ${shapes})`);
}

const DTYPES: ReadonlySet<string> = new Set(['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);
export function isDType(value: string): value is DType {
  return DTYPES.has(value);
}

function typedArray(dtype: DType, buffer: ArrayBuffer) {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    default:
      return new Uint8Array(buffer);
  }
}
