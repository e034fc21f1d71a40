/** Process-wide libtorch settings: threads, seeds, gradient mode, devices, autocast. */
import { native } from './native.js';
import { Tensor, type DType } from './tensor.js';

/** Live native tensors (handles not yet disposed) and their bytes. */
export function memory(): { numTensors: number; numBytes: number } {
  const m = native.memory();
  return { numTensors: m.tensors, numBytes: m.bytes };
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export const getNumThreads = (): number => native.getNumThreads();

/** Seeds libtorch's CPU and CUDA generators (init, dropout, rand). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}
/** The CPU generator's state, for checkpoints. */
export const getRngState = (): Tensor => new Tensor(native.getRngState());
export const setRngState = (state: Tensor): void => native.setRngState(state.handle);

/** Runs `fn` with autograd recording off (as `torch.no_grad()`); synchronous only. */
export function noGrad<R>(fn: () => R): R {
  const previous = native.isGradEnabled();
  native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(previous);
  }
}
export const isGradEnabled = (): boolean => native.isGradEnabled();

/**
 * Runs `fn` under mixed precision as `torch.autocast(device_type, dtype)`:
 * convolutions run in `dtype`, precision-sensitive ops stay float32.
 */
export function autocast<R>(deviceType: 'cpu' | 'cuda', dtype: DType, fn: () => R): R {
  native.setAutocast(deviceType, true, dtype);
  try {
    return fn();
  } finally {
    native.setAutocast(deviceType, false, dtype);
  }
}

/**
 * A forward pass under optional mixed precision: `fn` runs under autocast to
 * `dtype` (for the type of `device`) and its result comes back as float32, for
 * losses and probabilities; without a dtype, `fn` runs as it is.
 */
export function mixedPrecision(device: string, dtype: DType | null | undefined, fn: () => Tensor): Tensor {
  return dtype ? autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', dtype, fn).to('float32') : fn();
}

export const cuda = {
  isAvailable: (): boolean => native.cudaDeviceCount() > 0,
  deviceCount: (): number => native.cudaDeviceCount(),
  /** Waits for the work queued on cuda:index (default 0) or on the device named 'cuda:N'. */
  synchronize: (device: number | string = 0): void =>
    native.cudaSynchronize(typeof device === 'number' ? device : Number(device.split(':')[1] ?? 0)),
  /** cuDNN autotuning (torch.backends.cudnn.benchmark). */
  setBenchmark: (value: boolean): void => native.setCudnnBenchmark(value),
};

/** libtorch version and build facts. */
export const buildInfo = () => native.buildInfo();
