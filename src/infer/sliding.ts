/**
 * Sliding-window inference of an image held in memory: an image of any size is
 * cut into overlapping tiles, tiles are run through the network in batches,
 * and the predictions are blended with a Gaussian weight (high at a tile's
 * centre, where the network saw the most context) so no seams show. The
 * streaming engine underneath (tiled.ts) is the one whole slides use.
 */
import type { PlanarImage } from '../data/types.js';
import type { ProbabilityMap } from './labels.js';
import { planTiles, predictPipelined, predictTiled, readTiles, type InferenceNet, type SlidingWindowOptions, type TileEngine, type TileSource } from './tiled.js';
import type { TilingOptions } from './tiling.js';

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
  const map = emptyMap(image, net.options.classes);
  predictTiled(net, planarSource(image), { ...options, onRows: fillRows(map) });
  return map;
}

function emptyMap(image: PlanarImage, classes: number): ProbabilityMap {
  return { width: image.width, height: image.height, classes, data: new Float32Array(classes * image.width * image.height) };
}

/** The tiling's `onRows` that copies finished rows into `map`. */
function fillRows(map: ProbabilityMap): (y0: number, rows: number, probabilities: Float32Array) => void {
  const plane = map.width * map.height;
  return (y0, rows, probabilities) => {
    const band = rows * map.width;
    for (let k = 0; k < map.classes; k++) map.data.set(probabilities.subarray(k * band, (k + 1) * band), k * plane + y0 * map.width);
  };
}

/**
 * `predictSliding` with any tile engine (ONNX Runtime's is asynchronous):
 * the same tiles, blending and result as libtorch's synchronous pass.
 */
export async function predictSlidingWith(engine: TileEngine, image: PlanarImage, options: TilingOptions = {}): Promise<ProbabilityMap> {
  if (image.channels !== engine.inChannels) {
    throw new Error(`the model expects ${engine.inChannels}-channel images, this one has ${image.channels}`);
  }
  const map = emptyMap(image, engine.classes);
  const source = planarSource(image);
  const plan = planTiles(image.width, image.height, options);
  await predictPipelined(engine, plan, async (tiles) => readTiles(source, tiles, plan.tile).input, { ...options, prefetch: 0, onRows: fillRows(map) });
  return map;
}
