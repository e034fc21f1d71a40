/**
 * Data parallelism as PyTorch's DistributedDataParallel does it: every process
 * holds a full replica, starts from rank 0's weights, and averages gradients
 * with all-reduces in flat buckets of about 25 MB (one collective per bucket
 * instead of one per parameter).
 *
 * The all-reduces overlap backward, as torch DDP's reducer does: the addon
 * (native/distributed.cpp) hooks every parameter's gradient accumulator and
 * starts a bucket's all-reduce as soon as its last gradient is ready, while
 * autograd goes on with the earlier layers; Gloo runs it on its own threads.
 * Buckets are reduced in reverse parameter order (backward produces the last
 * layers' gradients first), and the bucket of the first layers, ready last,
 * holds at most 1 MB, so little is left to all-reduce when backward ends.
 * After backward, syncGradients() starts what is left, waits, and writes the
 * averages into .grad. A parameter without a gradient on a rank counts as
 * zeros there.
 *
 * A step is: prepareForBackward(), backward, syncGradients() (src/train/step.ts).
 */
import type { Module } from '../nn/module.js';
import { native, type ReducerHandle } from '../tensor/native.js';
import { tensor } from '../tensor/create.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ProcessGroup } from './group.js';

export interface DDPOptions {
  /** Approximate bytes per gradient bucket (the first layers' bucket: at most 1 MB). Default 25 MB, as torch DDP. */
  bucketBytes?: number;
  /** Copy rank 0's buffers (batch-norm running statistics) to every rank at the end of each epoch. Default true. */
  broadcastBuffers?: boolean;
  /** Start each bucket's all-reduce during backward. Default true; false all-reduces after backward (what overlap saves, bench/parallel.ts). */
  overlap?: boolean;
}

export class DistributedDataParallel {
  private readonly reducer: ReducerHandle;
  readonly options: Required<DDPOptions>;

  constructor(readonly module: Module, readonly group: ProcessGroup, options: DDPOptions = {}) {
    this.options = { bucketBytes: 25 * 2 ** 20, broadcastBuffers: true, overlap: true, ...options };
    this.broadcastState(this.module.stateDict().values());
    this.reducer = group.gradientReducer(module.parameters(), this.options.bucketBytes);
  }

  /** Call right before backward: its gradients start their all-reduces as soon as they are ready. */
  prepareForBackward(): void {
    if (this.options.overlap) native.ddpReducerArm!(this.reducer);
  }

  /** Averages every parameter's gradient across ranks: call after backward, before the optimizer step and any other collective. */
  syncGradients(): void {
    native.ddpReducerFinish!(this.reducer);
  }

  /** Makes every rank's buffers equal to rank 0's (as DDP's broadcast_buffers). */
  syncBuffers(): void {
    if (this.options.broadcastBuffers) this.broadcastState(this.module.namedBuffers().map(([, b]) => b));
  }

  /** Sums a vector of counts (metric accumulators, loss sums) over ranks. */
  sumAcrossRanks(values: Float64Array): Float64Array {
    return tidy(() => {
      const t = tensor(values, [values.length], { device: this.group.backend === 'nccl' ? this.module.parameters()[0].device : 'cpu' });
      this.group.allReduce([t]);
      return new Float64Array(t.to('cpu').toArray() as Float64Array);
    });
  }

  private broadcastState(tensors: Iterable<Tensor>): void {
    noGrad(() => {
      for (const t of tensors) {
        if (t.isContiguous()) {
          this.group.broadcast([t], 0);
        } else {
          tidy(() => {
            const packed = t.contiguous();
            this.group.broadcast([packed], 0);
            t.copy_(packed);
          });
        }
      }
    });
  }
}
