/**
 * A c10d process group (libtorch's own Gloo or NCCL, with a TCPStore
 * rendezvous, or a FileStore for a job on one host): the collectives
 * data-parallel training needs.
 */
import { native, type GroupHandle, type ReducerHandle } from '../tensor/native.js';
import { Tensor } from '../tensor/tensor.js';
import type { WorldInfo } from './env.js';

export interface ProcessGroupOptions extends WorldInfo {
  /** 'gloo' for CPU tensors, 'nccl' for CUDA tensors. */
  backend: 'gloo' | 'nccl';
  /** How long rendezvous and every collective may take before failing. Default 60 s. */
  timeoutMs?: number;
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: 'gloo' | 'nccl';
  private handle: GroupHandle | null;

  private constructor(handle: GroupHandle, options: ProcessGroupOptions) {
    this.handle = handle;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.backend = options.backend;
  }

  /** Joins the group: blocks until every rank has reached MASTER_ADDR:MASTER_PORT (or the store file), or the timeout. */
  static init(options: ProcessGroupOptions): ProcessGroup {
    if (!native.distInit) {
      throw new Error('this libtorch was built without distributed support (c10d); multi-process training is unavailable');
    }
    const backends = native.distributedBackends?.() ?? [];
    if (!backends.includes(options.backend)) {
      throw new Error(`process-group backend '${options.backend}' is not in this build (available: ${backends.join(', ')})`);
    }
    const handle = native.distInit(options.masterAddr, options.masterPort, options.rank, options.worldSize, options.backend,
      options.timeoutMs ?? 60_000, options.storeFile);
    return new ProcessGroup(handle, options);
  }

  private get group(): GroupHandle {
    if (!this.handle) throw new Error('the process group was destroyed');
    return this.handle;
  }

  /** Element-wise reduction across ranks, in place. */
  allReduce(tensors: Tensor[], op: 'sum' | 'max' | 'min' = 'sum'): void {
    native.distAllReduce!(this.group, tensors.map((t) => t.handle), op);
  }

  /**
   * The sum of `t` over ranks, as a new tensor that autograd differentiates:
   * its gradient is the sum of every rank's gradient (SyncBatchNorm's statistics).
   */
  sumOverRanks(t: Tensor): Tensor {
    return new Tensor(native.distAllReduceSum!(this.group, t.handle));
  }

  /** Copies `root`'s tensors into every rank's, in place. */
  broadcast(tensors: Tensor[], root = 0): void {
    native.distBroadcast!(this.group, tensors.map((t) => t.handle), root);
  }

  /**
   * A native gradient reducer over `params` (see ddp.ts): autograd hooks that
   * start this group's all-reduces while backward runs. It lives until the
   * group is destroyed, which also removes its hooks.
   */
  gradientReducer(params: Tensor[], bucketBytes: number): ReducerHandle {
    return native.ddpReducerCreate!(this.group, params.map((p) => p.handle), bucketBytes);
  }

  barrier(): void {
    native.distBarrier!(this.group);
  }

  /** Leaves the group. Idempotent. */
  destroy(): void {
    if (this.handle) native.distDestroy!(this.handle);
    this.handle = null;
  }
}
