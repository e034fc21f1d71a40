/**
 * Sliding-window inference on libtorch: the tiling and blending of tiling.ts,
 * each batch of tiles run through the network here (with optional flip and
 * rotation averaging).
 */
import { blendTiles, type BlendOptions, type TiledStats, type TileSource, type TilingOptions } from './tiling.js';
import { tensor } from '../tensor/create.js';
import { mixedPrecision, noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import type { Device, DType, Tensor } from '../tensor/tensor.js';

export { axisWeights, blendWeights, tileCount, tileStarts } from './tiling.js';
export type { TiledStats, TileSource } from './tiling.js';

/** What inference needs of a network. */
export interface InferenceNet {
  forward(x: Tensor): Tensor;
  probabilities(logits: Tensor): Tensor;
  readonly options: { classes: number; inChannels: number };
}

export interface SlidingWindowOptions extends TilingOptions {
  /** Test-time augmentation: average over flips and 90-degree rotations. */
  tta?: boolean;
  device?: Device;
  amp?: DType | null;
}

export interface TiledOptions extends SlidingWindowOptions, BlendOptions {}

/**
 * Predicts `source` tile by tile and streams the blended probabilities to
 * `options.onRows`. Away from the blending near tile edges the result equals
 * a whole-image pass. Returns the most buffer bytes it held at once.
 */
export function predictTiled(net: InferenceNet, source: TileSource, options: TiledOptions): TiledStats {
  if (source.channels !== net.options.inChannels) {
    throw new Error(`the model expects ${net.options.inChannels}-channel images, this one has ${source.channels}`);
  }
  const steps = blendTiles(source, net.options.classes, options);
  let step = steps.next();
  while (!step.done) step = steps.next(runTiles(net, step.value.input, step.value.shape, options));
  return step.value;
}

/** Forward pass of a batch of tiles, with optional flip/rotation averaging; returns probabilities NCHW. */
function runTiles(net: InferenceNet, input: Float32Array, shape: [number, number, number, number], options: SlidingWindowOptions): Float32Array {
  const device = options.device ?? 'cpu';
  return noGrad(() =>
    tidy(() => {
      let x = tensor(input, shape);
      if (device !== 'cpu') x = x.to(device);
      const predict = (t: Tensor): Tensor => {
        return net.probabilities(mixedPrecision(device, options.amp, () => net.forward(t)));
      };
      if (!options.tta) return predict(x).toFloat32Array();
      // the 8 symmetries of the square (tiles are square), each undone on the prediction
      const views: [(t: Tensor) => Tensor, (t: Tensor) => Tensor][] = [
        [(t) => t, (t) => t],
        [(t) => t.flip([3]), (t) => t.flip([3])],
        [(t) => t.flip([2]), (t) => t.flip([2])],
        [(t) => t.flip([2, 3]), (t) => t.flip([2, 3])],
        [(t) => t.rot90(1, [2, 3]), (t) => t.rot90(3, [2, 3])],
        [(t) => t.rot90(3, [2, 3]), (t) => t.rot90(1, [2, 3])],
        [(t) => t.rot90(1, [2, 3]).flip([3]), (t) => t.flip([3]).rot90(3, [2, 3])],
        [(t) => t.rot90(1, [2, 3]).flip([2]), (t) => t.flip([2]).rot90(3, [2, 3])],
      ];
      let total: Tensor | null = null;
      for (const [forward, back] of views) {
        const p = back(predict(forward(x)));
        total = total ? total.add(p) : p;
      }
      return total!.div(views.length).toFloat32Array();
    }),
  );
}
