/** Samples to one batch: the step every loader ends with, so that all of them give the trainer the same layout. */
import { normalizeInPlace, type ChannelStats } from './normalize.js';
import type { HostBatch, Sample } from './types.js';

/**
 * Packs samples into NCHW images (normalised with `stats` unless null) and
 * NHW masks.
 * @param describe names sample n in the message when sizes differ
 */
export function packSamples(samples: readonly Sample[], stats: ChannelStats | null, describe: (n: number) => string): HostBatch {
  const first = samples[0].image;
  const c = first.channels;
  const plane = first.height * first.width;
  const images = new Float32Array(samples.length * c * plane);
  const masks = new Uint8Array(samples.length * plane);
  samples.forEach((s, n) => {
    if (s.image.width !== first.width || s.image.height !== first.height) {
      throw new Error(
        `images in one batch differ in size: ${describe(0)} is ${first.width}x${first.height}, ${describe(n)} is ${s.image.width}x${s.image.height}; ` +
          'set patchSize, or use batch size 1',
      );
    }
    const slot = images.subarray(n * c * plane, (n + 1) * c * plane);
    slot.set(s.image.data);
    if (stats) normalizeInPlace(slot, c, stats);
    masks.set(s.mask.data, n * plane);
  });
  return { names: samples.map((s) => s.name), images, masks, shape: [samples.length, c, first.height, first.width] };
}
