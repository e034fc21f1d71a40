/**
 * Sliding-window inference: an image of any size is cut into overlapping
 * tiles, tiles are run through the network in batches, and the predictions are
 * blended with a Gaussian weight (high at a tile's centre, where the network
 * saw the most context) so no seams show.
 */
import type { PlanarImage } from '../data/types.js';
import { tensor } from '../tensor/create.js';
import { noGrad, autocast } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor, type Device, type DType } from '../tensor/tensor.js';

/** What inference needs of a network. */
export interface InferenceNet {
  forward(x: Tensor): Tensor;
  probabilities(logits: Tensor): Tensor;
  readonly options: { classes: number; inChannels: number };
}

export interface SlidingWindowOptions {
  /** Tile edge in pixels. Default 512. */
  tile?: number;
  /** Fraction of a tile shared with its neighbour. Default 0.25. */
  overlap?: number;
  /** Tiles per forward pass. Default 4. */
  batchSize?: number;
  /** 'gaussian' (default), 'cosine' or 'constant' blending weights. */
  blend?: 'gaussian' | 'cosine' | 'constant';
  /** Test-time augmentation: average over flips and 90-degree rotations. */
  tta?: boolean;
  device?: Device;
  amp?: DType | null;
  /** Called after each batch with (tiles done, tiles in all). */
  onProgress?: (done: number, total: number) => void;
}

/** Probability maps [classes, H, W] (CHW) for a normalised planar image. */
export interface ProbabilityMap {
  width: number;
  height: number;
  classes: number;
  data: Float32Array;
}

/** Start offsets of tiles of `tile` pixels covering [0, size) with the given step; the last is flush with the end. */
export function tileStarts(size: number, tile: number, step: number): number[] {
  if (size <= tile) return [0];
  const starts: number[] = [];
  for (let s = 0; s + tile < size; s += step) starts.push(s);
  starts.push(size - tile);
  return starts;
}

/** The blending weight of a tile, h x w, row-major. */
export function blendWeights(h: number, w: number, kind: SlidingWindowOptions['blend'] = 'gaussian'): Float32Array {
  const axis = (n: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = (i + 0.5) / n; // (0, 1)
      if (kind === 'constant') out[i] = 1;
      else if (kind === 'cosine') out[i] = Math.sin(Math.PI * x) ** 2;
      else out[i] = Math.exp(-((x - 0.5) ** 2) / (2 * 0.125 ** 2)); // sigma = tile / 8, as nnU-Net
      out[i] = Math.max(out[i], 1e-3); // edges of the image are covered by one tile only
    }
    return out;
  };
  const rows = axis(h);
  const cols = axis(w);
  const weights = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) weights[y * w + x] = rows[y] * cols[x];
  return weights;
}

/** Predicts an image tile by tile; the result equals a whole-image pass up to the blending near tile edges. */
export function predictSliding(net: InferenceNet, image: PlanarImage, options: SlidingWindowOptions = {}): ProbabilityMap {
  const tile = options.tile ?? 512;
  const overlap = options.overlap ?? 0.25;
  if (!(overlap >= 0 && overlap < 1)) throw new Error(`overlap must be in [0, 1), got ${overlap}`);
  if (image.channels !== net.options.inChannels) {
    throw new Error(`the model expects ${net.options.inChannels}-channel images, this one has ${image.channels}`);
  }
  const th = Math.min(tile, image.height);
  const tw = Math.min(tile, image.width);
  const step = Math.max(1, Math.round(tile * (1 - overlap)));
  const ys = tileStarts(image.height, th, step);
  const xs = tileStarts(image.width, tw, step);
  const origins = ys.flatMap((y) => xs.map((x) => [y, x] as const));
  const classes = net.options.classes;
  const sum = new Float32Array(classes * image.height * image.width);
  const weightSum = new Float32Array(image.height * image.width);
  const weights = origins.length === 1 ? new Float32Array(th * tw).fill(1) : blendWeights(th, tw, options.blend);
  const batchSize = Math.max(1, options.batchSize ?? 4);
  const c = image.channels;
  const plane = image.height * image.width;
  for (let b = 0; b < origins.length; b += batchSize) {
    const batch = origins.slice(b, b + batchSize);
    const input = new Float32Array(batch.length * c * th * tw);
    batch.forEach(([y0, x0], i) => {
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < th; y++) {
          const from = ch * plane + (y0 + y) * image.width + x0;
          input.set(image.data.subarray(from, from + tw), ((i * c + ch) * th + y) * tw);
        }
      }
    });
    const probs = runTiles(net, input, [batch.length, c, th, tw], options);
    batch.forEach(([y0, x0], i) => {
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const w = weights[y * tw + x];
          const at = (y0 + y) * image.width + x0 + x;
          weightSum[at] += w;
          for (let k = 0; k < classes; k++) sum[k * plane + at] += w * probs[((i * classes + k) * th + y) * tw + x];
        }
      }
    });
    options.onProgress?.(Math.min(b + batchSize, origins.length), origins.length);
  }
  for (let k = 0; k < classes; k++) for (let i = 0; i < plane; i++) sum[k * plane + i] /= weightSum[i];
  return { width: image.width, height: image.height, classes, data: sum };
}

/** Forward pass of a batch of tiles, with optional flip/rotation averaging; returns probabilities NCHW. */
function runTiles(net: InferenceNet, input: Float32Array, shape: [number, number, number, number], options: SlidingWindowOptions): Float32Array {
  const device = options.device ?? 'cpu';
  return noGrad(() =>
    tidy(() => {
      let x = tensor(input, shape);
      if (device !== 'cpu') x = x.to(device);
      const predict = (t: Tensor): Tensor => {
        const run = () => net.forward(t);
        const logits = options.amp ? autocast(device.startsWith('cuda') ? 'cuda' : 'cpu', options.amp, run).to('float32') : run();
        return net.probabilities(logits);
      };
      if (!options.tta) return predict(x).toFloat32Array();
      // the 8 symmetries of the square when tiles are square, else the 4 flips
      const square = shape[2] === shape[3];
      const views: [(t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
        [(t) => t, (t) => t],
        [(t) => t.flip([3]), (t) => t.flip([3])],
        [(t) => t.flip([2]), (t) => t.flip([2])],
        [(t) => t.flip([2, 3]), (t) => t.flip([2, 3])],
      ];
      if (square) {
        for (const k of [1, 3]) views.push([(t) => t.rot90(k, [2, 3]), (t) => t.rot90(4 - k, [2, 3])]);
        views.push([(t) => t.rot90(1, [2, 3]).flip([3]), (t) => t.flip([3]).rot90(3, [2, 3])]);
        views.push([(t) => t.rot90(1, [2, 3]).flip([2]), (t) => t.flip([2]).rot90(3, [2, 3])]);
      }
      let total: Tensor | null = null;
      for (const [forward, back] of views) {
        const p = back(predict(forward(x)));
        total = total ? total.add(p) : p;
      }
      return total!.div(views.length).toFloat32Array();
    }),
  );
}
