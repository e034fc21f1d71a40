/**
 * The data pipeline: image/mask folders to normalised, augmented batches.
 * Addon-free; src/data/tensors.ts turns HostBatch into tensors.
 */
export { DataLoader, type DataLoaderOptions } from './loader.js';
export {
  SegmentationDataset,
  DatasetError,
  IMAGE_EXTENSIONS,
  type DatasetOptions,
  type DatasetEntry,
  type DatasetProblem,
} from './dataset.js';
export { toLabelMask, classCount, type ForegroundSpec } from './masks.js';
export { decodeImageFile, decodeImageBytes, readImageHeader, ImageDecodeError } from './decode.js';
export { DistributedSampler, type SamplerOptions } from './sampler.js';
export { splitNames, type ValidationSpec } from './split.js';
export { computeChannelStats, normalizeInPlace, type ChannelStats } from './normalize.js';
export { choosePatch, cropImage, cropMask } from './patch.js';
export { augment, PRESETS, resolveAugment, type AugmentConfig, type AugmentOption, type PresetName } from './augment/index.js';
export { Rng } from './rng.js';
export type { RawImage } from './raw.js';
export type { PlanarImage, LabelMask, Sample, HostBatch } from './types.js';
