/**
 * The training data loader: an async iterable of batches built in worker
 * threads, ahead of the training step, in an order that does not depend on
 * how many workers there are.
 */
import { availableParallelism } from 'node:os';
import { resolveAugment, type AugmentOption } from './augment/config.js';
import { SegmentationDataset, type DatasetOptions } from './dataset.js';
import { combineSums, type ChannelStats } from './normalize.js';
import { SamplePipeline, type BatchJob, type PipelineConfig } from './pipeline.js';
import { statsAcrossWorkers, WorkerPool } from './pool.js';
import { DistributedSampler } from './sampler.js';
import { foldNames, splitNames, type ValidationSpec } from './split.js';
import { checkDownsample } from './scale.js';
import type { ForegroundSpec } from './masks.js';
import type { HostBatch } from './types.js';

/** Options of DataLoader; everything but batchSize has a default. */
export interface DataLoaderOptions extends DatasetOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Patch size (square, or [height, width]); default: whole images. */
  patchSize?: number | [number, number];
  /** Probability that a patch is placed on foreground. Default 0. */
  foregroundOversample?: number;
  /** Names of classes 1, 2, ... (from --foreground value:name pairs), saved with the model for its outputs. */
  classNames?: string[];
  /** Augmentation: 'em', 'he', a recipe, 'auto' (em for gray, he for RGB; the default) or 'none'. */
  augment?: AugmentOption;
  /** Normalisation: given statistics, 'auto' (computed from the training images; the default) or 'none'. */
  normalize?: ChannelStats | 'auto' | 'none';
  /** Reshuffle every epoch. Default true. */
  shuffle?: boolean;
  /** Drop the last batch of an epoch when it is incomplete. Default false. */
  dropLast?: boolean;
  /** Seed of shuffling, patches and augmentation. Default 0. */
  seed?: number;
  /** Worker threads; 0 builds batches in the main thread. Default: min(2, cores - 1), at least 1. */
  workers?: number;
  /** Batches requested ahead of the one being consumed. Default 2 per worker. */
  prefetch?: number;
  /** Each worker keeps decoded images when the whole data set takes at most this many bytes. Default 1 GiB. */
  cacheBytes?: number;
  /** This process's rank for distributed training. Default 0. */
  rank?: number;
  /** Number of ranks. Default 1. */
  worldSize?: number;
  /** Validation data: a seeded fraction, a list of names, one fold of a k-fold split, or another folder. Default none. */
  validation?: ValidationSpec;
  /** Batch size of the validation loader (whole images). Default 1. */
  validationBatchSize?: number;
  /**
   * Train at 1/downsample of the images' pixels (a whole number, see
   * scale.ts); validation images stay as stored, scored at full resolution by
   * evaluation that shrinks them as prediction does. Default 1.
   */
  downsample?: number;
}

/**
 * Batches of (image, mask) pairs from `root/<images>` and `root/<masks>`.
 *
 * ```ts
 * const loader = new DataLoader('data/membrane/train', 'images', 'masks', { batchSize: 4, patchSize: 256 });
 * for await (const batch of loader) train(batch); // one epoch per loop; the next loop is the next epoch
 * const validation = await loader.validation();
 * await loader.close();
 * ```
 * Each sample draws from its own stream, derived from (seed, epoch, index),
 * so batches are identical whatever the worker count.
 */
export class DataLoader implements AsyncIterable<HostBatch> {
  private readonly options: DataLoaderOptions;
  private opening: Promise<void> | null = null;
  private statsPromise: Promise<ChannelStats | null> | null = null;
  private opened: {
    dataset: SegmentationDataset;
    pipeline: SamplePipeline;
    pool: WorkerPool | null;
    sampler: DistributedSampler;
    validation: DataLoader | null;
  } | null = null;
  /** Batches of the coming epoch requested before it began. */
  private nextEpochBatches: { epoch: number; batches: Promise<HostBatch>[] } = { epoch: -1, batches: [] };
  /** The epoch that the next `for await` iterates. */
  epoch = 0;

  constructor(
    readonly root: string,
    readonly imagesDir = 'images',
    readonly masksDir = 'masks',
    options: DataLoaderOptions,
    /** @internal a checked data set and the statistics to use (the validation loader of a training loader) */
    private readonly source?: { dataset: SegmentationDataset; stats: () => Promise<ChannelStats | null> },
  ) {
    if (!(Number.isInteger(options.batchSize) && options.batchSize > 0)) throw new Error(`batchSize must be a positive integer, got ${options.batchSize}`);
    this.options = options;
  }

  /** Returns this loader (the original patho API's name for it). */
  getInstance(): this {
    return this;
  }

  /** Scans and checks the data set and starts the workers; called by iteration if not before. */
  open(): Promise<this> {
    this.opening ??= this.doOpen();
    return this.opening.then(() => this);
  }

  /** The checked training data set (after open). */
  get dataset(): SegmentationDataset {
    return this.state().dataset;
  }

  /** Batches per epoch on this rank (after open). */
  get length(): number {
    const n = this.state().sampler.numSamples;
    return this.options.dropLast ? Math.floor(n / this.options.batchSize) : Math.ceil(n / this.options.batchSize);
  }

  /** The files' pixels per trained pixel along each side (the downsample option; 1 by default). */
  get downsample(): number {
    return this.options.downsample ?? 1;
  }

  /** Names of classes 1, 2, ..., when the data names them. */
  get classNames(): string[] | null {
    return this.options.classNames ?? null;
  }

  /** The mask values read as foreground; null for the default (0 vs the one other value). */
  get foreground(): ForegroundSpec | null {
    return this.options.foreground ?? null;
  }

  /** The normalisation applied to batches, to store in checkpoints; null with normalize 'none'. */
  stats(): Promise<ChannelStats | null> {
    this.statsPromise ??= this.resolveStats();
    return this.statsPromise;
  }

  /**
   * A loader over the validation data (whole images, no augmentation, no
   * shuffling, the training statistics), or null without a validation option.
   */
  async validation(): Promise<DataLoader | null> {
    await this.open();
    return this.state().validation;
  }

  /** Iterates the next epoch. */
  [Symbol.asyncIterator](): AsyncIterator<HostBatch> {
    return this.epochBatches(this.epoch++);
  }

  /**
   * The batches of one epoch. Up to `prefetch` batches are being built while
   * the caller works, and near the end of an epoch reached through the
   * default iterator the first batches of the next one are started, so the
   * next epoch does not begin with a wait. Breaking off leaves the workers
   * idle (they finish what they had and no longer keep the process alive).
   *
   * `part` keeps every worldSize-th batch starting at rank and builds only
   * those: a rank's share of validation, which must not be padded to equal
   * lengths as the training sampler does (each image is scored once).
   */
  async *epochBatches(epoch: number, part?: { rank: number; worldSize: number }): AsyncGenerator<HostBatch> {
    await this.open();
    const stats = await this.stats();
    const { pipeline, pool } = this.state();
    const all = this.plan(epoch, stats);
    const jobs = part ? all.filter((_, i) => i % part.worldSize === part.rank) : all;
    if (!pool) {
      for (const job of jobs) yield await pipeline.batch(job);
      return;
    }
    const started = this.nextEpochBatches.epoch === epoch ? this.nextEpochBatches.batches : [];
    this.nextEpochBatches = { epoch: -1, batches: [] };
    // the default iterator has already advanced this.epoch to the epoch that will follow
    const following = this.epoch === epoch + 1 && !part ? this.plan(epoch + 1, stats) : [];
    const ahead: Promise<HostBatch>[] = [];
    const prefetch = Math.max(1, this.options.prefetch ?? 2 * pool.size);
    const request = (job: BatchJob) => {
      const result = pool.run<HostBatch>({ kind: 'batch', job });
      // a batch may fail after the caller stopped listening; that is not an unhandled error
      result.catch(() => undefined);
      return result;
    };
    const inFlight = new Map<number, Promise<HostBatch>>();
    let submitted = 0;
    for (let b = 0; b < jobs.length; b++) {
      while (submitted + ahead.length - b < prefetch) {
        if (submitted < jobs.length) {
          inFlight.set(submitted, started[submitted] ?? request(jobs[submitted]));
          submitted++;
        } else if (ahead.length < following.length) {
          ahead.push(request(following[ahead.length]));
        } else break;
      }
      const batch = await inFlight.get(b)!;
      inFlight.delete(b);
      if (b === jobs.length - 1) this.nextEpochBatches = { epoch: epoch + 1, batches: ahead };
      yield batch;
    }
  }

  /** Terminates the worker threads (of the validation loader too). Idempotent. */
  async close(): Promise<void> {
    if (!this.opening) return;
    await this.opening.catch(() => undefined);
    await this.opened?.pool?.close();
    await this.opened?.validation?.close();
  }

  /** This rank's batches of `epoch`. */
  private plan(epoch: number, stats: ChannelStats | null): BatchJob[] {
    const order = this.state().sampler.indices(epoch);
    const jobs: BatchJob[] = [];
    for (let start = 0; start < order.length; start += this.options.batchSize) {
      const indices = order.slice(start, start + this.options.batchSize);
      if (indices.length < this.options.batchSize && this.options.dropLast) break;
      jobs.push({ epoch, indices, stats });
    }
    return jobs;
  }

  private state(): NonNullable<DataLoader['opened']> {
    if (!this.opened) throw new Error('DataLoader is not open yet: await loader.open() first');
    return this.opened;
  }

  private async doOpen(): Promise<void> {
    const o = this.options;
    let dataset = this.source?.dataset ?? (await SegmentationDataset.open(this.root, this.imagesDir, this.masksDir, o));
    let validationSet: SegmentationDataset | null = null;
    const spec = o.validation;
    const names = dataset.entries.map((e) => e.name);
    const held =
      spec && 'fraction' in spec ? splitNames(names, spec.fraction, spec.seed ?? o.seed ?? 0).validation
      : spec && 'names' in spec ? spec.names
      : spec && 'folds' in spec ? foldNames(names, spec.folds, spec.seed ?? o.seed ?? 0)[spec.fold]
      : null;
    if (held) {
      validationSet = dataset.subset(held);
      const heldOut = new Set(held);
      dataset = dataset.subset(names.filter((n) => !heldOut.has(n)));
    } else if (spec && 'root' in spec) {
      validationSet = await SegmentationDataset.open(spec.root, spec.images ?? this.imagesDir, spec.masks ?? this.masksDir, {
        ...o,
        names: undefined,
        exclude: undefined,
      });
      if (validationSet.channels !== dataset.channels) {
        throw new Error(`validation images in ${spec.root} have ${validationSet.channels} channel(s), training images ${dataset.channels}`);
      }
    }
    // after the split: the validation images stay at the files' resolution
    if (o.downsample !== undefined) dataset = dataset.downsampled(checkDownsample(o.downsample));
    const patch = o.patchSize === undefined ? null : typeof o.patchSize === 'number' ? ([o.patchSize, o.patchSize] as [number, number]) : o.patchSize;
    const workers = o.workers ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    const config: PipelineConfig = {
      patch,
      foregroundOversample: o.foregroundOversample ?? 0,
      augment: resolveAugment(o.augment ?? 'auto', dataset.channels),
      seed: o.seed ?? 0,
      cacheImages: dataset.decodedBytes() <= (o.cacheBytes ?? 2 ** 30),
    };
    const sampler = new DistributedSampler(dataset.length, {
      rank: o.rank,
      worldSize: o.worldSize,
      seed: o.seed,
      shuffle: o.shuffle ?? true,
    });
    const pool = workers > 0 ? new WorkerPool(workers, { dataset: dataset.toShared(), config }) : null;
    const validation = validationSet
      ? new DataLoader(
          this.root,
          this.imagesDir,
          this.masksDir,
          { ...o, batchSize: o.validationBatchSize ?? 1, patchSize: undefined, augment: 'none', shuffle: false, validation: undefined, rank: undefined, worldSize: undefined, downsample: undefined },
          { dataset: validationSet, stats: () => this.stats() },
        )
      : null;
    this.opened = { dataset, pipeline: new SamplePipeline(dataset, config), pool, sampler, validation };
  }

  private async resolveStats(): Promise<ChannelStats | null> {
    if (this.source) return this.source.stats();
    const normalize = this.options.normalize ?? 'auto';
    if (normalize === 'none') return null;
    if (normalize !== 'auto') return normalize;
    await this.open();
    const { dataset, pipeline, pool } = this.state();
    const indices = dataset.entries.map((_, i) => i);
    if (!pool) return combineSums(await pipeline.sums(indices));
    return statsAcrossWorkers(pool, indices);
  }
}
