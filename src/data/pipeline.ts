/**
 * From data-set index to finished batch: decode (cached), cut a patch,
 * augment, normalise, pack. The same code runs in worker threads and, with
 * zero workers, in the main thread, so both give the same bytes.
 */
import { augment, type AugmentConfig } from './augment/index.js';
import type { SegmentationDataset } from './dataset.js';
import { channelSums, type ChannelStats, type ChannelSums } from './normalize.js';
import { packSamples } from './pack.js';
import { choosePatch, cropImage, cropMask } from './patch.js';
import type { RawImage } from './raw.js';
import { Rng } from './rng.js';
import type { HostBatch, Sample } from './types.js';

/** Everything that decides a sample besides its index and epoch; plain JSON for workers. */
export interface PipelineConfig {
  /** Patch [height, width], or null for whole images. */
  patch: [number, number] | null;
  /** Probability that a patch is placed on foreground. */
  foregroundOversample: number;
  augment: AugmentConfig;
  seed: number;
  /** Keep decoded images (the loader decides from the data set's decoded size). */
  cacheImages: boolean;
}

/** One batch to build. */
export interface BatchJob {
  epoch: number;
  indices: number[];
  /** Normalisation; null leaves images in [0, 1]. */
  stats: ChannelStats | null;
}

/** Builds samples and batches from a data set. */
export class SamplePipeline {
  private readonly cache = new Map<number, Promise<RawImage>>();

  constructor(
    readonly dataset: SegmentationDataset,
    readonly config: PipelineConfig,
  ) {}

  /** The decoded image, from the cache when caching is on (concurrent requests share one decode). */
  image(index: number): Promise<RawImage> {
    const cached = this.cache.get(index);
    if (cached) return cached;
    const decoding = this.dataset.image(index);
    if (this.config.cacheImages) {
      this.cache.set(index, decoding);
      decoding.catch(() => this.cache.delete(index));
    }
    return decoding;
  }

  /**
   * Sample `index` as seen in `epoch`: its random stream is derived from
   * (seed, epoch, index) alone, so it does not matter which thread builds it.
   */
  async sample(index: number, epoch: number): Promise<Sample> {
    const raw = await this.image(index);
    const fullMask = this.dataset.masks[index];
    const rng = Rng.derive(this.config.seed, epoch, index);
    const [height, width] = this.config.patch ?? [raw.height, raw.width];
    const origin = this.config.patch ? choosePatch(fullMask, height, width, rng, this.config.foregroundOversample) : { x: 0, y: 0 };
    const pair = augment({ image: cropImage(raw, origin, height, width), mask: cropMask(fullMask, origin, height, width) }, this.config.augment, rng);
    return { name: this.dataset.entries[index].name, ...pair };
  }

  /** Builds, normalises and packs the samples of a batch (NCHW images, NHW masks). */
  async batch(job: BatchJob): Promise<HostBatch> {
    const samples = await Promise.all(job.indices.map((i) => this.sample(i, job.epoch)));
    return packSamples(samples, job.stats, (n) => this.dataset.entries[job.indices[n]].imagePath);
  }

  /** Per-image channel sums, for the normalisation statistics (decoding warms the cache). */
  async sums(indices: number[]): Promise<ChannelSums[]> {
    const out: ChannelSums[] = [];
    for (const i of indices) out.push(channelSums(await this.image(i)));
    return out;
  }
}
