/** Making tensors: from JavaScript data, and filled ones. */
import { numel, viewSpan } from '../io/value.js';
import { native } from './native.js';
import { Tensor, type Device, type DType } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

type Data = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array | number[];

const BYTES: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/**
 * A tensor holding a copy of `data` in `shape`. The dtype follows the typed array
 * (Float32Array -> float32, Uint8Array -> uint8, ...; number[] -> float32) unless
 * `options.dtype` asks for a conversion.
 */
export function tensor(data: Data, shape?: number[], options: CreateOptions = {}): Tensor {
  const { array, dtype } = asTypedArray(data);
  const dims = shape ?? [array.length];
  const numel = dims.reduce((a, b) => a * b, 1);
  if (numel !== array.length) {
    throw new Error(`tensor: ${array.length} values do not fill shape [${dims}] (${numel} elements)`);
  }
  let t = new Tensor(native.fromBuffer(array, dtype, dims));
  if ((options.dtype && options.dtype !== dtype) || (options.device && options.device !== 'cpu')) {
    const moved = t.to({ dtype: options.dtype, device: options.device });
    t.dispose();
    t = moved;
  }
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor over a copy of raw little-endian bytes, as read from a checkpoint:
 * row-major, or with `strides` a view over them (see TensorData.strides).
 */
export function fromBytes(bytes: Uint8Array, dtype: DType, shape: number[], strides?: number[]): Tensor {
  const elements = strides === undefined ? numel(shape) : viewSpan(shape, strides);
  const need = elements * BYTES[dtype];
  if (bytes.byteLength !== need) throw new Error(`fromBytes: ${bytes.byteLength} bytes for ${dtype} [${shape}] (need ${need})`);
  return new Tensor(native.fromBuffer(bytes, dtype, shape, strides));
}

function asTypedArray(data: Data): { array: ArrayBufferView & { length: number }; dtype: DType } {
  if (Array.isArray(data)) return { array: Float32Array.from(data), dtype: 'float32' };
  if (data instanceof Float32Array) return { array: data, dtype: 'float32' };
  if (data instanceof Float64Array) return { array: data, dtype: 'float64' };
  if (data instanceof BigInt64Array) return { array: data, dtype: 'int64' };
  if (data instanceof Int32Array) return { array: data, dtype: 'int32' };
  if (data instanceof Int16Array) return { array: data, dtype: 'int16' };
  if (data instanceof Int8Array) return { array: data, dtype: 'int8' };
  if (data instanceof Uint8Array) return { array: data, dtype: 'uint8' };
  throw new Error('tensor: data must be a number[] or a typed array');
}

function filled(
  make: (shape: number[], dtype: string, device: string) => ReturnType<typeof native.zeros>,
  shape: number[],
  options: CreateOptions,
): Tensor {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`invalid shape [${shape}]`);
  const t = new Tensor(make(shape, options.dtype ?? 'float32', options.device ?? 'cpu'));
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

export const zeros = (shape: number[], options: CreateOptions = {}) => filled(native.zeros, shape, options);
export const ones = (shape: number[], options: CreateOptions = {}) => filled(native.ones, shape, options);
export const empty = (shape: number[], options: CreateOptions = {}) => filled(native.empty, shape, options);
/** Uniform in [0, 1), from libtorch's generator (seeded by manualSeed). */
export const rand = (shape: number[], options: CreateOptions = {}) => filled(native.rand, shape, options);
/** Standard normal, from libtorch's generator. */
export const randn = (shape: number[], options: CreateOptions = {}) => filled(native.randn, shape, options);
export function full(shape: number[], value: number, options: CreateOptions = {}): Tensor {
  return filled((s, d, dev) => native.full(s, value, d, dev), shape, options);
}
/** [start, end) by step. */
export function arange(start: number, end: number, step = 1, options: CreateOptions = {}): Tensor {
  return new Tensor(native.arange(start, end, step, options.dtype ?? 'float32', options.device ?? 'cpu'));
}
