/**
 * From sample index to finished batch for annotated slides: draw a centre
 * (sampler.ts), read the patch at the training resolution and rasterise its
 * mask (patches.ts), augment, normalise, pack. Runs in the slide loader's
 * worker threads (each keeps its own slides open) or, with zero workers, in
 * the main thread; both give the same bytes.
 */
import { augment, type AugmentConfig } from '../data/augment/index.js';
import { IGNORE_LABEL } from '../data/ignore.js';
import type { ChannelStats, ChannelSums } from '../data/normalize.js';
import { packSamples } from '../data/pack.js';
import { Rng } from '../data/rng.js';
import type { HostBatch, PlanarImage, Sample } from '../data/types.js';
import type { Annotation } from './annotations.js';
import { paintOrder, unlabelledValue } from './classes.js';
import type { SlideDataset } from './dataset.js';
import { centredWindow, rasterizeWindow, readWindow } from './patches.js';
import { BalancedPatchSampler } from './sampler.js';
import { Slide, SlideError } from './slide.js';

/** Everything besides index and epoch that decides a sample; plain JSON for workers. */
export interface SlidePipelineConfig {
  /** [height, width] of the patches, in pixels at the training resolution */
  patch: [number, number];
  augment: AugmentConfig;
  seed: number;
}

export interface SlideBatchJob {
  epoch: number;
  indices: number[];
  /** normalisation; null leaves images in [0, 1] */
  stats: ChannelStats | null;
}

/** The epoch whose draws give the normalisation statistics (never a training epoch). */
const STATS_EPOCH = 0x7fffffff;

export class SlidePipeline {
  private readonly sampler: BalancedPatchSampler;
  private readonly painted: { annotation: Annotation; label: number }[][];
  private readonly open = new Map<number, Slide>();

  constructor(
    readonly dataset: SlideDataset,
    readonly config: SlidePipelineConfig,
  ) {
    this.painted = dataset.entries.map((e) => paintOrder(dataset.classes, e.annotations));
    this.sampler = new BalancedPatchSampler(
      this.painted.flatMap((list, slide) => list.filter((p) => p.label !== IGNORE_LABEL).map((p) => ({ slide, label: p.label, annotation: p.annotation }))),
    );
  }

  /** Sample `index` of `epoch`, unaugmented when `plain`. */
  sample(index: number, epoch: number, plain = false): Sample {
    const centre = this.sampler.draw(this.config.seed, epoch, index);
    const entry = this.dataset.entries[centre.slide];
    const [height, width] = this.config.patch;
    // whole level-0 pixels: at level-0 resolution a patch is then a copy, not a blend of four pixels
    const window = centredWindow(centre.x, centre.y, width, height, entry.downsample);
    window.x = Math.round(window.x);
    window.y = Math.round(window.y);
    let slide = this.open.get(centre.slide);
    if (!slide) {
      slide = Slide.open(entry.slidePath);
      this.open.set(centre.slide, slide);
    }
    let image: PlanarImage;
    try {
      image = readWindow(slide, window);
    } catch (error) {
      throw new SlideError(entry.slidePath, `${entry.slidePath}: reading a patch at (${Math.round(window.x)}, ${Math.round(window.y)}) failed: ${(error as Error).message}`);
    }
    const mask = rasterizeWindow(window, this.painted[centre.slide], unlabelledValue(this.dataset.classes));
    const name = `${entry.name}@${Math.round(centre.x)},${Math.round(centre.y)}`;
    if (plain) return { name, image, mask };
    return { name, ...augment({ image, mask }, this.config.augment, Rng.derive(this.config.seed, epoch, index)) };
  }

  batch(job: SlideBatchJob): HostBatch {
    const samples = job.indices.map((i) => this.sample(i, job.epoch));
    return packSamples(samples, job.stats, (n) => samples[n].name);
  }

  /** Channel sums of the unaugmented patches `indices` of STATS_EPOCH, for the normalisation statistics. */
  sums(indices: number[]): ChannelSums[] {
    return indices.map((i) => planarSums(this.sample(i, STATS_EPOCH, true).image));
  }

  /** Closes the slides this pipeline opened. */
  close(): void {
    for (const slide of this.open.values()) slide.close();
    this.open.clear();
  }
}

function planarSums(image: PlanarImage): ChannelSums {
  const plane = image.width * image.height;
  const sum: number[] = [];
  const sumSquares: number[] = [];
  for (let c = 0; c < image.channels; c++) {
    let s = 0, s2 = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) {
      s += image.data[i];
      s2 += image.data[i] * image.data[i];
    }
    sum.push(s);
    sumSquares.push(s2);
  }
  return { sum, sumSquares, count: plane };
}
