/**
 * SyncBatchNorm, as torch.nn.SyncBatchNorm: in training, batch norm's mean and
 * variance come from every rank's batch, not only this process's. With a few
 * large patches per device, a batch's own statistics are noisy; with these, N
 * ranks of batch b normalise as one process with batch N * b.
 *
 * Each channel's sum and sum of squares, and the count, are summed over ranks
 * in one all-reduce that autograd differentiates (ProcessGroup.sumOverRanks):
 * its backward all-reduces their gradients, which carry each rank's sum(dy)
 * and sum(dy * x), so the rest of the backward is autograd's own, from ordinary
 * ops. Weight and bias gradients stay local; DDP averages them like any other.
 *
 * The sums are float32 (ATen sums in cascades), combined in float64: the
 * variance E[x^2] - E[x]^2 then carries float32's rounding of E[x^2], small
 * while a channel's mean is not far larger than its spread (convolution
 * outputs). Every rank must run the same layers in the same order: each
 * forward and each backward of a layer is a collective.
 */
import { BatchNorm2d, type BatchStatistics } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { full } from '../tensor/create.js';
import { cat } from '../tensor/ops.js';
import type { BatchNormOptions } from '../tensor/ops.js';
import { noGrad } from '../tensor/runtime.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ProcessGroup } from './group.js';

/** Makes every BatchNorm2d in `net` take its training statistics over all ranks of `group` (torch's convert_sync_batchnorm). */
export function convertSyncBatchNorm(net: Module, group: ProcessGroup): void {
  const statistics = new SyncBatchStatistics(group);
  const visit = (module: Module): void => {
    if (module instanceof BatchNorm2d) module.batchStatistics = statistics;
    for (const [, child] of module.namedChildren()) visit(child);
  };
  visit(net);
}

class SyncBatchStatistics implements BatchStatistics {
  constructor(private readonly group: ProcessGroup) {}

  normalize(input: Tensor, o: BatchNormOptions & { runningMean: Tensor; runningVar: Tensor }): Tensor {
    const c = input.shape[1];
    // under autocast the input is bfloat16/float16: statistics and output in float32, as batch norm's own kernel
    const x = input.dtype === 'float32' || input.dtype === 'float64' ? input : input.to('float32');
    const reduced = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const local = cat([full([1], x.numel / c, { device: x.device, dtype: x.dtype }), x.sum(reduced), x.mul(x).sum(reduced)]);
    const total = this.group.sumOverRanks(local.to('float64'));
    const count = total.slice(0, 0, 1);
    const mean = total.slice(0, 1, 1 + c).div(count);
    const variance = total.slice(0, 1 + c, 1 + 2 * c).div(count).sub(mean.mul(mean));
    const invstd = variance.add(o.eps ?? 1e-5).rsqrt();
    const scale = o.weight ? invstd.mul(o.weight.to('float64')) : invstd;
    const shift = o.bias ? o.bias.to('float64').sub(mean.mul(scale)) : mean.mul(scale).neg();
    const momentum = o.momentum ?? 0.1;
    noGrad(() => {
      // as torch: the running variance is the unbiased one (computed on the device: no host sync per layer)
      const unbiased = variance.mul(count).div(count.sub(1));
      o.runningMean.mul_(1 - momentum).add_(mean.to(o.runningMean.dtype), momentum);
      o.runningVar.mul_(1 - momentum).add_(unbiased.to(o.runningVar.dtype), momentum);
    });
    const perChannel = [1, c, ...x.shape.slice(2).map(() => 1)];
    return x.mul(scale.to(x.dtype).reshape(perChannel)).add(shift.to(x.dtype).reshape(perChannel));
  }
}
