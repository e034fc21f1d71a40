/**
 * The U-Net (Ronneberger et al. 2015) with the options of the original patho.
 * Block and parameter names follow milesial/Pytorch-UNet, so a PyTorch module
 * built the same way (tools/make_fixtures.py has one) shares its state_dict keys:
 *   inc.double_conv.{0,1,3,4}.*, down{i}.maxpool_conv.1.double_conv.*,
 *   up{i}.up[.1].*, up{i}.conv.double_conv.*, outc.conv.*
 */
import { BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, MaxPool2d, ReLU } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Sequential, type Layer } from '../nn/containers.js';
import * as F from '../tensor/ops.js';
import { Tensor } from '../tensor/tensor.js';
import type { ProcessGroup } from '../parallel/group.js';
import { makeParallel, type MakeParallelOptions } from '../parallel/make.js';
import { UNET_LIMITS } from './limits.js';

export { UNET_LIMITS } from './limits.js';

export interface UNetOptions {
  /** Image channels: 1 for EM, 3 for H&E. Default 1. */
  inChannels?: number;
  /** 1 = one sigmoid logit per pixel (binary mask); 2+ = softmax over classes. Default 1. */
  classes?: number;
  /** Number of poolings. Default 4. */
  depth?: number;
  /** Channels of the first block; doubled at every level. Default 64. */
  baseChannels?: number;
  /** Batch norm after every 3x3 conv. Default true. */
  batchNorm?: boolean;
  /** 'bilinear' (upsample, then a 3x3 conv halving channels; the original patho) or 'transpose' (2x2 stride-2). */
  upsample?: 'bilinear' | 'transpose';
  /** 'same' (padded convs) or 'valid' (unpadded, skips center-cropped, as the 2015 paper). Default 'same'. */
  padding?: 'same' | 'valid';
  /** Dropout probability at the end of the contracting path (0 = none). */
  dropout?: number;
}

/** (convolution => [BN] => ReLU) * 2 */
export class DoubleConv extends Module {
  readonly double_conv: Sequential;
  constructor(inChannels: number, outChannels: number, batchNorm: boolean, padding: number) {
    super();
    const block = (cin: number): Layer[] => [
      new Conv2d(cin, outChannels, 3, { padding, bias: !batchNorm }),
      ...(batchNorm ? [new BatchNorm2d(outChannels)] : []),
      new ReLU(),
    ];
    this.double_conv = this.registerModule('double_conv', new Sequential(...block(inChannels), ...block(outChannels)));
  }
  forward(x: Tensor): Tensor {
    return this.double_conv.forward(x);
  }
}

/** 2x2 max pooling, then a double conv. */
export class Down extends Module {
  readonly maxpool_conv: Sequential;
  constructor(inChannels: number, outChannels: number, batchNorm: boolean, padding: number) {
    super();
    this.maxpool_conv = this.registerModule(
      'maxpool_conv',
      new Sequential(new MaxPool2d(2), new DoubleConv(inChannels, outChannels, batchNorm, padding)),
    );
  }
  forward(x: Tensor): Tensor {
    return this.maxpool_conv.forward(x);
  }
}

/** Bilinear x2 as F.interpolate(scale_factor=2, align_corners=True), the original patho's choice. */
class Upsample2x extends Module {
  forward(x: Tensor): Tensor {
    return F.interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: true });
  }
}

/** Upsampling (halving channels), concatenation with the skip connection, double conv. */
export class Up extends Module {
  readonly up: Layer;
  readonly conv: DoubleConv;
  constructor(inChannels: number, outChannels: number, options: Required<UNetOptions>) {
    super();
    const half = inChannels / 2;
    this.up = this.registerModule(
      'up',
      options.upsample === 'transpose'
        ? new ConvTranspose2d(inChannels, half, 2, { stride: 2 })
        : new Sequential(new Upsample2x(), new Conv2d(inChannels, half, 3, { padding: 1 })),
    );
    this.conv = this.registerModule('conv', new DoubleConv(inChannels, outChannels, options.batchNorm, options.padding === 'same' ? 1 : 0));
  }
  /** below [N, 2C, h, w], skip [N, C, H, W] -> [N, C_out, ...] */
  forward(below: Tensor, skip: Tensor): Tensor {
    const up = this.up.forward(below);
    const [h, w] = [up.shape[2], up.shape[3]];
    const fitted = skip.shape[2] === h && skip.shape[3] === w ? skip : F.centerCrop(skip, h, w);
    const joined = F.cat([fitted, up], 1);
    if (fitted !== skip) fitted.dispose();
    up.dispose();
    const out = this.conv.forward(joined);
    joined.dispose();
    return out;
  }
}

/** 1x1 convolution to class logits. */
export class OutConv extends Module {
  readonly conv: Conv2d;
  constructor(inChannels: number, classes: number) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(inChannels, classes, 1));
  }
  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

export const DEFAULT_UNET_OPTIONS: Required<UNetOptions> = {
  inChannels: 1,
  classes: 1,
  depth: 4,
  baseChannels: 64,
  batchNorm: true,
  upsample: 'bilinear',
  padding: 'same',
  dropout: 0,
};

/**
 * The options with their defaults filled in, checked before any layer is
 * built; throws, naming the option, unless they describe a U-Net within UNET_LIMITS.
 */
export function checkUNetOptions(options: UNetOptions): Required<UNetOptions> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(`UNet: options must be an object, got ${JSON.stringify(options)}`);
  }
  const o = { ...DEFAULT_UNET_OPTIONS, ...options };
  for (const [key, value] of Object.entries({ inChannels: o.inChannels, classes: o.classes, depth: o.depth, baseChannels: o.baseChannels })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`UNet: ${key} must be a positive integer, got ${value}`);
  }
  for (const key of ['depth', 'inChannels', 'classes'] as const) {
    if (o[key] > UNET_LIMITS[key]) throw new Error(`UNet: ${key} must be at most ${UNET_LIMITS[key]}, got ${o[key]}`);
  }
  const widest = o.baseChannels * 2 ** o.depth;
  if (widest > UNET_LIMITS.widestChannels) {
    throw new Error(
      `UNet: the widest level (baseChannels * 2^depth = ${o.baseChannels} * 2^${o.depth} = ${widest} channels) must be at most ${UNET_LIMITS.widestChannels}`,
    );
  }
  if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`UNet: dropout must be in [0, 1), got ${o.dropout}`);
  if (o.upsample !== 'bilinear' && o.upsample !== 'transpose') throw new Error(`UNet: upsample must be bilinear or transpose, got ${o.upsample}`);
  if (o.padding !== 'same' && o.padding !== 'valid') throw new Error(`UNet: padding must be same or valid, got ${o.padding}`);
  return o;
}

/**
 * U-Net: images [N, inChannels, H, W] -> logits [N, classes, H, W], for any H, W:
 * the input is padded by reflection to a size the network takes and the output
 * cropped back, so every output pixel lines up with its input pixel.
 */
export class UNet extends Module {
  readonly options: Required<UNetOptions>;
  readonly inc: DoubleConv;
  readonly downs: Down[] = [];
  readonly ups: Up[] = [];
  readonly outc: OutConv;
  private readonly dropoutLayer: Dropout | null;

  constructor(options: UNetOptions = {}) {
    super();
    const o = (this.options = checkUNetOptions(options));
    const pad = o.padding === 'same' ? 1 : 0;
    const width = (level: number) => o.baseChannels * 2 ** level;
    this.inc = this.registerModule('inc', new DoubleConv(o.inChannels, width(0), o.batchNorm, pad));
    for (let i = 1; i <= o.depth; i++) {
      this.downs.push(this.registerModule(`down${i}`, new Down(width(i - 1), width(i), o.batchNorm, pad)));
    }
    for (let i = 1; i <= o.depth; i++) {
      this.ups.push(this.registerModule(`up${i}`, new Up(width(o.depth - i + 1), width(o.depth - i), o)));
    }
    this.outc = this.registerModule('outc', new OutConv(width(0), o.classes));
    this.dropoutLayer = o.dropout > 0 ? new Dropout(o.dropout) : null;
  }

  /** The data-parallel job this network trains in (set by makeParallel), or null. */
  group: ProcessGroup | null = null;

  /**
   * The original patho's make_parallel(): joins the job this process belongs to
   * (started by torchrun, SLURM or `patho train --devices`), so a Model over this
   * network trains data-parallel, one process per device. Alone, it changes nothing.
   */
  makeParallel(options: MakeParallelOptions = {}): this {
    this.group = makeParallel(options);
    return this;
  }

  /** images [N, C, H, W] -> logits [N, classes, H, W] */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.options.inChannels) {
      throw new Error(`UNet: expected input [N, ${this.options.inChannels}, H, W], got [${x.shape}]`);
    }
    const [height, width] = [x.shape[2], x.shape[3]];
    const { input, top, left } = padUNetInput(this.options, x);
    const skips: Tensor[] = [this.inc.forward(input)];
    if (input !== x) input.dispose();
    for (const down of this.downs) skips.push(down.forward(skips[skips.length - 1]));
    let current = skips.pop()!;
    if (this.dropoutLayer) {
      this.dropoutLayer.training = this.training;
      const dropped = this.dropoutLayer.forward(current);
      current.dispose();
      current = dropped;
    }
    for (const up of this.ups) {
      const skip = skips.pop()!;
      const next = up.forward(current, skip);
      current.dispose();
      skip.dispose();
      current = next;
    }
    const logits = this.outc.forward(current);
    current.dispose();
    if (logits.shape[2] === height && logits.shape[3] === width && top === 0 && left === 0) return logits;
    const rows = logits.slice(2, top, top + height);
    const out = rows.slice(3, left, left + width);
    logits.dispose();
    rows.dispose();
    return out;
  }

  /** Probabilities: sigmoid of the logit for one class, softmax over classes otherwise. */
  probabilities(logits: Tensor): Tensor {
    return this.options.classes === 1 ? logits.sigmoid() : F.softmax(logits, 1);
  }

  /**
   * The input size the network is run on for an H x W image, and where the
   * image sits in it (the output is cropped at the same offset).
   */
  plannedInput(height: number, width: number): { height: number; width: number; top: number; left: number } {
    return plannedUNetInput(this.options, height, width);
  }
}

/** `UNet.plannedInput` from the options alone, for `padUNetInput`. */
function plannedUNetInput(options: Pick<Required<UNetOptions>, 'depth' | 'padding'>, height: number, width: number): { height: number; width: number; top: number; left: number } {
  const [h, top] = planAxis(options, height);
  const [w, left] = planAxis(options, width);
  return { height: h, width: w, top, left };
}

function planAxis({ depth, padding }: Pick<Required<UNetOptions>, 'depth' | 'padding'>, size: number): [number, number] {
  if (padding === 'same') {
    const multiple = 2 ** depth;
    const padded = Math.ceil(size / multiple) * multiple;
    return [padded, Math.floor((padded - size) / 2)];
  }
  // 'valid': find the smallest bottleneck size whose output covers `size`.
  for (let bottom = 1; ; bottom++) {
    let out = bottom;
    let input = bottom + 4;
    for (let l = 0; l < depth; l++) {
      out = 2 * out - 4;
      input = 2 * input + 4;
    }
    if (out >= size) {
      const margin = (input - out) / 2;
      return [input, margin];
    }
  }
}

/**
 * Pads [N, C, H, W] by reflection to the planned input (or returns it as it is)
 * and says where to crop the output; the inference network (no UNet) shares it.
 */
export function padUNetInput(options: Pick<Required<UNetOptions>, 'depth' | 'padding'>, x: Tensor): { input: Tensor; top: number; left: number } {
  const [h, w] = [x.shape[2], x.shape[3]];
  const plan = plannedUNetInput(options, h, w);
  if (plan.height === h && plan.width === w) return { input: x, top: 0, left: 0 };
  const pads = [plan.left, plan.width - w - plan.left, plan.top, plan.height - h - plan.top];
  // 'valid' crops its output where the image starts: the margin it loses was padding.
  const cropTop = options.padding === 'same' ? plan.top : 0;
  const cropLeft = options.padding === 'same' ? plan.left : 0;
  const reflectable = pads[0] < w && pads[1] < w && pads[2] < h && pads[3] < h;
  return { input: F.pad(x, pads, reflectable ? 'reflect' : 'replicate'), top: cropTop, left: cropLeft };
}

/** The original patho's name for the network. */
export const UNET = UNet;
