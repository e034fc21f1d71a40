/**
 * Model: the original patho's training API over a U-Net.
 *
 * ```ts
 * const net = new UNET({ inChannels: 1 });
 * const model = new Model(net, { lr: 5e-3, withJaccard: true, loadModel: false });
 * await model.train(new DataLoader('data/membrane/train', 'images', 'masks', { batchSize: 4 }), { epochs: 10 });
 * ```
 * Every epoch it logs the losses, Dice/IoU at each threshold, learning rate and
 * throughput (terminal and JSON lines), and writes the best and the latest
 * checkpoint atomically, each with the threshold its validation's sweep found
 * best; `resume` continues from the latest exactly.
 *
 * A facade: the step is `trainStep` (step.ts), the epochs `runEpochs`
 * (loop.ts), checkpoints `saveRun`/`resumeRun` (state.ts), the defaults
 * `TRAINING_DEFAULTS` (defaults.ts).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { batchToTensors } from '../data/tensors.js';
import { downsamplePlanar, scaledSide, upsamplePlanar } from '../data/scale.js';
import { DataLoader } from '../data/loader.js';
import { defaultClassColors } from '../wsi/classes.js';
import { SlideLoader } from '../wsi/loader.js';
import type { ChannelStats } from '../data/normalize.js';
import type { HostBatch } from '../data/types.js';
import { lossByName, type Loss, type LossName } from '../losses/index.js';
import type { UNet } from '../models/unet.js';
import { Adam, SGD, type Optimizer } from '../optim/index.js';
import type { LRScheduler } from '../optim/schedulers.js';
import { DistributedDataParallel } from '../parallel/ddp.js';
import { convertSyncBatchNorm } from '../parallel/sync-batch-norm.js';
import type { ProcessGroup } from '../parallel/group.js';
import { cuda, mixedPrecision, noGrad } from '../tensor/runtime.js';
import { tensor } from '../tensor/create.js';
import { tidy } from '../tensor/scope.js';
import type { Device, DType, MemoryFormat, Tensor } from '../tensor/tensor.js';
import type { DataSource } from './checkpoint.js';
import { TRAINING_DEFAULTS, type OptimizerName, type ScheduleName } from './defaults.js';
import { evaluateBinary, evaluateMulticlass, objectMetricsOfFolder, withInstanceLabels, type EvaluationReport } from './evaluate.js';
import type { ObjectMetricKind } from '../metrics/structures.js';
import { progressListener, runLogListener } from './listeners.js';
import { runEpochs, type EpochRecord, type RunProgress, type TrainingListener } from './loop.js';
import { GradScaler } from './scaler.js';
import { epochScheduler, progressScheduler } from './schedule.js';
import { describeData, loadWeights, resumeRun, saveRun, type RunState } from './state.js';
import { trainStep, type StepParts } from './step.js';

export { NonFiniteLossError, TrainingInterrupted, type EpochRecord, type TrainingListener } from './loop.js';

export interface ModelOptions {
  /** Learning rate. Default 5e-3 (the original patho). */
  lr?: number;
  /** BCE with the soft Jaccard term (the original patho's loss). Default true; ignored when `loss` is set. */
  withJaccard?: boolean;
  /** Load weights from `modelPath` before training or predicting. Default false. */
  loadModel?: boolean;
  /** Where the best weights go (and are loaded from). Default 'data/model.pt'. */
  modelPath?: string;
  /** Default 'sgd'. */
  optimizer?: OptimizerName;
  /** SGD momentum. Default 0.99 (the U-Net paper). */
  momentum?: number;
  weightDecay?: number;
  loss?: LossName;
  /** Foreground weight of BCE (class imbalance). */
  posWeight?: number;
  /** Mask value that the loss leaves out (IGNORE_LABEL for partially annotated slides). Default: none. */
  ignoreIndex?: number;
  /**
   * Learning-rate schedule. Default 'none'. It spans the epochs of `train()`;
   * with a time budget (`maxMinutes`) it follows every step over whichever of
   * the epochs and the budget runs out first, so a 20-minute run ends at the
   * low rate whatever its epoch count.
   */
  schedule?: ScheduleName;
  device?: Device;
  /** Mixed precision: autocast dtype (bfloat16 on CPU/GPU, float16 on GPU with loss scaling), or null. */
  amp?: DType | null;
  memoryFormat?: MemoryFormat;
  /**
   * Data-parallel training over this process group (one process per device;
   * `makeParallel()` joins the job a script was started in): gradients
   * averaged every step, validation sharded, only rank 0 writes.
   */
  group?: ProcessGroup;
  /** With `group`: batch-norm statistics over every rank's batch (SyncBatchNorm), for a small batch per device. Default false. */
  syncBatchNorm?: boolean;
  /** The plan the run was made from (`patho plan`), stored in its checkpoints. */
  plan?: object | null;
}

export interface TrainOptions {
  /** Default 50; with `maxMinutes` and no `epochs`, the budget alone ends the run. */
  epochs?: number;
  /** Validation batches; default: the loader's own validation split, if any. */
  validation?: AsyncIterable<HostBatch> | null;
  /** Default [0.5, 0.7]. */
  thresholds?: readonly number[];
  /** Stop when validation Dice at the first threshold has not improved for this many epochs (0 = never). */
  earlyStop?: number;
  /**
   * Stop after the epoch during which this much training time has passed,
   * counted over the whole run (time before a resume included).
   */
  maxMinutes?: number;
  /** Validate every N epochs (and always after the last one). Default 1. */
  validateEvery?: number;
  /**
   * Seconds between writes of last.pt (it is always written after the last
   * epoch); 0 writes it after every epoch. Default 0. Short epochs on big
   * models spend a noticeable share of a run writing it.
   */
  checkpointEvery?: number;
  /** Continue from `<outDir>/last.pt`. */
  resume?: boolean;
  /** Folder for last.pt and train.jsonl. Default: the folder of modelPath. */
  outDir?: string;
  /** Progress output; default process.stderr. Pass null for silence. */
  progress?: NodeJS.WritableStream | null;
  /** Called after every epoch with its record. */
  onEpoch?: (record: EpochRecord) => void;
  /** More listeners of the run's events (epoch start, step, epoch end, end). */
  listeners?: TrainingListener[];
  /** Milliseconds clock of the time budget, the cadence and the rates; default performance.now. */
  clock?: () => number;
  /** Abort to stop after the current step: last.pt is written and train() rejects with TrainingInterrupted. */
  signal?: AbortSignal;
}

export class Model {
  readonly net: UNet;
  readonly options: Required<Omit<ModelOptions, 'loss' | 'posWeight' | 'ignoreIndex' | 'group' | 'syncBatchNorm' | 'plan'>> & Pick<ModelOptions, 'loss' | 'posWeight' | 'ignoreIndex'>;
  readonly plan: object | null;
  /** Set when training data-parallel across processes. */
  readonly ddp: DistributedDataParallel | null;
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly loss: Loss;
  /** Normalisation of the training data, saved with the weights. */
  normalization: ChannelStats | null = null;
  /**
   * Probability threshold of a binary mask, saved with the weights: the best
   * of the latest validation's threshold sweep (by mean Dice); 0.5 before any.
   */
  threshold = 0.5;
  /** The loop's counters (completed epochs, best Dice, ...); they continue after a resume. */
  readonly progress: RunProgress = { epoch: 0, bestDice: null, epochsSinceBest: 0, elapsedSeconds: 0 };
  private scheduler: LRScheduler | null = null;
  /** The data of the current training run, saved with the weights. */
  private data: DataSource | null = null;
  /** Class names (of annotated slides, or of a folder's named mask values) and the slides' training resolution, saved for the outputs of predictions. */
  private named: { classes: { names: string[]; colors: [number, number, number][] }; mpp: number | null } | null = null;
  /** The training images' pixels per trained pixel (the loader's working resolution); validation and predict shrink images alike. */
  private downsample = 1;
  /** The object scores each validation adds (decided from the validation folder's masks); none for slides and several classes. */
  private objectMetrics: ObjectMetricKind | undefined;
  /** the validation masks' object numbers (`--foreground instances`), decoded at the first validation */
  private readonly instanceLabelCache = new Map<string, Uint8Array | Uint16Array>();
  private readonly parts: StepParts;
  private loading: Promise<void> | null;

  constructor(net: UNet, options: ModelOptions = {}) {
    this.net = net;
    const { group: _group, syncBatchNorm, plan, ...rest } = options;
    this.plan = plan ?? null;
    const d = TRAINING_DEFAULTS;
    const o: Model['options'] = {
      lr: d.lr, withJaccard: true, loadModel: false, modelPath: d.modelPath, optimizer: d.optimizer, momentum: d.momentum,
      weightDecay: d.weightDecay, schedule: d.schedule, device: 'cpu', amp: null, memoryFormat: 'contiguous', ...rest,
    };
    this.options = o;
    if (!(o.lr > 0)) throw new Error(`Model: lr must be > 0, got ${o.lr}`);
    // libtorch's CPU autocast takes only bfloat16: float16 (and its loss scaling) is a no-op there, not an error
    if (o.amp === 'float16' && !o.device.startsWith('cuda')) o.amp = null;
    if (o.device !== 'cpu') net.to(o.device);
    // cuDNN autotuning: U-Net tiles have fixed shapes, so the search pays off from the second step
    if (o.device.startsWith('cuda')) cuda.setBenchmark(true);
    if (o.memoryFormat === 'channelsLast') net.toMemoryFormat('channelsLast');
    const lossName: LossName = o.loss ?? (net.options.classes > 1 ? 'cross-entropy' : o.withJaccard ? 'bce-jaccard' : 'bce');
    if (net.options.classes > 1 && lossName !== 'cross-entropy') {
      throw new Error(`Model: loss '${lossName}' is binary but the network has ${net.options.classes} classes (use cross-entropy)`);
    }
    if (net.options.classes === 1 && lossName === 'cross-entropy') {
      throw new Error(`Model: cross-entropy needs a network with 2 or more classes; this one has 1 (use bce, bce-jaccard, dice or bce-dice)`);
    }
    this.loss = lossByName(lossName, { posWeight: o.posWeight, ignoreIndex: o.ignoreIndex });
    this.optimizer =
      o.optimizer === 'adam'
        ? new Adam(net.parameters(), { lr: o.lr, weightDecay: o.weightDecay })
        : new SGD(net.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    const group = options.group ?? net.group;
    if (group && syncBatchNorm) convertSyncBatchNorm(net, group);
    this.ddp = group ? new DistributedDataParallel(net, group) : null;
    this.parts = {
      net, loss: this.loss, optimizer: this.optimizer, device: o.device, amp: o.amp,
      scaler: o.amp === 'float16' ? new GradScaler() : null, ddp: this.ddp,
    };
    this.loading = o.loadModel ? this.loadWeights(o.modelPath) : null;
    // a failed load surfaces at the first train/evaluate/predict, not as an unhandled rejection before it
    this.loading?.catch(() => undefined);
  }

  /** Completed epochs (continues after resume). */
  get epoch(): number {
    return this.progress.epoch;
  }

  /** The best validation Dice so far (at the first threshold), or null. */
  get bestDice(): number | null {
    return this.progress.bestDice;
  }

  /** Loads weights (and normalisation, threshold) from a checkpoint or a PyTorch state_dict. */
  async loadWeights(path: string): Promise<void> {
    const loaded = await loadWeights(path, this.net, this.options.device);
    this.normalization = loaded.normalization;
    this.threshold = loaded.threshold;
    this.progress.bestDice = loaded.bestDice;
    this.downsample = loaded.downsample;
  }

  /** Rank 0 (or the only process) writes checkpoints, logs and progress. */
  get isMainProcess(): boolean {
    return !this.ddp || this.ddp.group.rank === 0;
  }

  private async ready(): Promise<void> {
    if (this.loading) await this.loading;
  }

  /** Trains for `epochs` epochs on `loader`: image/mask folders (DataLoader) or annotated slides (SlideLoader). */
  async train(loader: DataLoader | SlideLoader, options: TrainOptions = {}): Promise<EpochRecord[]> {
    await this.ready();
    const d = TRAINING_DEFAULTS;
    // with a time budget and no epoch count, the budget alone ends the run
    const epochs = options.epochs ?? (options.maxMinutes !== undefined ? Infinity : d.epochs);
    const outDir = options.outDir ?? dirname(this.options.modelPath);
    const main = this.isMainProcess;
    if (main) {
      mkdirSync(outDir, { recursive: true });
      // the best model may live outside outDir (modelPath in another folder)
      mkdirSync(dirname(this.options.modelPath), { recursive: true });
    }
    const lastPath = join(outDir, 'last.pt');
    await loader.open();
    this.normalization = await loader.stats();
    const validation = options.validation === undefined ? await loader.validation() : options.validation;
    // the field's object scores at each validation of a folder of binary masks (GlaS's F1 or ISBI's Rand scores)
    if (validation instanceof DataLoader) await validation.open();
    this.objectMetrics = validation instanceof DataLoader && this.net.options.classes === 1 ? await objectMetricsOfFolder(validation) : undefined;
    this.data = await describeData(loader, options.validation === undefined && validation instanceof DataLoader ? validation : null);
    const names = loader instanceof SlideLoader ? null : loader.classNames;
    this.downsample = loader instanceof SlideLoader ? 1 : loader.downsample;
    this.named = loader instanceof SlideLoader
      ? { classes: loader.dataset.classes, mpp: loader.mpp }
      : names ? { classes: { names, colors: defaultClassColors(names.length) }, mpp: null } : null;
    const budgeted = options.maxMinutes !== undefined && this.options.schedule !== 'none';
    const byEpoch = budgeted ? null : epochScheduler(this.options.schedule, this.optimizer, epochs);
    const byProgress = budgeted ? progressScheduler(this.options.schedule, this.optimizer) : null;
    this.scheduler = byEpoch ?? byProgress;
    Object.assign(this.progress, { elapsedSeconds: 0, epochsSinceBest: 0 });
    if (options.resume) this.threshold = (await resumeRun(lastPath, this.runState())).threshold;
    const now = options.clock ?? (() => performance.now());
    const listeners: TrainingListener[] = [];
    if (main) {
      const stream = options.progress === undefined ? process.stderr : options.progress;
      if (stream) listeners.push(progressListener(stream, now));
      listeners.push(runLogListener(join(outDir, 'train.jsonl'), { append: options.resume ?? false }));
    }
    listeners.push(...(options.listeners ?? []));
    if (options.onEpoch) listeners.push({ epochEnd: options.onEpoch });
    const thresholds = options.thresholds ?? d.thresholds;
    return runEpochs(
      {
        steps: loader.length,
        batches: (epoch) => loader.epochBatches(epoch),
        step: (batch, stop) => this.stepOn(batch, stop),
        optimizer: this.optimizer,
        epochScheduler: byEpoch,
        progressScheduler: byProgress,
        validate: validation ? () => this.validate(validation, thresholds) : null,
        afterSteps: () => this.ddp?.syncBuffers(),
        agree: (flag) => this.agreeOnRankZero(flag),
        save: async (which) => {
          if (main) await saveRun(which === 'best' ? this.options.modelPath : lastPath, this.runState(), which === 'last');
        },
        lastPath,
        worldSize: this.ddp?.group.worldSize ?? 1,
      },
      this.progress,
      {
        epochs,
        earlyStop: options.earlyStop ?? d.earlyStop,
        maxMinutes: options.maxMinutes,
        validateEvery: Math.max(1, options.validateEvery ?? d.validateEvery),
        checkpointEvery: options.checkpointEvery ?? d.checkpointEvery,
        now,
        listeners,
        signal: options.signal,
      },
    );
  }

  /** One optimisation step on a batch; returns the loss (NaN/Inf are returned, not stepped on). */
  trainStep(batch: HostBatch): number {
    return this.stepOn(batch, false).loss;
  }

  private stepOn(batch: HostBatch, stop: boolean) {
    const { device, memoryFormat } = this.options;
    const { images, masks } = batchToTensors(batch, { device, classes: this.net.options.classes, memoryFormat });
    try {
      return trainStep(this.parts, images, masks, stop);
    } finally {
      images.dispose();
      masks.dispose();
    }
  }

  /** This rank's share of the validation data, scored over every rank. */
  private async validate(validation: AsyncIterable<HostBatch>, thresholds: readonly number[]): Promise<EvaluationReport> {
    const ddp = this.ddp;
    // a validation DataLoader decodes only this rank's images; other iterables are dealt out after the fact
    const part = ddp ? { rank: ddp.group.rank, worldSize: ddp.group.worldSize } : null;
    const ownLoader = validation instanceof DataLoader || validation instanceof SlideLoader;
    const shared = !part ? validation : ownLoader ? validation.epochBatches(0, part) : shard(validation, part.rank, part.worldSize);
    // masks that number their objects: scored as numbered
    const batches = validation instanceof DataLoader && validation.foreground === 'instances' ? withInstanceLabels(shared, validation, this.instanceLabelCache) : shared;
    const common = {
      device: this.options.device, amp: this.options.amp, loss: this.loss, downsample: this.downsample,
      reduce: ddp ? (counts: Float64Array) => ddp.sumAcrossRanks(counts) : undefined,
    };
    if (this.net.options.classes > 1) return evaluateMulticlass(this.net, batches, common);
    const report = await evaluateBinary(this.net, batches, { ...common, thresholds: [...thresholds], sweep: true, objects: this.objectMetrics });
    // the checkpoints written after this validation carry the threshold that suits their weights best
    const best = report.sweep!.best.threshold;
    if (Number.isFinite(best)) this.threshold = best;
    return report;
  }

  /** True on every rank when rank 0 says so. */
  private agreeOnRankZero(flag: boolean): boolean {
    if (!this.ddp) return flag;
    const mine = new Float64Array([this.ddp.group.rank === 0 && flag ? 1 : 0]);
    return this.ddp.sumAcrossRanks(mine)[0] > 0;
  }

  /** Scores the network on `batches` (whole images) at `thresholds`. */
  async evaluate(batches: AsyncIterable<HostBatch>, options: { thresholds?: number[]; sweep?: boolean } = {}): Promise<EvaluationReport> {
    await this.ready();
    const common = { device: this.options.device, amp: this.options.amp, loss: this.loss, downsample: this.downsample };
    return this.net.options.classes > 1
      ? evaluateMulticlass(this.net, batches, common)
      : evaluateBinary(this.net, batches, { ...options, ...common });
  }

  /**
   * Probabilities [N, classes, H, W] for normalised images [N, C, H, W]; a
   * model with a working resolution shrinks them first and brings its
   * probabilities back to H x W (data/scale.ts).
   */
  async predict(images: Tensor): Promise<Tensor> {
    await this.ready();
    const wasTraining = this.net.training;
    this.net.eval();
    try {
      const { device, amp } = this.options;
      const f = this.downsample;
      return noGrad(() =>
        tidy(() => {
          if (f === 1) return this.net.probabilities(mixedPrecision(device, amp, () => this.net.forward(images)));
          const [n, c, height, width] = images.shape;
          const [h, w] = [scaledSide(height, f), scaledSide(width, f)];
          const small = tensor(downsamplePlanar(images.toFloat32Array(), n, c, height, width, f), [n, c, h, w]).to(device);
          const p = this.net.probabilities(mixedPrecision(device, amp, () => this.net.forward(small))).to('float32');
          const k = p.shape[1];
          return tensor(upsamplePlanar(p.toFloat32Array(), n * k, h, w, f, height, width), [n, k, height, width]).to(device);
        }),
      );
    } finally {
      this.net.train(wasTraining);
    }
  }

  /** Writes a checkpoint; `full` adds optimizer, scheduler and RNG state for resuming. */
  async saveTo(path: string, full: boolean): Promise<void> {
    await saveRun(path, this.runState(), full);
  }

  /** The run as a checkpoint records it; the counters object is shared, so a resume updates this model's. */
  private runState(): RunState {
    const { device, amp, memoryFormat, modelPath: _path, loadModel: _load, ...training } = this.options;
    return {
      net: this.net,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      progress: this.progress,
      normalization: this.normalization,
      threshold: this.threshold,
      data: this.data,
      plan: this.plan,
      training: {
        ...training, loss: this.options.loss ?? null, posWeight: this.options.posWeight ?? null, ignoreIndex: this.options.ignoreIndex ?? null,
        amp: amp ?? null, memoryFormat,
      },
      device,
      classes: this.named ? { names: this.named.classes.names, colors: this.named.classes.colors } : null,
      mpp: this.named?.mpp ?? null,
      downsample: this.downsample,
    };
  }

  /** Frees the network's and optimizer's native memory. */
  dispose(): void {
    this.optimizer.dispose();
    this.net.dispose();
  }
}

/** Every worldSize-th batch starting at rank: this rank's share of validation. */
async function* shard<T>(batches: AsyncIterable<T>, rank: number, worldSize: number): AsyncGenerator<T> {
  let i = 0;
  for await (const batch of batches) if (i++ % worldSize === rank) yield batch;
}
