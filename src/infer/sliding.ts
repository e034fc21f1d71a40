/**
 * Sliding-window inference of an image held in memory: an image of any size is
 * cut into overlapping tiles, tiles are run through the network in batches,
 * and the predictions are blended with a Gaussian weight (high at a tile's
 * centre, where the network saw the most context) so no seams show. The
 * streaming engine underneath (tiled.ts) is the one whole slides use.
 */
import type { PlanarImage } from '../data/types.js';
import type { ProbabilityMap } from './labels.js';
import { predictTiled, type InferenceNet, type SlidingWindowOptions, type TileSource } from './tiled.js';

export { axisWeights, blendWeights, predictTiled, tileCount, tileStarts } from './tiled.js';
export type { InferenceNet, SlidingWindowOptions, TiledOptions, TileSource } from './tiled.js';

export type { ProbabilityMap } from './labels.js';

/** A planar image in memory as a tile source. */
export function planarSource(image: PlanarImage): TileSource {
  const { width, height, channels, data } = image;
  return {
    width,
    height,
    channels,
    read(x0, y0, w, h) {
      const out = new Float32Array(channels * w * h);
      for (let ch = 0; ch < channels; ch++) {
        for (let y = 0; y < h; y++) {
          const from = (ch * height + y0 + y) * width + x0;
          out.set(data.subarray(from, from + w), (ch * h + y) * w);
        }
      }
      return out;
    },
  };
}

/** Predicts an image tile by tile; the result equals a whole-image pass up to the blending near tile edges. */
export function predictSliding(net: InferenceNet, image: PlanarImage, options: SlidingWindowOptions = {}): ProbabilityMap {
  const classes = net.options.classes;
  const plane = image.width * image.height;
  const data = new Float32Array(classes * plane);
  predictTiled(net, planarSource(image), {
    ...options,
    onRows(y0, rows, probabilities) {
      const band = rows * image.width;
      for (let k = 0; k < classes; k++) data.set(probabilities.subarray(k * band, (k + 1) * band), k * plane + y0 * image.width);
    },
  });
  return { width: image.width, height: image.height, classes, data };
}
