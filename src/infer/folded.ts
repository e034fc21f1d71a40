/**
 * The inference network: a trained U-Net rebuilt for prediction only. Each
 * batch norm is folded into the convolution before it (in eval mode BN is an
 * affine map per channel, so conv + BN is one conv with scaled weights and a
 * shifted bias), the weights are stored once in the layout and precision the
 * forward pass runs in (channels-last, bfloat16 where chosen), nothing records
 * autograd, and every intermediate is freed as soon as the next layer has read
 * it, so peak memory is the widest layer plus the skips waiting for the decoder.
 * The ONNX exporter writes the same folded layers.
 */
import { padUNetInput, type DoubleConv, type UNet, type UNetOptions } from '../models/unet.js';
import { Sequential } from '../nn/containers.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import * as F from '../tensor/ops.js';
import { zeros } from '../tensor/create.js';
import { noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { MemoryFormat, Tensor } from '../tensor/tensor.js';
import type { InferenceNet } from './tiled.js';

/** A convolution with its batch norm folded in: weight [Cout, Cin, k, k] (transposed: [Cin, Cout, k, k]), bias [Cout]. */
export interface FoldedConv {
  weight: Tensor;
  bias: Tensor;
  /** Zero padding on each side (3x3 convs of 'same' U-Nets: 1). */
  padding: number;
  /** A 2x2 stride-2 transposed convolution (the 'transpose' upsampling). */
  transposed?: boolean;
}

/** The folded layers of a U-Net, level by level; every conv of a double conv is followed by ReLU. */
export interface FoldedLayers {
  inc: [FoldedConv, FoldedConv];
  downs: [FoldedConv, FoldedConv][];
  /** `up`: the conv after bilinear x2 upsampling, or the transposed conv; `conv`: the double conv after the skip concatenation. */
  ups: { up: FoldedConv; conv: [FoldedConv, FoldedConv] }[];
  outc: FoldedConv;
}

export interface FoldOptions {
  /** Precision of weights and activations. Default float32. */
  dtype?: 'float32' | 'bfloat16';
  /** Memory layout of weights and activations. Default channelsLast. */
  memoryFormat?: MemoryFormat;
}

/** Folds one conv (and the batch norm after it, if any) in float64, then stores it as `dtype`/`format`. */
function foldConv(conv: Conv2d | ConvTranspose2d, bn: BatchNorm2d | null, padding: number, o: Required<FoldOptions>): FoldedConv {
  const transposed = conv instanceof ConvTranspose2d;
  const c = conv.stateDict();
  const n = bn ? bn.stateDict() : null;
  return tidy(() => {
    let w = c.get('weight')!.to('float64');
    const outChannels = transposed ? w.shape[1] : w.shape[0];
    let b = c.get('bias')?.to('float64') ?? zeros([outChannels], { dtype: 'float64', device: w.device });
    if (bn && n) {
      // y = (conv(x) + b - mean) * gamma / sqrt(var + eps) + beta
      let scale = n.get('running_var')!.to('float64').add(bn.options.eps ?? 1e-5).rsqrt();
      const gamma = n.get('weight');
      const beta = n.get('bias');
      if (gamma) scale = scale.mul(gamma.to('float64'));
      w = w.mul(scale.reshape(transposed ? [1, outChannels, 1, 1] : [outChannels, 1, 1, 1]));
      b = b.sub(n.get('running_mean')!.to('float64')).mul(scale);
      if (beta) b = b.add(beta.to('float64'));
    }
    const folded: FoldedConv = { weight: w.to(o.dtype).contiguous(o.memoryFormat), bias: b.to(o.dtype), padding };
    return transposed ? { ...folded, transposed } : folded;
  });
}

/** The two folded convs of a DoubleConv: [conv, (bn), relu, conv, (bn), relu]. */
function foldDoubleConv(block: Sequential, padding: number, o: Required<FoldOptions>): [FoldedConv, FoldedConv] {
  const layers = block.layers as Module[];
  const folded: FoldedConv[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (!(layer instanceof Conv2d)) continue;
    const next = layers[i + 1];
    folded.push(foldConv(layer, next instanceof BatchNorm2d ? next : null, padding, o));
  }
  if (folded.length !== 2) throw new Error(`foldUNet: expected two convs in a double conv, found ${folded.length}`);
  return folded as [FoldedConv, FoldedConv];
}

/** Folds the batch norms of a (trained) U-Net into its convs; the U-Net itself is left as it was. */
export function foldUNet(net: UNet, options: FoldOptions = {}): FoldedLayers {
  const o: Required<FoldOptions> = { dtype: options.dtype ?? 'float32', memoryFormat: options.memoryFormat ?? 'channelsLast' };
  const padding = net.options.padding === 'same' ? 1 : 0;
  return noGrad(() => ({
    inc: foldDoubleConv(net.inc.double_conv, padding, o),
    downs: net.downs.map((down) => foldDoubleConv((down.maxpool_conv.layers[1] as unknown as DoubleConv).double_conv, padding, o)),
    ups: net.ups.map((up) => {
      const upLayer = up.up instanceof Sequential ? (up.up.layers[1] as Conv2d) : (up.up as ConvTranspose2d);
      return {
        up: foldConv(upLayer, null, up.up instanceof Sequential ? 1 : 0, o),
        conv: foldDoubleConv(up.conv.double_conv, padding, o),
      };
    }),
    outc: foldConv(net.outc.conv, null, 0, o),
  }));
}

/** Every tensor of the folded layers. */
function foldedTensors(layers: FoldedLayers): Tensor[] {
  const convs = [...layers.inc, ...layers.downs.flat(), ...layers.ups.flatMap((u) => [u.up, ...u.conv]), layers.outc];
  return convs.flatMap((c) => [c.weight, c.bias]);
}

/** Consumes `x` (disposes it) and returns the result of `fn(x)`. */
function consume(x: Tensor, fn: (x: Tensor) => Tensor): Tensor {
  const y = fn(x);
  if (y !== x) x.dispose();
  return y;
}

function applyConv(x: Tensor, c: FoldedConv): Tensor {
  return c.transposed
    ? F.convTranspose2d(x, c.weight, c.bias, { stride: 2 })
    : F.conv2d(x, c.weight, c.bias, { padding: c.padding });
}

/** conv, relu, conv, relu; consumes `x`. */
function doubleConv(x: Tensor, [a, b]: [FoldedConv, FoldedConv]): Tensor {
  let y = consume(x, (t) => applyConv(t, a));
  y = consume(y, (t) => t.relu());
  y = consume(y, (t) => applyConv(t, b));
  return consume(y, (t) => t.relu());
}

/**
 * A U-Net for prediction: `forward` takes normalised images [N, C, H, W] in
 * float32 (any H, W, padded as the U-Net pads them) and returns float32
 * logits [N, classes, H, W]; `probabilities` is the U-Net's.
 */
export class FoldedUNet implements InferenceNet {
  readonly options: Required<UNetOptions>;
  readonly dtype: 'float32' | 'bfloat16';
  readonly memoryFormat: MemoryFormat;
  readonly layers: FoldedLayers;
  private disposed = false;

  constructor(net: UNet, options: FoldOptions = {}) {
    this.options = { ...net.options };
    this.dtype = options.dtype ?? 'float32';
    this.memoryFormat = options.memoryFormat ?? 'channelsLast';
    this.layers = foldUNet(net, { dtype: this.dtype, memoryFormat: this.memoryFormat });
  }

  /** images [N, C, H, W] (float32) -> logits [N, classes, H, W] (float32); `x` is left to the caller. */
  forward(x: Tensor): Tensor {
    if (this.disposed) throw new Error('FoldedUNet: used after dispose()');
    if (x.rank !== 4 || x.shape[1] !== this.options.inChannels) {
      throw new Error(`FoldedUNet: expected input [N, ${this.options.inChannels}, H, W], got [${x.shape}]`);
    }
    return noGrad(() => this.run(x));
  }

  private run(x: Tensor): Tensor {
    const [height, width] = [x.shape[2], x.shape[3]];
    const { input, top, left } = padUNetInput(this.options, x);
    // a new handle even where nothing changes, so `x` stays the caller's
    let current = tidy(() => input.to(this.dtype).contiguous(this.memoryFormat));
    if (input !== x) input.dispose();
    const skips: Tensor[] = [doubleConv(current, this.layers.inc)];
    for (const down of this.layers.downs) {
      const pooled = F.maxPool2d(skips[skips.length - 1], 2);
      skips.push(doubleConv(pooled, down));
    }
    current = skips.pop()!;
    for (const { up, conv } of this.layers.ups) {
      const skip = skips.pop()!;
      const upsampled = up.transposed
        ? consume(current, (t) => applyConv(t, up))
        : consume(consume(current, (t) => F.interpolate(t, { scaleFactor: 2, mode: 'bilinear', alignCorners: true })), (t) => applyConv(t, up));
      const [h, w] = [upsampled.shape[2], upsampled.shape[3]];
      const fitted = skip.shape[2] === h && skip.shape[3] === w ? skip : consume(skip, (t) => F.centerCrop(t, h, w));
      const joined = F.cat([fitted, upsampled], 1);
      fitted.dispose();
      upsampled.dispose();
      current = doubleConv(joined, conv);
    }
    let logits = consume(current, (t) => applyConv(t, this.layers.outc));
    logits = consume(logits, (t) => t.to('float32'));
    logits = consume(logits, (t) => t.contiguous());
    if (logits.shape[2] === height && logits.shape[3] === width && top === 0 && left === 0) return logits;
    return consume(logits, (t) => tidy(() => t.slice(2, top, top + height).slice(3, left, left + width).contiguous()));
  }

  probabilities(logits: Tensor): Tensor {
    return this.options.classes === 1 ? logits.sigmoid() : F.softmax(logits, 1);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of foldedTensors(this.layers)) t.dispose();
  }
}
