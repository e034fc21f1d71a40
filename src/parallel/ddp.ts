/**
 * Data parallelism as PyTorch's DistributedDataParallel does it: every process
 * holds a full replica, starts from rank 0's weights, and averages gradients
 * with an all-reduce after backward, in flat buckets of about 25 MB (one
 * collective per bucket instead of one per parameter).
 *
 * Unlike torch DDP, the all-reduce runs after backward has finished rather than
 * overlapping it: autograd hooks are not exposed through the addon.
 */
import type { Module } from '../nn/module.js';
import { cat } from '../tensor/ops.js';
import { zeros, tensor } from '../tensor/create.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { ProcessGroup } from './group.js';

export interface DDPOptions {
  /** Approximate bytes per gradient bucket. Default 25 MB, as torch DDP. */
  bucketBytes?: number;
  /** Copy rank 0's buffers (batch-norm running statistics) to every rank at the end of each epoch. Default true. */
  broadcastBuffers?: boolean;
}

export class DistributedDataParallel {
  private readonly buckets: Tensor[][];
  readonly options: Required<DDPOptions>;

  constructor(readonly module: Module, readonly group: ProcessGroup, options: DDPOptions = {}) {
    this.options = { bucketBytes: 25 * 2 ** 20, broadcastBuffers: true, ...options };
    this.broadcastState(this.module.stateDict().values());
    this.buckets = planBuckets(module.parameters(), this.options.bucketBytes);
  }

  /** Averages every parameter's gradient across ranks (call after backward, before the optimizer step). */
  syncGradients(): void {
    const scale = 1 / this.group.worldSize;
    noGrad(() => {
      for (const bucket of this.buckets) {
        tidy(() => {
          const flats = bucket.map((p) => {
            const g = p.grad;
            return g ? g.reshape([-1]) : zeros([p.numel], { device: p.device, dtype: p.dtype });
          });
          const flat = cat(flats, 0);
          this.group.allReduce([flat]);
          flat.mul_(scale);
          let offset = 0;
          for (const p of bucket) {
            const averaged = flat.slice(0, offset, offset + p.numel).reshape([...p.shape]);
            const g = p.grad;
            if (g) g.copy_(averaged);
            else p.grad = averaged.clone();
            offset += p.numel;
          }
        });
      }
    });
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

/** Parameters in reverse order (gradients of the last layers are ready first), grouped by dtype up to `bytes`. */
function planBuckets(params: Tensor[], bytes: number): Tensor[][] {
  const buckets: Tensor[][] = [];
  let current: Tensor[] = [];
  let size = 0;
  for (const p of [...params].reverse()) {
    const pBytes = p.numel * 4;
    if (current.length && (size + pBytes > bytes || current[0].dtype !== p.dtype)) {
      buckets.push(current);
      current = [];
      size = 0;
    }
    current.push(p);
    size += pBytes;
  }
  if (current.length) buckets.push(current);
  return buckets;
}
