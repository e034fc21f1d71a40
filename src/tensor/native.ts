/**
 * The one place the libtorch addon is loaded, with the types of its exports.
 * Everything else calls libtorch through `native` from this file.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/** An opaque handle to a libtorch tensor owned by the addon. */
export type Handle = { readonly __nativeTensor: unique symbol };
/** An opaque handle to a c10d process group. */
export type GroupHandle = { readonly __nativeGroup: unique symbol };
/** An opaque handle to a DDP gradient reducer (autograd hooks that start all-reduces during backward); freed with its group. */
export type ReducerHandle = { readonly __nativeReducer: unique symbol };
type T = Handle;
type TorN = Handle | number;
type Reduction = 'mean' | 'sum' | 'none';

export interface NativeAddon {
  fromBuffer(bytes: ArrayBufferView, dtype: string, shape: number[], strides?: number[]): T;
  toBuffer(t: T): ArrayBuffer;
  empty(shape: number[], dtype: string, device: string): T;
  zeros(shape: number[], dtype: string, device: string): T;
  ones(shape: number[], dtype: string, device: string): T;
  full(shape: number[], value: number, dtype: string, device: string): T;
  rand(shape: number[], dtype: string, device: string): T;
  randn(shape: number[], dtype: string, device: string): T;
  arange(start: number, end: number, step: number, dtype: string, device: string): T;
  describe(t: T): { shape: number[]; dtype: string; device: string; requiresGrad: boolean };
  dispose(t: T): void;
  isDisposed(t: T): boolean;
  to(t: T, device: string | null, dtype: string | null, nonBlocking: boolean): T;
  contiguous(t: T, format: string): T;
  isContiguous(t: T, format: string): boolean;
  pinMemory(t: T): T;
  clone(t: T): T;
  detach(t: T): T;
  item(t: T): number;
  setRequiresGrad(t: T, value: boolean): void;
  grad(t: T): T | null;
  clearGrad(t: T): void;
  setGrad(t: T, grad: T): void;
  backward(t: T, grad: T | null, retainGraph: boolean): void;
  setGradEnabled(value: boolean): void;
  isGradEnabled(): boolean;
  memory(): { tensors: number; bytes: number };
  setNumThreads(n: number): void;
  /** glibc: blocks up to `mmapThreshold` bytes come from the heap, and the heap is not trimmed; false elsewhere */
  keepFreedMemory(mmapThreshold: number): boolean;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  getRngState(): T;
  setRngState(state: T): void;
  cudaDeviceCount(): number;
  cudaSynchronize(index?: number): void;
  setCudnnBenchmark(value: boolean): void;
  setAutocast(deviceType: 'cpu' | 'cuda', enabled: boolean, dtype: string): void;
  buildInfo(): { torchVersion: string; cudaCompiled: boolean; parallelInfo: string };

  add(a: T, b: TorN, alpha?: number): T;
  sub(a: T, b: TorN, alpha?: number): T;
  rsub(a: T, b: number): T;
  mul(a: T, b: TorN): T;
  div(a: T, b: TorN): T;
  pow(a: T, b: TorN): T;
  eq(a: T, b: TorN): T;
  ne(a: T, b: TorN): T;
  lt(a: T, b: TorN): T;
  le(a: T, b: TorN): T;
  gt(a: T, b: TorN): T;
  ge(a: T, b: TorN): T;
  maximum(a: T, b: TorN): T;
  minimum(a: T, b: TorN): T;
  logicalAnd(a: T, b: T): T;
  logicalNot(a: T): T;
  neg(a: T): T;
  abs(a: T): T;
  exp(a: T): T;
  log(a: T): T;
  log1p(a: T): T;
  sqrt(a: T): T;
  rsqrt(a: T): T;
  sigmoid(a: T): T;
  logSigmoid(a: T): T;
  tanh(a: T): T;
  relu(a: T): T;
  leakyRelu(a: T, slope: number): T;
  floor(a: T): T;
  round(a: T): T;
  sign(a: T): T;
  isfinite(a: T): T;
  clamp(a: T, min: number | null, max: number | null): T;
  where(cond: T, a: TorN, b: TorN): T;
  sum(a: T, dims: number[] | null, keepdim: boolean): T;
  mean(a: T, dims: number[] | null, keepdim: boolean): T;
  amax(a: T, dims: number[] | null, keepdim: boolean): T;
  amin(a: T, dims: number[] | null, keepdim: boolean): T;
  argmax(a: T, dim: number, keepdim: boolean): T;
  reshape(a: T, shape: number[]): T;
  permute(a: T, dims: number[]): T;
  transpose(a: T, dim0: number, dim1: number): T;
  flip(a: T, dims: number[]): T;
  rot90(a: T, k: number, dims: number[]): T;
  expand(a: T, shape: number[]): T;
  slice(a: T, dim: number, start: number, end: number, step: number): T;
  cat(tensors: T[], dim: number): T;
  stack(tensors: T[], dim: number): T;
  pad(a: T, pads: number[], mode: string, value: number): T;
  conv2d(x: T, w: T, b: T | null, stride: number[], padding: number[], dilation: number[], groups: number): T;
  convTranspose2d(
    x: T, w: T, b: T | null, stride: number[], padding: number[], outputPadding: number[], groups: number,
    dilation: number[],
  ): T;
  batchNorm(
    x: T, weight: T | null, bias: T | null, runningMean: T | null, runningVar: T | null, training: boolean,
    momentum: number, eps: number,
  ): T;
  maxPool2d(x: T, kernel: number[], stride: number[], padding: number[], dilation: number[], ceilMode: boolean): T;
  upsampleBilinear2d(x: T, size: number[], alignCorners: boolean, scaleH: number | null, scaleW: number | null): T;
  upsampleNearest2d(x: T, size: number[], scaleH: number | null, scaleW: number | null): T;
  softmax(x: T, dim: number): T;
  logSoftmax(x: T, dim: number): T;
  dropout(x: T, p: number, train: boolean): T;
  binaryCrossEntropy(p: T, target: T, weight: T | null, reduction: Reduction): T;
  binaryCrossEntropyWithLogits(x: T, target: T, weight: T | null, posWeight: T | null, reduction: Reduction): T;
  nllLoss(logp: T, target: T, weight: T | null, reduction: Reduction, ignoreIndex: number): T;
  crossEntropy(logits: T, target: T, weight: T | null, reduction: Reduction, ignoreIndex: number, smoothing: number): T;
  // c10d, present when libtorch was built with distributed support
  distInit?(masterAddr: string, port: number, rank: number, worldSize: number, backend: string, timeoutMs: number, storeFile?: string): GroupHandle;
  distAllReduce?(group: GroupHandle, tensors: T[], op: 'sum' | 'max' | 'min'): void;
  distBroadcast?(group: GroupHandle, tensors: T[], root: number): void;
  /** a new tensor, the sum over ranks; its backward sums the gradients over ranks */
  distAllReduceSum?(group: GroupHandle, t: T): T;
  distBarrier?(group: GroupHandle): void;
  distDestroy?(group: GroupHandle): void;
  /** buckets of about bucketBytes over params in reverse order; hooks on their gradient accumulators */
  ddpReducerCreate?(group: GroupHandle, params: T[], bucketBytes: number): ReducerHandle;
  /** the next backward starts each bucket's all-reduce as soon as its gradients are ready */
  ddpReducerArm?(reducer: ReducerHandle): void;
  /** starts the buckets not yet started, waits for all, writes the averages into .grad */
  ddpReducerFinish?(reducer: ReducerHandle): void;
  distributedBackends?(): string[];

  mul_(t: T, other: TorN): T;
  add_(t: T, other: TorN, alpha: number): T;
  addcmul_(t: T, a: T, b: T, value: number): T;
  addcdiv_(t: T, a: T, b: T, value: number): T;
  /** torch.optim.Adam's update of every parameter at one step count, in one call */
  adamStep(
    params: T[], grads: T[], expAvgs: T[], expAvgSqs: T[], lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number,
  ): void;
  /** libtorch's autograd profiler: records every op until profilerStop writes a Chrome trace to `path` */
  profilerStart(path: string): void;
  profilerStop(): void;
  copy_(t: T, source: T): T;
  fill_(t: T, value: number): T;
  uniform_(t: T, low: number, high: number): T;
  normal_(t: T, mean: number, std: number): T;
}

/** The largest mmap threshold glibc accepts on 64-bit systems: 32 MiB (HEAP_MAX_SIZE / 2). */
const GLIBC_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024;

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function loadAddon(): NativeAddon {
  const path = process.env.PATHO_NATIVE ?? join(packageRoot, 'native', 'build', 'patho.node');
  if (!existsSync(path)) {
    throw new Error(
      `patho: the native addon is not built (looked for ${path}). Run 'npm run build:native' ` +
        `(or ./setup.sh), which needs libtorch: see README.md.`,
    );
  }
  const addon = createRequire(import.meta.url)(path) as NativeAddon;
  // libtorch may start with one intra-op thread (DESIGN.md): set it explicitly, from the main thread only:
  // the count is the process's, and a loader's worker thread (which reads slides through the addon)
  // setting it again would undo --threads for the training itself
  if (isMainThread) {
    const threads = Number(process.env.PATHO_NUM_THREADS ?? availableParallelism());
    addon.setNumThreads(Math.max(1, threads));
    // process-wide too: freed tensor memory is kept for the next step instead of unmapped and faulted in again
    // (tensor_core.cpp keepFreedMemory; about 1.5x the trainer's images/s on the membrane recipe); the malloc
    // settings a user chose through glibc's environment variables win, and PATHO_KEEP_FREED_MEMORY=0 leaves glibc's defaults
    if (process.env.PATHO_KEEP_FREED_MEMORY !== '0' && !Object.keys(process.env).some((k) => /^MALLOC_\w+_$/.test(k))) {
      addon.keepFreedMemory(GLIBC_MAX_MMAP_THRESHOLD);
    }
  }
  return addon;
}

export const native: NativeAddon = loadAddon();
