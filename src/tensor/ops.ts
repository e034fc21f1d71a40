/**
 * Neural-network ops, with shapes checked in TypeScript before the native call
 * so a mistake is reported with the shapes involved.
 */
import { native, type Handle } from './native.js';
import { Tensor, withShapes } from './tensor.js';

type Pair = number | [number, number];
export type Reduction = 'mean' | 'sum' | 'none';

const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

function call(op: string, operands: (Tensor | null | undefined)[], fn: () => Handle): Tensor {
  try {
    return new Tensor(fn());
  } catch (e) {
    throw withShapes(e, op, operands);
  }
}

function expectRank(op: string, name: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) throw new Error(`${op}: ${name} must be ${rank}-D ${layout}, got shape [${t.shape}]`);
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** x [N, Cin, H, W] * weight [Cout, Cin/groups, kH, kW] (+ bias [Cout]) -> [N, Cout, H', W'] */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  expectRank('conv2d', 'input', x, 4, '[N, C, H, W]');
  expectRank('conv2d', 'weight', weight, 4, '[Cout, Cin/groups, kH, kW]');
  const groups = options.groups ?? 1;
  if (x.shape[1] !== weight.shape[1] * groups) {
    throw new Error(`conv2d: input has ${x.shape[1]} channels but weight [${weight.shape}] expects ${weight.shape[1] * groups}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`conv2d: bias [${bias.shape}] does not match ${weight.shape[0]} output channels`);
  }
  return call('conv2d', [x, weight, bias], () =>
    native.conv2d(x.handle, weight.handle, bias?.handle ?? null, pair(options.stride ?? 1), pair(options.padding ?? 0),
      pair(options.dilation ?? 1), groups),
  );
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: Pair;
}

/** x [N, Cin, H, W] with weight [Cin, Cout/groups, kH, kW] -> [N, Cout, H', W'] */
export function convTranspose2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTranspose2dOptions = {}): Tensor {
  expectRank('convTranspose2d', 'input', x, 4, '[N, C, H, W]');
  expectRank('convTranspose2d', 'weight', weight, 4, '[Cin, Cout/groups, kH, kW]');
  if (x.shape[1] !== weight.shape[0]) {
    throw new Error(`convTranspose2d: input has ${x.shape[1]} channels but weight [${weight.shape}] expects ${weight.shape[0]}`);
  }
  return call('convTranspose2d', [x, weight, bias], () =>
    native.convTranspose2d(x.handle, weight.handle, bias?.handle ?? null, pair(options.stride ?? 1),
      pair(options.padding ?? 0), pair(options.outputPadding ?? 0), options.groups ?? 1, pair(options.dilation ?? 1)),
  );
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Batch statistics (and running-statistics update) when true. */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/** Batch normalisation over [N, C, ...]; in training the running statistics are updated in place. */
export function batchNorm(x: Tensor, options: BatchNormOptions): Tensor {
  if (x.rank < 2) throw new Error(`batchNorm: input must be [N, C, ...], got shape [${x.shape}]`);
  const c = x.shape[1];
  for (const [name, t] of Object.entries({ weight: options.weight, bias: options.bias, runningMean: options.runningMean, runningVar: options.runningVar })) {
    if (t && (t.rank !== 1 || t.shape[0] !== c)) throw new Error(`batchNorm: ${name} [${t.shape}] does not match ${c} channels of input [${x.shape}]`);
  }
  if (!options.training && (!options.runningMean || !options.runningVar)) {
    throw new Error('batchNorm: inference mode needs runningMean and runningVar');
  }
  return call('batchNorm', [x], () =>
    native.batchNorm(x.handle, options.weight?.handle ?? null, options.bias?.handle ?? null,
      options.runningMean?.handle ?? null, options.runningVar?.handle ?? null, options.training,
      options.momentum ?? 0.1, options.eps ?? 1e-5),
  );
}

export interface MaxPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

/** [N, C, H, W] -> [N, C, H', W'] */
export function maxPool2d(x: Tensor, kernel: Pair, options: MaxPool2dOptions = {}): Tensor {
  expectRank('maxPool2d', 'input', x, 4, '[N, C, H, W]');
  const k = pair(kernel);
  return call('maxPool2d', [x], () =>
    native.maxPool2d(x.handle, k, pair(options.stride ?? k), pair(options.padding ?? 0), pair(options.dilation ?? 1),
      options.ceilMode ?? false),
  );
}

export interface InterpolateOptions {
  size?: [number, number];
  scaleFactor?: number;
  mode?: 'bilinear' | 'nearest';
  alignCorners?: boolean;
}

/** Resizes [N, C, H, W] to `size` or by `scaleFactor` (bilinear or nearest), as F.interpolate. */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  expectRank('interpolate', 'input', x, 4, '[N, C, H, W]');
  const scale = options.size ? null : options.scaleFactor ?? null;
  const size = options.size ?? (scale !== null
    ? [Math.floor(x.shape[2] * scale), Math.floor(x.shape[3] * scale)] as [number, number]
    : undefined);
  if (!size) throw new Error('interpolate: give size or scaleFactor');
  if ((options.mode ?? 'bilinear') === 'nearest') {
    return call('interpolate', [x], () => native.upsampleNearest2d(x.handle, size, scale, scale));
  }
  return call('interpolate', [x], () => native.upsampleBilinear2d(x.handle, size, options.alignCorners ?? false, scale, scale));
}

/** Concatenates along `dim`; all other dimensions must agree. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: no tensors given');
  const d = tensors[0].dim('cat', dim);
  const ref = tensors[0].shape;
  for (const t of tensors) {
    if (t.rank !== ref.length || t.shape.some((s, i) => i !== d && s !== ref[i])) {
      throw new Error(`cat: shapes ${tensors.map((x) => `[${x.shape}]`).join(', ')} differ outside dimension ${dim}`);
    }
  }
  return call('cat', tensors, () => native.cat(tensors.map((t) => t.handle), d));
}

export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: no tensors given');
  return call('stack', tensors, () => native.stack(tensors.map((t) => t.handle), dim));
}

/**
 * Pads the last dimensions: `pads` = [left, right, top, bottom, ...] as F.pad;
 * negative values crop. Reflect/replicate pad the two spatial dims of 4-D input.
 */
export function pad(x: Tensor, pads: number[], mode: 'constant' | 'reflect' | 'replicate' = 'constant', value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.rank) throw new Error(`pad: ${pads.length} pad values do not fit shape [${x.shape}]`);
  if (mode === 'reflect') {
    const [l, r, t, b] = pads;
    if (l >= x.shape[x.rank - 1] || r >= x.shape[x.rank - 1] || t >= x.shape[x.rank - 2] || b >= x.shape[x.rank - 2]) {
      throw new Error(`pad: reflect padding [${pads}] must be smaller than the input [${x.shape}]`);
    }
  }
  return call('pad', [x], () => native.pad(x.handle, pads, mode, value));
}

/** Crops [.., H, W] to [.., height, width] around the centre (U-Net 'valid' skips). */
export function centerCrop(x: Tensor, height: number, width: number): Tensor {
  const h = x.shape[x.rank - 2];
  const w = x.shape[x.rank - 1];
  if (height > h || width > w) throw new Error(`centerCrop: cannot crop [${x.shape}] to ${height}x${width}`);
  const top = Math.floor((h - height) / 2);
  const left = Math.floor((w - width) / 2);
  const rows = x.slice(-2, top, top + height);
  const out = rows.slice(-1, left, left + width);
  rows.dispose();
  return out;
}

export const softmax = (x: Tensor, dim: number): Tensor => call('softmax', [x], () => native.softmax(x.handle, x.dim('softmax', dim)));
export const logSoftmax = (x: Tensor, dim: number): Tensor =>
  call('logSoftmax', [x], () => native.logSoftmax(x.handle, x.dim('logSoftmax', dim)));
export const relu = (x: Tensor): Tensor => x.relu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();

/** Zeroes elements with probability p while `training`, scaling the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  return call('dropout', [x], () => native.dropout(x.handle, p, training));
}

/** where(condition, a, b): a where condition is true, else b (broadcasting). */
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const h = (v: Tensor | number) => (typeof v === 'number' ? v : v.handle);
  return call('where', [condition, a as Tensor, b as Tensor], () => native.where(condition.handle, h(a), h(b)));
}

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new Error(`${op}: input [${a.shape}] and target [${b.shape}] must have the same shape`);
  }
}

/** Binary cross-entropy on probabilities in [0, 1] (torch's BCELoss). */
export function binaryCrossEntropy(p: Tensor, target: Tensor, options: { weight?: Tensor; reduction?: Reduction } = {}): Tensor {
  sameShape('binaryCrossEntropy', p, target);
  return call('binaryCrossEntropy', [p, target], () =>
    native.binaryCrossEntropy(p.handle, target.handle, options.weight?.handle ?? null, options.reduction ?? 'mean'));
}

/** Binary cross-entropy on logits, numerically stable (torch's BCEWithLogitsLoss). */
export function binaryCrossEntropyWithLogits(
  logits: Tensor,
  target: Tensor,
  options: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  sameShape('binaryCrossEntropyWithLogits', logits, target);
  return call('binaryCrossEntropyWithLogits', [logits, target], () =>
    native.binaryCrossEntropyWithLogits(logits.handle, target.handle, options.weight?.handle ?? null,
      options.posWeight?.handle ?? null, options.reduction ?? 'mean'));
}

export interface ClassLossOptions {
  weight?: Tensor;
  reduction?: Reduction;
  ignoreIndex?: number;
}

function checkClassTarget(op: string, input: Tensor, target: Tensor): void {
  if (target.dtype !== 'int64') throw new Error(`${op}: target must be int64 class indices, got ${target.dtype}`);
  if (input.rank !== target.rank + 1 || input.shape[0] !== target.shape[0] || input.shape.slice(2).some((s, i) => s !== target.shape[i + 1])) {
    throw new Error(`${op}: input [${input.shape}] ([N, C, ...]) and target [${target.shape}] ([N, ...]) do not match`);
  }
}

/** Negative log-likelihood of log-probabilities [N, C, ...] against class indices [N, ...]. */
export function nllLoss(logProbabilities: Tensor, target: Tensor, options: ClassLossOptions = {}): Tensor {
  checkClassTarget('nllLoss', logProbabilities, target);
  return call('nllLoss', [logProbabilities, target], () =>
    native.nllLoss(logProbabilities.handle, target.handle, options.weight?.handle ?? null, options.reduction ?? 'mean',
      options.ignoreIndex ?? -100));
}

/** Cross-entropy of logits [N, C, ...] against class indices [N, ...]. */
export function crossEntropy(logits: Tensor, target: Tensor, options: ClassLossOptions & { labelSmoothing?: number } = {}): Tensor {
  checkClassTarget('crossEntropy', logits, target);
  return call('crossEntropy', [logits, target], () =>
    native.crossEntropy(logits.handle, target.handle, options.weight?.handle ?? null, options.reduction ?? 'mean',
      options.ignoreIndex ?? -100, options.labelSmoothing ?? 0));
}
