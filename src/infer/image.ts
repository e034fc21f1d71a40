/** Reading an image for inference: decode, scale to [0, 1], normalise with the training statistics. */
import { DatasetError } from '../data/dataset.js';
import { decodeImageFile } from '../data/decode.js';
import { normalizeInPlace, type ChannelStats } from '../data/normalize.js';
import { cropImage } from '../data/patch.js';
import type { RawImage } from '../data/raw.js';
import type { PlanarImage } from '../data/types.js';

/** Decodes `path` into a normalised planar image (and keeps the raw pixels for overlays). */
export async function readImageForInference(path: string, stats: ChannelStats | null): Promise<{ raw: RawImage; image: PlanarImage }> {
  const raw = await decodeImageFile(path);
  const image = cropImage(raw, { x: 0, y: 0 }, raw.height, raw.width);
  if (stats) {
    if (stats.mean.length !== image.channels) {
      const message = `${image.channels}-channel image, but the model was trained on ${stats.mean.length}-channel images`;
      throw new DatasetError([{ file: path, message }], `${path}: ${message}`);
    }
    normalizeInPlace(image.data, image.channels, stats);
  }
  return { raw, image };
}
