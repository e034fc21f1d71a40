/**
 * The neutral value model that checkpoint files are read into and written
 * from: JSON-like values plus tensors as raw bytes. It carries no libtorch
 * handle, so checkpoints can be inspected and written without the addon.
 */

/** Element types a checkpoint tensor may have. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/**
 * A tensor as raw little-endian bytes. A scalar has `shape: []`. Without
 * `strides`, `data` holds `product(shape) * DTYPE_SIZE[dtype]` bytes,
 * row-major (C-contiguous). With `strides` (in elements), the tensor is a view
 * over `data`, as torch.save keeps an expanded or transposed tensor: element
 * `[i, j, ...]` is element `i * strides[0] + j * strides[1] + ...` of `data`,
 * which holds exactly the `viewSpan` elements the view reaches, so a stride-0
 * tensor costs no more than its storage. `denseBytes` gives the row-major bytes.
 */
export interface TensorData {
  kind: 'tensor';
  dtype: DType;
  shape: number[];
  data: Uint8Array;
  strides?: number[];
}

/**
 * Forces a number to be written as a Python float: integral numbers are
 * otherwise written as Python ints (`1` becomes `1`, `new PyFloat(1)` becomes
 * `1.0`). Reading never produces a PyFloat; floats read back as numbers.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * What a checkpoint holds. Python tuples and lists both become arrays; dicts
 * (and OrderedDicts) become objects whose integer keys are turned into
 * strings; integers beyond Number.MAX_SAFE_INTEGER become bigints.
 */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | TensorData
  | Value[]
  | { [key: string]: Value };

/** True when `value` is a TensorData (a dict read from a file never is). */
export function isTensorData(value: unknown): value is TensorData {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as TensorData).kind === 'tensor' &&
    (value as TensorData).data instanceof Uint8Array
  );
}

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Makes a TensorData, checking that `data` has exactly the bytes `shape` needs. */
export function tensorData(dtype: DType, shape: number[], data: Uint8Array): TensorData {
  const t: TensorData = { kind: 'tensor', dtype, shape, data };
  checkTensorData(t);
  return t;
}

/** Elements of storage a view of `shape` and `strides` reaches (0 for an empty tensor). */
export function viewSpan(shape: readonly number[], strides: readonly number[]): number {
  if (numel(shape) === 0) return 0;
  return shape.reduce((end, d, i) => end + (d - 1) * strides[i], 0) + 1;
}

/** Throws unless the dtype is known, the shape (and strides) valid and the byte length matches. */
export function checkTensorData(t: TensorData): void {
  if (!Object.hasOwn(DTYPE_SIZE, t.dtype)) {
    throw new Error(`unsupported tensor dtype ${String(t.dtype)}`);
  }
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`invalid tensor shape [${t.shape.join(', ')}]`);
  }
  const { strides } = t;
  if (strides !== undefined && (strides.length !== t.shape.length || !strides.every((s) => Number.isSafeInteger(s) && s >= 0))) {
    throw new Error(`invalid strides [${strides.join(', ')}] for shape [${t.shape.join(', ')}]`);
  }
  const elements = strides === undefined ? numel(t.shape) : viewSpan(t.shape, strides);
  const expected = elements * DTYPE_SIZE[t.dtype];
  if (t.data.byteLength !== expected) {
    const what = strides === undefined ? '' : ` and strides [${strides.join(', ')}]`;
    throw new Error(
      `tensor of shape [${t.shape.join(', ')}]${what} and dtype ${t.dtype} needs ${expected} bytes, got ${t.data.byteLength}`,
    );
  }
}

/** The row-major bytes of `t`: `t.data` itself when dense, else a copy gathered from the view. */
export function denseBytes(t: TensorData): Uint8Array {
  if (t.strides === undefined) return t.data;
  const size = DTYPE_SIZE[t.dtype];
  const { shape, strides } = t;
  const count = numel(shape);
  const out = new Uint8Array(count * size);
  const index = new Array<number>(shape.length).fill(0);
  let element = 0;
  for (let i = 0; i < count; i++) {
    out.set(t.data.subarray(element * size, element * size + size), i * size);
    for (let d = shape.length - 1; d >= 0; d--) {
      element += strides[d];
      if (++index[d] < shape[d]) break;
      element -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The float32 values of a tensor, row-major: a view on `data` when it is
 * dense and aligned (no copy, so writes show through), otherwise a copy.
 */
export function asFloat32Array(t: TensorData): Float32Array {
  if (t.dtype !== 'float32') {
    throw new Error(`asFloat32Array: tensor has dtype ${t.dtype}, not float32`);
  }
  const data = denseBytes(t);
  const count = data.byteLength / 4;
  if (littleEndianHost && data.byteOffset % 4 === 0) {
    return new Float32Array(data.buffer, data.byteOffset, count);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** A float32 TensorData over a copy of `values` (little-endian bytes). */
export function fromFloat32Array(values: ArrayLike<number>, shape: number[]): TensorData {
  const data = new Uint8Array(values.length * 4);
  const view = new DataView(data.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return tensorData('float32', shape, data);
}
