/**
 * The slide loader: batches of patches cut from annotated slides, built in
 * worker threads, in the same layout as the folder loader's (HostBatch:
 * NCHW float images, NHW class-index masks, IGNORE_LABEL where nothing was
 * annotated), so the trainer does not know which one it reads.
 *
 * ```ts
 * const loader = new SlideLoader('slides', 'annotations', { batchSize: 8, patchSize: 256, mpp: 0.5, classes: ['Tumor', 'Stroma'] });
 * for await (const batch of loader) train(batch);
 * await loader.close();
 * ```
 * A slide set has no natural epoch: an epoch is `samplesPerEpoch` draws,
 * sample i of epoch e drawn from the stream (seed, e, i) alone, so batches
 * are identical whatever the worker count; rank r of a data-parallel job
 * takes the draws r, r + worldSize, ...
 */
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { resolveAugment, type AugmentOption } from '../data/augment/config.js';
import { DatasetError } from '../data/dataset.js';
import { combineSums, type ChannelStats } from '../data/normalize.js';
import { statsAcrossWorkers, WorkerPool } from '../data/pool.js';
import type { HostBatch } from '../data/types.js';
import type { DataSource } from '../train/checkpoint.js';
import { SlideDataset, type SlideDatasetOptions } from './dataset.js';
import { SlidePipeline, type SlideBatchJob, type SlidePipelineConfig } from './pipeline.js';
import type { SlideWorkerInit, SlideWorkerTask } from './worker.js';

export interface SlideLoaderOptions extends SlideDatasetOptions {
  batchSize: number;
  /** Patch side (or [height, width]) in pixels at the training resolution. */
  patchSize: number | [number, number];
  /** Draws per epoch (all ranks together). Default: the annotated area in patches, between batchSize and 4096. */
  samplesPerEpoch?: number;
  /** Augmentation preset or recipe; 'auto' (the default) is 'he', slides being RGB. */
  augment?: AugmentOption;
  /** Given statistics, 'auto' (from 64 unaugmented patches; the default) or 'none'. */
  normalize?: ChannelStats | 'auto' | 'none';
  /** Seed of the draws and the augmentation. Default 0. */
  seed?: number;
  /** Worker threads; 0 builds batches in the main thread. Default min(2, cores - 1), at least 1. */
  workers?: number;
  /** Batches requested ahead of the one being consumed. Default 2 per worker. */
  prefetch?: number;
  /** Slides held out for validation (base names). */
  validationSlides?: readonly string[];
  /** Patches drawn from the validation slides (the same ones every time). Default 64. */
  validationSamples?: number;
  validationBatchSize?: number;
  rank?: number;
  worldSize?: number;
  dropLast?: boolean;
}

/** Patches drawn to estimate the normalisation statistics. */
const STATS_SAMPLES = 64;

export class SlideLoader implements AsyncIterable<HostBatch> {
  private readonly options: SlideLoaderOptions;
  private opening: Promise<void> | null = null;
  private statsPromise: Promise<ChannelStats | null> | null = null;
  private opened: {
    dataset: SlideDataset;
    config: SlidePipelineConfig;
    pipeline: SlidePipeline | null;
    pool: WorkerPool<SlideWorkerTask> | null;
    samples: number;
    validation: SlideLoader | null;
  } | null = null;
  /** The epoch the next `for await` iterates (validation loaders always draw epoch 0). */
  epoch = 0;

  constructor(
    readonly slidesDir: string,
    readonly annotationsDir: string,
    options: SlideLoaderOptions,
    /** @internal the validation loader of a training loader: its slides and the training statistics */
    private readonly source?: { dataset: SlideDataset; stats: () => Promise<ChannelStats | null> },
  ) {
    if (!(Number.isInteger(options.batchSize) && options.batchSize > 0)) throw new Error(`batchSize must be a positive integer, got ${options.batchSize}`);
    this.options = options;
  }

  open(): Promise<this> {
    this.opening ??= this.doOpen();
    return this.opening.then(() => this);
  }

  /** The training slides (after open). */
  get dataset(): SlideDataset {
    return this.state().dataset;
  }

  /** Microns per pixel of the patches, or null when they are cut at level 0. */
  get mpp(): number | null {
    return this.options.mpp ?? null;
  }

  /** The slides as a checkpoint records them (root is the slide folder). */
  describe(): DataSource {
    return {
      root: resolve(this.slidesDir),
      images: '.',
      masks: relative(this.slidesDir, this.annotationsDir),
      foreground: null,
      validation: [],
      slides: {
        annotations: resolve(this.annotationsDir),
        unlabelled: this.state().dataset.classes.unlabelled,
        validationSlides: [...(this.options.validationSlides ?? [])],
      },
    };
  }

  /** Batches per epoch on this rank (after open). */
  get length(): number {
    const perRank = this.perRank();
    return this.options.dropLast ? Math.floor(perRank / this.options.batchSize) : Math.ceil(perRank / this.options.batchSize);
  }

  stats(): Promise<ChannelStats | null> {
    this.statsPromise ??= this.resolveStats();
    return this.statsPromise;
  }

  /** The loader over the held-out slides (unaugmented, the same patches every pass), or null. */
  async validation(): Promise<SlideLoader | null> {
    await this.open();
    return this.state().validation;
  }

  [Symbol.asyncIterator](): AsyncIterator<HostBatch> {
    return this.epochBatches(this.source ? 0 : this.epoch++);
  }

  /** The batches of one epoch, `prefetch` of them in flight; `part` keeps every worldSize-th batch from rank (validation shares). */
  async *epochBatches(epoch: number, part?: { rank: number; worldSize: number }): AsyncGenerator<HostBatch> {
    await this.open();
    const stats = await this.stats();
    const { pipeline, pool } = this.state();
    const all = this.plan(epoch, stats);
    const jobs = part ? all.filter((_, i) => i % part.worldSize === part.rank) : all;
    if (!pool) {
      for (const job of jobs) yield pipeline!.batch(job);
      return;
    }
    const prefetch = Math.max(1, this.options.prefetch ?? 2 * pool.size);
    const inFlight: Promise<HostBatch>[] = [];
    const request = (job: SlideBatchJob) => {
      const result = pool.run<HostBatch>({ kind: 'batch', job });
      result.catch(() => undefined);
      return result;
    };
    let submitted = 0;
    for (let b = 0; b < jobs.length; b++) {
      while (submitted < jobs.length && submitted - b < prefetch) inFlight.push(request(jobs[submitted++]));
      yield await inFlight.shift()!;
    }
  }

  /** Terminates the worker threads (of the validation loader too) and closes the slides. Idempotent. */
  async close(): Promise<void> {
    if (!this.opening) return;
    await this.opening.catch(() => undefined);
    this.opened?.pipeline?.close();
    await this.opened?.pool?.close();
    await this.opened?.validation?.close();
  }

  private perRank(): number {
    return Math.ceil(this.state().samples / (this.options.worldSize ?? 1));
  }

  private plan(epoch: number, stats: ChannelStats | null): SlideBatchJob[] {
    const rank = this.options.rank ?? 0;
    const worldSize = this.options.worldSize ?? 1;
    const indices = Array.from({ length: this.perRank() }, (_, k) => rank + k * worldSize);
    const jobs: SlideBatchJob[] = [];
    for (let start = 0; start < indices.length; start += this.options.batchSize) {
      const chunk = indices.slice(start, start + this.options.batchSize);
      if (chunk.length < this.options.batchSize && this.options.dropLast) break;
      jobs.push({ epoch, indices: chunk, stats });
    }
    return jobs;
  }

  private state(): NonNullable<SlideLoader['opened']> {
    if (!this.opened) throw new Error('SlideLoader is not open yet: await loader.open() first');
    return this.opened;
  }

  private async doOpen(): Promise<void> {
    const o = this.options;
    let dataset = this.source?.dataset ?? (await SlideDataset.open(this.slidesDir, this.annotationsDir, o));
    let validationSet: SlideDataset | null = null;
    if (!this.source && o.validationSlides?.length) {
      validationSet = dataset.subset(o.validationSlides);
      dataset = dataset.without(o.validationSlides);
      if (dataset.length === 0) throw new DatasetError([], `--val-slides holds out every slide (${o.validationSlides.join(', ')}); none is left to train on`);
    }
    const patch: [number, number] = typeof o.patchSize === 'number' ? [o.patchSize, o.patchSize] : o.patchSize;
    const config: SlidePipelineConfig = { patch, augment: resolveAugment(o.augment ?? 'auto', 3), seed: o.seed ?? 0 };
    const samples = o.samplesPerEpoch ?? defaultSamples(dataset, patch, o.batchSize);
    const workers = o.workers ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    const init: SlideWorkerInit = { dataset: dataset.toShared(), config };
    const pool = workers > 0 ? new WorkerPool<SlideWorkerTask>(workers, init, new URL('./worker.js', import.meta.url)) : null;
    const validation = validationSet
      ? new SlideLoader(
          this.slidesDir,
          this.annotationsDir,
          {
            ...o,
            batchSize: o.validationBatchSize ?? o.batchSize,
            augment: 'none',
            samplesPerEpoch: o.validationSamples ?? 64,
            validationSlides: undefined,
            rank: undefined,
            worldSize: undefined,
            dropLast: false,
          },
          { dataset: validationSet, stats: () => this.stats() },
        )
      : null;
    this.opened = { dataset, config, pipeline: pool ? null : new SlidePipeline(dataset, config), pool, samples, validation };
  }

  private async resolveStats(): Promise<ChannelStats | null> {
    if (this.source) return this.source.stats();
    const normalize = this.options.normalize ?? 'auto';
    if (normalize === 'none') return null;
    if (normalize !== 'auto') return normalize;
    await this.open();
    const { pipeline, pool } = this.state();
    const indices = Array.from({ length: STATS_SAMPLES }, (_, i) => i);
    if (!pool) return combineSums(pipeline!.sums(indices));
    return statsAcrossWorkers(pool, indices);
  }
}

/** The annotated area measured in patches at the training resolution, between one batch and 4096. */
function defaultSamples(dataset: SlideDataset, patch: [number, number], batchSize: number): number {
  const patches = dataset.entries.reduce((sum, e) => sum + e.annotations.reduce((s, a) => s + a.area, 0) / (e.downsample * e.downsample * patch[0] * patch[1]), 0);
  return Math.max(batchSize, Math.min(4096, Math.round(patches)));
}
