/**
 * Model: the original patho's training API over a U-Net.
 *
 * ```ts
 * const net = new UNET({ inChannels: 1 });
 * const model = new Model(net, { lr: 5e-3, withJaccard: true, loadModel: false });
 * await model.train(new DataLoader('data/membrane/train', 'images', 'masks', { batchSize: 4 }), { epochs: 10 });
 * ```
 * Every epoch it logs the losses, Dice/IoU at each threshold, learning rate and
 * throughput (terminal and JSON lines), and writes the latest and the best
 * checkpoint atomically; `resume` continues from the latest exactly.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ProgressBar } from '../cli/progress.js';
import { batchToTensors } from '../data/tensors.js';
import { DataLoader } from '../data/loader.js';
import type { ChannelStats } from '../data/normalize.js';
import type { ForegroundSpec } from '../data/masks.js';
import type { HostBatch } from '../data/types.js';
import { lossByName, type Loss, type LossName } from '../losses/index.js';
import { UNet } from '../models/unet.js';
import { Adam, SGD, type Optimizer } from '../optim/index.js';
import { CosineAnnealingLR, PolynomialLR, StepLR, type LRScheduler } from '../optim/schedulers.js';
import { cuda, getRngState, mixedPrecision, noGrad, setRngState, buildInfo } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { Tensor, type Device, type DType, type MemoryFormat } from '../tensor/tensor.js';
import { evaluateBinary, evaluateMulticlass, type EvaluationReport } from './evaluate.js';
import { CHECKPOINT_FORMAT, disposeCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { RunLog } from './log.js';
import { GradScaler } from './scaler.js';
import { DistributedDataParallel } from '../parallel/ddp.js';
import type { ProcessGroup } from '../parallel/group.js';

export interface ModelOptions {
  /** Learning rate. Default 5e-3 (the original patho). */
  lr?: number;
  /** BCE with the soft Jaccard term (the original patho's loss). Default true; ignored when `loss` is set. */
  withJaccard?: boolean;
  /** Load weights from `modelPath` before training or predicting. Default false. */
  loadModel?: boolean;
  /** Where the best weights go (and are loaded from). Default 'data/model.pt'. */
  modelPath?: string;
  optimizer?: 'sgd' | 'adam';
  /** SGD momentum. Default 0.99 (the U-Net paper). */
  momentum?: number;
  weightDecay?: number;
  loss?: LossName;
  /** Foreground weight of BCE (class imbalance). */
  posWeight?: number;
  /**
   * Learning-rate schedule. Default 'none'. It spans the epochs of `train()`;
   * with a time budget (`maxMinutes`) it follows every step over whichever of
   * the epochs and the budget runs out first, so a 20-minute run ends at the
   * low rate whatever its epoch count.
   */
  schedule?: 'none' | 'cosine' | 'poly' | 'step';
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
  /** The plan the run was made from (`patho plan`), stored in its checkpoints. */
  plan?: object | null;
}

export interface TrainOptions {
  epochs?: number;
  /** Validation batches; default: the loader's own validation split, if any. */
  validation?: AsyncIterable<HostBatch> | null;
  thresholds?: number[];
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
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  dice: Record<string, number>;
  iou: Record<string, number>;
  /** Dice of the background class (membrane, for the membrane data) per threshold. */
  backgroundDice: Record<string, number>;
  lr: number;
  imagesPerSecond: number;
  /** Share of the epoch spent waiting for the loader. */
  dataWait: number;
  seconds: number;
  best: boolean;
}

/** Raised when the loss stops being finite; the last good checkpoint is untouched. */
export class NonFiniteLossError extends Error {}

const DEFAULTS = {
  lr: 5e-3,
  withJaccard: true,
  loadModel: false,
  modelPath: 'data/model.pt',
  optimizer: 'sgd',
  momentum: 0.99,
  weightDecay: 0,
  schedule: 'none',
  device: 'cpu',
  amp: null,
  memoryFormat: 'contiguous',
} as const;

export class Model {
  readonly net: UNet;
  readonly options: Required<Omit<ModelOptions, 'loss' | 'posWeight' | 'group' | 'plan'>> & Pick<ModelOptions, 'loss' | 'posWeight'>;
  readonly plan: object | null;
  /** Set when training data-parallel across processes. */
  readonly ddp: DistributedDataParallel | null;
  readonly optimizer: Optimizer<{ lr: number }>;
  readonly loss: Loss;
  /** Normalisation of the training data, saved with the weights. */
  normalization: ChannelStats | null = null;
  /** Completed epochs (continues after resume). */
  epoch = 0;
  bestDice: number | null = null;
  /** Epochs since the best one (early stopping; kept across a resume). */
  epochsSinceBest = 0;
  threshold = 0.5;
  private scheduler: LRScheduler | null = null;
  /** Set instead of `scheduler` when a time budget drives the schedule (see ModelOptions.schedule). */
  private budget: { epochs: number; seconds: number } | null = null;
  /** Training seconds of this run before the current train() call (from a resumed checkpoint). */
  private secondsBefore = 0;
  /** performance.now() when the current train() call started. */
  private startedAt = 0;
  /** The data of the current training run, saved with the weights. */
  private data: DataSource | null = null;
  private readonly scaler: GradScaler | null;
  private loading: Promise<void> | null;

  constructor(net: UNet, options: ModelOptions = {}) {
    this.net = net;
    const { group: _group, plan, ...rest } = options;
    this.plan = plan ?? null;
    this.options = { ...DEFAULTS, ...rest } as Model['options'];
    const o = this.options;
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
    this.loss = lossByName(lossName, { posWeight: o.posWeight });
    this.optimizer =
      o.optimizer === 'adam'
        ? new Adam(net.parameters(), { lr: o.lr, weightDecay: o.weightDecay })
        : new SGD(net.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    this.scaler = o.amp === 'float16' ? new GradScaler() : null;
    const group = options.group ?? net.group;
    this.ddp = group ? new DistributedDataParallel(net, group) : null;
    this.loading = o.loadModel ? this.loadWeights(o.modelPath) : null;
    // a failed load surfaces at the first train/evaluate/predict, not as an unhandled rejection before it
    this.loading?.catch(() => undefined);
  }

  /** Loads weights (and normalisation, threshold) from a checkpoint or a PyTorch state_dict. */
  async loadWeights(path: string): Promise<void> {
    const checkpoint = await loadCheckpoint(path, { device: this.options.device });
    try {
      this.net.loadStateDict(checkpoint.model);
      this.normalization = checkpoint.meta.normalization ?? null;
      this.threshold = checkpoint.meta.threshold ?? 0.5;
      this.bestDice = checkpoint.meta.bestDice ?? null;
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }

  /** Rank 0 (or the only process) writes checkpoints, logs and progress. */
  get isMainProcess(): boolean {
    return !this.ddp || this.ddp.group.rank === 0;
  }

  private async ready(): Promise<void> {
    if (this.loading) await this.loading;
  }

  /** Trains for `epochs` epochs on `loader` (a DataLoader or any async iterable of batches per epoch). */
  async train(loader: DataLoader, options: TrainOptions = {}): Promise<EpochRecord[]> {
    await this.ready();
    const epochs = options.epochs ?? 10;
    const thresholds = options.thresholds ?? [0.5, 0.7];
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
    this.data = await describeData(loader, options.validation === undefined ? (validation as DataLoader | null) : null);
    const budgeted = options.maxMinutes !== undefined && this.options.schedule !== 'none';
    this.scheduler = budgeted ? null : this.makeScheduler(epochs);
    this.budget = budgeted ? { epochs, seconds: options.maxMinutes! * 60 } : null;
    this.secondsBefore = 0;
    this.epochsSinceBest = 0;
    if (options.resume) {
      if (!existsSync(lastPath)) throw new Error(`--resume: no checkpoint at ${lastPath} to resume from`);
      await this.resumeFrom(lastPath);
    }
    const log = main ? new RunLog<EpochRecord & { event: 'epoch' }>(join(outDir, 'train.jsonl'), { append: options.resume ?? false }) : null;
    const progress = main && options.progress !== null ? options.progress ?? process.stderr : null;
    this.startedAt = performance.now();
    const records: EpochRecord[] = [];
    const validateEvery = Math.max(1, options.validateEvery ?? 1);
    const checkpointEvery = options.checkpointEvery ?? 0;
    let lastWrite = performance.now();
    try {
      while (this.epoch < epochs) {
        const isLast = () => this.reachedEnd(epochs, options.maxMinutes);
        const { record, last } = await this.trainEpoch(loader, validation, thresholds, epochs, progress, lastPath, validateEvery, isLast);
        this.epochsSinceBest = record.best ? 0 : this.epochsSinceBest + 1;
        const stopping = last || Boolean(options.earlyStop && this.epochsSinceBest >= options.earlyStop);
        if (main) {
          if (checkpointEvery <= 0 || stopping || performance.now() - lastWrite >= checkpointEvery * 1000) {
            await this.saveTo(lastPath, true);
            lastWrite = performance.now();
          }
          if (record.best) await this.saveTo(this.options.modelPath, false);
          log!.write({ event: 'epoch', ...record });
        }
        records.push(record);
        options.onEpoch?.(record);
        if (stopping) break;
      }
    } finally {
      log?.close();
    }
    return records;
  }

  private async trainEpoch(
    loader: DataLoader,
    validation: AsyncIterable<HostBatch> | null,
    thresholds: number[],
    epochs: number,
    progressStream: NodeJS.WritableStream | null,
    lastPath: string,
    validateEvery: number,
    isLast: () => boolean,
  ): Promise<{ record: EpochRecord; last: boolean }> {
    const epoch = this.epoch;
    this.net.train();
    const bar = progressStream ? new ProgressBar({ total: loader.length, label: `epoch ${epoch + 1}/${epochs}`, unit: 'batches', stream: progressStream as never }) : null;
    const start = performance.now();
    let waiting = 0;
    let lossSum = 0;
    let images = 0;
    let step = 0;
    const iterator = loader.epochBatches(epoch);
    const steps = loader.length;
    for (;;) {
      if (this.budget) this.optimizer.lr = this.options.lr * scheduleFactor(this.options.schedule, this.budgetProgress(step, steps));
      const waitStart = performance.now();
      const next = await iterator.next();
      waiting += performance.now() - waitStart;
      if (next.done) break;
      const batch = next.value;
      const loss = this.trainStep(batch);
      if (!Number.isFinite(loss)) {
        throw new NonFiniteLossError(
          `training stopped: the loss became ${loss} at epoch ${epoch + 1}, step ${step + 1}; ` +
            (existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no checkpoint was written yet') + ' (try a lower --lr)',
        );
      }
      lossSum += loss * batch.shape[0];
      images += batch.shape[0];
      step++;
      bar?.setStatus(`loss ${loss.toFixed(4)}`);
      bar?.tick();
    }
    bar?.done();
    const trainSeconds = (performance.now() - start) / 1000;
    this.epoch = epoch + 1;
    // the epoch's rate (with a time budget, that of its last step)
    const lr = this.optimizer.lr;
    this.scheduler?.step();
    // decided after the epoch's steps, before its validation: the last epoch is always validated
    const last = isLast();
    // every rank keeps rank 0's batch-norm statistics, as DDP's broadcast_buffers
    this.ddp?.syncBuffers();
    let report: EvaluationReport | null = null;
    if (validation && (last || this.epoch % validateEvery === 0)) {
      const ddp = this.ddp;
      // a validation DataLoader decodes only this rank's images; other iterables are dealt out after the fact
      const part = ddp ? { rank: ddp.group.rank, worldSize: ddp.group.worldSize } : null;
      const batches = !part ? validation : validation instanceof DataLoader ? validation.epochBatches(0, part) : shard(validation, part.rank, part.worldSize);
      const common = {
        device: this.options.device, amp: this.options.amp, loss: this.loss,
        reduce: ddp ? (counts: Float64Array) => ddp.sumAcrossRanks(counts) : undefined,
      };
      report = this.net.options.classes > 1
        ? await evaluateMulticlass(this.net, batches, common)
        : await evaluateBinary(this.net, batches, { ...common, thresholds });
    }
    // the first threshold decides the best epoch ('argmax' for several classes)
    const key = report ? Object.keys(report.thresholds)[0] : String(thresholds[0]);
    const dice = report ? Object.fromEntries(Object.entries(report.thresholds).map(([t, s]) => [t, s.dice])) : {};
    const current = report ? report.thresholds[key].dice : null;
    // without validation data every epoch is the best so far; skipped validations never are
    const best = current === null ? !validation : this.bestDice === null || current > this.bestDice;
    if (best && current !== null) this.bestDice = current;
    const record: EpochRecord = {
      epoch: this.epoch,
      trainLoss: lossSum / Math.max(1, images),
      valLoss: report?.loss ?? null,
      dice,
      iou: report ? Object.fromEntries(Object.entries(report.thresholds).map(([t, s]) => [t, s.iou])) : {},
      backgroundDice: report ? Object.fromEntries(Object.entries(report.background).map(([t, s]) => [t, s.dice])) : {},
      lr,
      // the whole job's rate: every rank trains its own share of the batches
      imagesPerSecond: (images * (this.ddp?.group.worldSize ?? 1)) / trainSeconds,
      dataWait: waiting / 1000 / trainSeconds,
      seconds: (performance.now() - start) / 1000,
      best,
    };
    progressStream?.write(formatEpoch(record) + '\n');
    return { record, last };
  }

  /** Whether the epoch just trained is the run's last: its epochs are done or its time budget is spent. */
  private reachedEnd(epochs: number, maxMinutes: number | undefined): boolean {
    const late = maxMinutes !== undefined && this.elapsedSeconds() >= maxMinutes * 60;
    // every rank must stop after the same epoch: rank 0's clock decides
    return this.agreeOnRankZero(late) || this.epoch >= epochs;
  }

  /** Training seconds of the whole run so far (resumed runs count their earlier time). */
  private elapsedSeconds(): number {
    return this.secondsBefore + (performance.now() - this.startedAt) / 1000;
  }

  /** How far through its epochs or its time budget (whichever is further) the run is, 0..1. */
  private budgetProgress(step: number, steps: number): number {
    const { epochs, seconds } = this.budget!;
    const byEpochs = (this.epoch + step / Math.max(1, steps)) / epochs;
    return Math.min(1, Math.max(byEpochs, this.elapsedSeconds() / seconds));
  }

  /** One optimisation step on a batch; returns the loss (NaN/Inf are returned, not stepped on). */
  trainStep(batch: HostBatch): number {
    const { device, amp, memoryFormat } = this.options;
    const local = tidy(() => {
      const { images, masks } = batchToTensors(batch, { device, classes: this.net.options.classes, memoryFormat });
      const logits = mixedPrecision(device, amp, () => this.net.forward(images));
      const value = this.loss(logits, masks);
      const v = value.item();
      if (Number.isFinite(v)) (this.scaler ? this.scaler.scaleLoss(value) : value).backward();
      return v;
    });
    // ranks agree on the loss (its mean), so a NaN on one rank stops them all at the same step
    const loss = this.ddp ? this.ddp.sumAcrossRanks(new Float64Array([local]))[0] / this.ddp.group.worldSize : local;
    if (!Number.isFinite(loss)) {
      this.optimizer.zeroGrad();
      return loss;
    }
    this.ddp?.syncGradients();
    if (!this.scaler || this.scaler.unscale(this.optimizer.params)) this.optimizer.step();
    this.optimizer.zeroGrad();
    return loss;
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
    const common = { device: this.options.device, amp: this.options.amp, loss: this.loss };
    return this.net.options.classes > 1
      ? evaluateMulticlass(this.net, batches, common)
      : evaluateBinary(this.net, batches, { ...options, ...common });
  }

  /** Probabilities [N, classes, H, W] for normalised images [N, C, H, W]. */
  async predict(images: Tensor): Promise<Tensor> {
    await this.ready();
    const wasTraining = this.net.training;
    this.net.eval();
    try {
      const { device, amp } = this.options;
      return noGrad(() =>
        tidy(() => {
          const logits = mixedPrecision(device, amp, () => this.net.forward(images));
          return this.net.probabilities(logits);
        }),
      );
    } finally {
      this.net.train(wasTraining);
    }
  }

  private makeScheduler(epochs: number): LRScheduler | null {
    switch (this.options.schedule) {
      case 'cosine':
        return new CosineAnnealingLR(this.optimizer, epochs);
      case 'poly':
        return new PolynomialLR(this.optimizer, epochs, 0.9);
      case 'step':
        return new StepLR(this.optimizer, Math.max(1, Math.floor(epochs / 3)), 0.1);
      default:
        return null;
    }
  }

  /** Writes a checkpoint; `full` adds optimizer, scheduler and RNG state for resuming. */
  async saveTo(path: string, full: boolean): Promise<void> {
    const rngState = full ? getRngState() : undefined;
    try {
      await saveCheckpoint(path, {
        ...this.meta(),
        model: this.net.stateDict(),
        optimizer: full ? (this.optimizer.stateDict() as never) : undefined,
        scheduler: full && this.scheduler ? (this.scheduler.stateDict() as never) : undefined,
        rngState,
      });
    } finally {
      rngState?.dispose();
    }
  }

  private meta(): CheckpointMeta & { data: DataSource | null } {
    const { device, amp, memoryFormat, modelPath: _path, loadModel: _load, ...training } = this.options;
    return {
      format: CHECKPOINT_FORMAT,
      epoch: this.epoch,
      unet: this.net.options,
      training: { ...training, loss: this.options.loss ?? null, posWeight: this.options.posWeight ?? null, amp: amp ?? null, memoryFormat },
      normalization: this.normalization,
      threshold: this.threshold,
      bestDice: this.bestDice,
      epochsSinceBest: this.epochsSinceBest,
      elapsedSeconds: this.startedAt ? this.elapsedSeconds() : this.secondsBefore,
      torchVersion: buildInfo().torchVersion,
      device,
      savedAt: new Date().toISOString(),
      data: this.data,
      plan: this.plan,
    };
  }

  private async resumeFrom(path: string): Promise<void> {
    const checkpoint = await loadCheckpoint(path, { device: this.options.device });
    try {
      if (checkpoint.meta.format !== CHECKPOINT_FORMAT) {
        throw new Error(`--resume: ${path} is not a patho training checkpoint (no epoch, optimizer or architecture in it)`);
      }
      const saved = checkpoint.meta.unet;
      const mine = this.net.options as unknown as Record<string, unknown>;
      const differs = Object.entries(saved ?? {}).filter(([k, v]) => mine[k] !== v);
      if (differs.length) {
        throw new Error(`--resume: ${path} was trained with ${differs.map(([k, v]) => `${k}=${v}`).join(', ')}; this run has ${differs.map(([k]) => `${k}=${mine[k]}`).join(', ')}`);
      }
      this.net.loadStateDict(checkpoint.model);
      if (checkpoint.optimizer) this.optimizer.loadStateDict(checkpoint.optimizer as never);
      if (checkpoint.scheduler && this.scheduler) this.scheduler.loadStateDict(checkpoint.scheduler as never);
      if (checkpoint.rngState) {
        // the CPU generator's state is a CPU byte tensor, whatever device the weights went to
        const state = checkpoint.rngState.to('cpu');
        setRngState(state);
        state.dispose();
      }
      this.epoch = checkpoint.meta.epoch;
      this.secondsBefore = checkpoint.meta.elapsedSeconds ?? 0;
      this.epochsSinceBest = checkpoint.meta.epochsSinceBest ?? 0;
      this.bestDice = checkpoint.meta.bestDice;
      this.threshold = checkpoint.meta.threshold;
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }

  /** Frees the network's and optimizer's native memory. */
  dispose(): void {
    this.optimizer.dispose();
    this.net.dispose();
  }
}

/**
 * The images a run trained and validated on, saved in its checkpoints (meta
 * `data`) so that `patho report` can score the same validation images later.
 */
export interface DataSource {
  /** absolute path of the training folder */
  root: string;
  images: string;
  masks: string;
  /** the mask values that were foreground; null for the default (0 vs the one other value) */
  foreground: ForegroundSpec | null;
  /** the loader's own validation pairs, absolute paths; empty without a validation split */
  validation: { name: string; image: string; mask: string }[];
}

async function describeData(loader: DataLoader, validation: DataLoader | null): Promise<DataSource> {
  const entries = validation ? (await validation.open()).dataset.entries : [];
  return {
    root: resolve(loader.root),
    images: loader.imagesDir,
    masks: loader.masksDir,
    // DataLoader keeps its options private, but how mask files were read is part of the run
    foreground: loader['options'].foreground ?? null,
    validation: entries.map((e) => ({ name: e.name, image: resolve(e.imagePath), mask: resolve(e.maskPath) })),
  };
}

/** The learning-rate multiplier of `schedule` at `progress` (0..1) through a run. */
export function scheduleFactor(schedule: ModelOptions['schedule'], progress: number): number {
  const p = Math.min(1, Math.max(0, progress));
  switch (schedule) {
    case 'cosine':
      return 0.5 * (1 + Math.cos(Math.PI * p));
    case 'poly':
      return Math.pow(1 - p, 0.9);
    case 'step':
      // x0.1 after each third, as the epoch-driven StepLR
      return Math.pow(0.1, Math.min(2, Math.floor(p * 3)));
    default:
      return 1;
  }
}

/** Every worldSize-th batch starting at rank: this rank's share of validation. */
async function* shard<T>(batches: AsyncIterable<T>, rank: number, worldSize: number): AsyncGenerator<T> {
  let i = 0;
  for await (const batch of batches) if (i++ % worldSize === rank) yield batch;
}

function formatEpoch(r: EpochRecord): string {
  const scores = Object.keys(r.dice)
    .map((t) => `dice@${t} ${r.dice[t].toFixed(4)} iou@${t} ${r.iou[t].toFixed(4)}`)
    .join('  ');
  const bg = Object.keys(r.backgroundDice).length ? `  background dice@${Object.keys(r.backgroundDice)[0]} ${Object.values(r.backgroundDice)[0].toFixed(4)}` : '';
  return (
    `epoch ${r.epoch}  loss ${r.trainLoss.toFixed(4)}` +
    (r.valLoss !== null ? `  val_loss ${r.valLoss.toFixed(4)}` : '') +
    (scores ? `  ${scores}` : '') + bg +
    `  lr ${r.lr.toPrecision(3)}  ${r.imagesPerSecond.toFixed(2)} img/s  data wait ${(r.dataWait * 100).toFixed(1)}%` +
    (r.best ? '  (best)' : '')
  );
}

