/** The layers a U-Net is made of, with PyTorch's parameter names and default initialisation. */
import { zeros, ones, empty } from '../tensor/create.js';
import { noGrad } from '../tensor/runtime.js';
import * as F from '../tensor/ops.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

/**
 * PyTorch's default for conv weights and biases: kaiming_uniform(a=sqrt(5)),
 * which is U(-1/sqrt(fanIn), 1/sqrt(fanIn)), with fanIn = weight.size(1) * kH * kW.
 */
function initConv(weight: Tensor, bias: Tensor | null): void {
  const [, c, kh, kw] = weight.shape;
  const bound = 1 / Math.sqrt(c * kh * kw);
  noGrad(() => {
    weight.uniform_(-bound, bound);
    bias?.uniform_(-bound, bound);
  });
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** 2-D convolution: [N, inChannels, H, W] -> [N, outChannels, H', W']. Parameters: weight, bias. */
export class Conv2d extends Module {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = pair(kernelSize);
    const groups = options.groups ?? 1;
    const weight = this.registerParameter('weight', empty([outChannels, inChannels / groups, kh, kw]));
    const bias = options.bias === false ? null : this.registerParameter('bias', empty([outChannels]));
    initConv(weight, bias);
  }
  get weight(): Tensor {
    return this.parameter('weight');
  }
  get bias(): Tensor | null {
    return this.hasParameter('bias') ? this.parameter('bias') : null;
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this.options);
  }
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}

/** Transposed 2-D convolution (learned upsampling). Weight is [in, out/groups, kH, kW] as in PyTorch. */
export class ConvTranspose2d extends Module {
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: ConvTranspose2dOptions = {},
  ) {
    super();
    const [kh, kw] = pair(kernelSize);
    const groups = options.groups ?? 1;
    const weight = this.registerParameter('weight', empty([inChannels, outChannels / groups, kh, kw]));
    const bias = options.bias === false ? null : this.registerParameter('bias', empty([outChannels]));
    initConv(weight, bias);
  }
  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.parameter('weight'), this.hasParameter('bias') ? this.parameter('bias') : null, this.options);
  }
}

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
}

/**
 * Batch normalisation over channels of [N, C, H, W]. Parameters weight, bias;
 * buffers running_mean, running_var, num_batches_tracked (PyTorch's names).
 */
export class BatchNorm2d extends Module {
  /**
   * Training statistics over more than this process's batch (SyncBatchNorm,
   * src/parallel/sync-batch-norm.ts); null: over this batch, as torch.nn.BatchNorm2d.
   */
  batchStatistics: BatchStatistics | null = null;

  constructor(readonly numFeatures: number, readonly options: BatchNorm2dOptions = {}) {
    super();
    if (options.affine !== false) {
      this.registerParameter('weight', ones([numFeatures]));
      this.registerParameter('bias', zeros([numFeatures]));
    }
    this.registerBuffer('running_mean', zeros([numFeatures]));
    this.registerBuffer('running_var', ones([numFeatures]));
    this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (this.training) noGrad(() => this.buffer('num_batches_tracked').add_(1));
    const affine = this.options.affine !== false;
    const options = {
      weight: affine ? this.parameter('weight') : null,
      bias: affine ? this.parameter('bias') : null,
      runningMean: this.buffer('running_mean'),
      runningVar: this.buffer('running_var'),
      training: this.training,
      momentum: this.options.momentum ?? 0.1,
      eps: this.options.eps ?? 1e-5,
    };
    return this.training && this.batchStatistics ? this.batchStatistics.normalize(x, options) : F.batchNorm(x, options);
  }
}

/** Batch norm in training mode with statistics gathered elsewhere (over every rank's batch). */
export interface BatchStatistics {
  normalize(x: Tensor, options: F.BatchNormOptions & { runningMean: Tensor; runningVar: Tensor }): Tensor;
}

/** Dropout with probability p in training mode; identity in evaluation mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** Element-wise max(0, x). */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** 2x2 (or k x k) max pooling. */
export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: F.MaxPool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.options);
  }
}
