/**
 * The training loop: epochs of steps, the validation and checkpoint cadence,
 * the time budget, early stopping, and stops asked for through an
 * AbortSignal. It knows no network and no file format: the step, the
 * validation and the saves come in as functions, time comes from an injected
 * clock (tests pass a fake one), and what happens is told to listeners (the
 * progress bar, train.jsonl, the caller's onEpoch).
 */
import type { HostBatch } from '../data/types.js';
import type { HasLearningRate, LRScheduler } from '../optim/schedulers.js';
import type { EvaluationReport } from './evaluate.js';
import { seekProgress } from './schedule.js';
import type { StepResult } from './step.js';

/** What one epoch did: its losses, validation scores, rate and speed. */
export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  dice: Record<string, number>;
  iou: Record<string, number>;
  /** Dice of the background class (membrane, for the membrane data) per threshold. */
  backgroundDice: Record<string, number>;
  /** The validation's threshold sweep: its best threshold by mean Dice, and that Dice; null when not swept. */
  sweep: { threshold: number; dice: number } | null;
  /**
   * The field's object scores at the first threshold: GlaS's object F1, Dice
   * and Hausdorff distance, or ISBI 2012's V_rand and V_info; absent when the
   * validation did not score objects.
   */
  objects?: { f1: number; objectDice: number; objectHausdorff: number | null } | { vRand: number; vInfo: number };
  lr: number;
  imagesPerSecond: number;
  /** Share of the epoch spent waiting for the loader. */
  dataWait: number;
  seconds: number;
  best: boolean;
}

/** Hooks into a run; each is optional. Epochs and steps count from 1 here, as they are shown. */
export interface TrainingListener {
  epochStart?(event: { epoch: number; epochs: number; steps: number }): void;
  /** after each step, with the rate the step used */
  step?(event: { epoch: number; step: number; loss: number; lr: number; images: number }): void;
  /** after the epoch's checkpoints are written */
  epochEnd?(record: EpochRecord): void;
  /** the run is over: finished, stopped or failed */
  end?(): void;
}

/** The run's counters: saved in every checkpoint, restored by a resume. */
export interface RunProgress {
  /** completed epochs */
  epoch: number;
  bestDice: number | null;
  /** epochs since the best one (early stopping) */
  epochsSinceBest: number;
  /** training seconds of the whole run so far, time before a resume included */
  elapsedSeconds: number;
}

/** What the loop drives. */
export interface LoopParts {
  /** batches per epoch */
  steps: number;
  batches(epoch: number): AsyncIterable<HostBatch>;
  /** one optimisation step; `stop` is passed on to every rank (see trainStep) */
  step(batch: HostBatch, stop: boolean): StepResult;
  optimizer: HasLearningRate;
  /** stepped after every epoch (a schedule over epochs) */
  epochScheduler: LRScheduler | null;
  /** set before every step to the run's progress 0..1 (a schedule over a time budget) */
  progressScheduler: LRScheduler | null;
  /** null without validation data */
  validate: (() => Promise<EvaluationReport>) | null;
  /** after each epoch's steps (data-parallel: every rank takes rank 0's batch-norm statistics) */
  afterSteps(): void;
  /** true on every rank when rank 0 says so (one process: the flag itself) */
  agree(flag: boolean): boolean;
  /** 'best' writes the best model, 'last' the checkpoint to resume from; a no-op on ranks other than 0 */
  save(which: 'best' | 'last'): Promise<void>;
  /** where 'last' goes, for messages */
  lastPath: string;
  /** processes training together: each trains its share of every batch */
  worldSize: number;
}

export interface LoopOptions {
  epochs: number;
  earlyStop: number;
  maxMinutes?: number;
  validateEvery: number;
  checkpointEvery: number;
  /** milliseconds, monotonic */
  now: () => number;
  listeners: TrainingListener[];
  /** aborted: stop after the current step, write last.pt, reject with TrainingInterrupted */
  signal?: AbortSignal;
}

/** Raised when the loss stops being finite; the last good checkpoint is untouched. */
export class NonFiniteLossError extends Error {}

/** Raised after a stop asked for through the signal, once last.pt holds the work done. */
export class TrainingInterrupted extends Error {
  constructor(
    /** the signal's reason, e.g. 'SIGINT' */
    readonly reason: unknown,
    /** completed epochs in last.pt; a resume starts the next one from its first batch */
    readonly epoch: number,
    /** steps of the next epoch trained before the stop, whose updates last.pt holds too */
    readonly steps: number,
    readonly lastPath: string,
  ) {
    super(
      `training stopped (${String(reason)}) after ${epoch} epoch${epoch === 1 ? '' : 's'}` +
        (steps ? ` and ${steps} step${steps === 1 ? '' : 's'} of epoch ${epoch + 1} (a resume trains that epoch again from its first batch)` : '') +
        `; ${lastPath} holds the weights and optimizer state`,
    );
    this.name = 'TrainingInterrupted';
  }
}

/** Trains epochs until the epoch count, the time budget or early stopping ends the run. */
export async function runEpochs(parts: LoopParts, progress: RunProgress, options: LoopOptions): Promise<EpochRecord[]> {
  const { now, listeners } = options;
  const secondsBefore = progress.elapsedSeconds;
  const startedAt = now();
  const elapsed = () => secondsBefore + (now() - startedAt) / 1000;
  const emit = <K extends keyof TrainingListener>(event: K, arg?: Parameters<NonNullable<TrainingListener[K]>>[0]) => {
    for (const l of listeners) (l[event] as ((a: typeof arg) => void) | undefined)?.call(l, arg);
  };
  // a resumed run starts from a written last.pt
  let lastWritten = progress.epoch > 0;
  const save = async (which: 'best' | 'last') => {
    progress.elapsedSeconds = elapsed();
    await parts.save(which);
    if (which === 'last') lastWritten = true;
  };
  const records: EpochRecord[] = [];
  let lastWrite = now();
  try {
    while (progress.epoch < options.epochs) {
      if (parts.agree(options.signal?.aborted ?? false)) throw await interrupted(0);
      const epoch = progress.epoch;
      emit('epochStart', { epoch: epoch + 1, epochs: options.epochs, steps: parts.steps });
      const start = now();
      let waiting = 0;
      let lossSum = 0;
      let images = 0;
      let step = 0;
      const iterator = parts.batches(epoch)[Symbol.asyncIterator]();
      try {
        for (;;) {
          if (parts.progressScheduler) {
            const byEpochs = (epoch + step / Math.max(1, parts.steps)) / options.epochs;
            seekProgress(parts.progressScheduler, Math.max(byEpochs, elapsed() / (options.maxMinutes! * 60)));
          }
          const waitStart = now();
          const next = await iterator.next();
          waiting += now() - waitStart;
          if (next.done) break;
          const batch = next.value;
          // alone, a stop abandons the batch; ranks step once more to agree on stopping (see trainStep)
          if (parts.worldSize === 1 && options.signal?.aborted) throw await interrupted(step);
          const lr = parts.optimizer.lr;
          const result = parts.step(batch, options.signal?.aborted ?? false);
          if (!Number.isFinite(result.loss)) {
            throw new NonFiniteLossError(
              `training stopped: the loss became ${result.loss} at epoch ${epoch + 1}, step ${step + 1}; ` +
                (lastWritten ? `the last good checkpoint is ${parts.lastPath}` : 'no checkpoint was written yet') + ' (try a lower --lr)',
            );
          }
          lossSum += result.loss * batch.shape[0];
          images += batch.shape[0];
          step++;
          emit('step', { epoch: epoch + 1, step, loss: result.loss, lr, images: batch.shape[0] });
          if (result.stop) throw await interrupted(step);
        }
      } finally {
        await iterator.return?.();
      }
      const trainSeconds = (now() - start) / 1000;
      progress.epoch = epoch + 1;
      // the epoch's rate (with a time budget, that of its last step)
      const lr = parts.optimizer.lr;
      parts.epochScheduler?.step();
      // decided after the epoch's steps, before its validation: the last epoch is always validated;
      // every rank must stop after the same epoch, so rank 0's clock decides
      const late = options.maxMinutes !== undefined && elapsed() >= options.maxMinutes * 60;
      const last = parts.agree(late) || progress.epoch >= options.epochs;
      parts.afterSteps();
      const report = parts.validate && (last || progress.epoch % options.validateEvery === 0) ? await parts.validate() : null;
      // the first threshold decides the best epoch ('argmax' for several classes)
      const current = report ? Object.values(report.thresholds)[0].dice : null;
      // without validation data every epoch is the best so far; skipped validations never are
      const best = current === null ? !parts.validate : progress.bestDice === null || current > progress.bestDice;
      if (best && current !== null) progress.bestDice = current;
      progress.epochsSinceBest = best ? 0 : progress.epochsSinceBest + 1;
      const record: EpochRecord = {
        epoch: progress.epoch,
        trainLoss: lossSum / Math.max(1, images),
        valLoss: report?.loss ?? null,
        dice: scoresOf(report, 'dice'),
        iou: scoresOf(report, 'iou'),
        backgroundDice: report ? Object.fromEntries(Object.entries(report.background).map(([t, s]) => [t, s.dice])) : {},
        sweep: report?.sweep && Number.isFinite(report.sweep.best.threshold) ? { threshold: report.sweep.best.threshold, dice: report.sweep.best.dice } : null,
        ...objectScoresOf(report),
        lr,
        // the whole job's rate: every rank trains its own share of the batches
        imagesPerSecond: (images * parts.worldSize) / trainSeconds,
        dataWait: waiting / 1000 / trainSeconds,
        seconds: (now() - start) / 1000,
        best,
      };
      const stopping = last || (options.earlyStop > 0 && progress.epochsSinceBest >= options.earlyStop);
      // the best model first: a kill between the two writes never leaves last.pt naming a best score whose weights are not on disk
      if (best) await save('best');
      if (options.checkpointEvery <= 0 || stopping || now() - lastWrite >= options.checkpointEvery * 1000) {
        await save('last');
        lastWrite = now();
      }
      records.push(record);
      emit('epochEnd', record);
      if (stopping) break;
    }
  } finally {
    emit('end');
  }
  return records;

  /** Writes last.pt with the work done so far (`steps` of the next epoch too) and makes the error to throw. */
  async function interrupted(steps: number): Promise<TrainingInterrupted> {
    await save('last');
    return new TrainingInterrupted(options.signal?.reason, progress.epoch, steps, parts.lastPath);
  }

  function objectScoresOf(report: EvaluationReport | null): Pick<EpochRecord, 'objects'> {
    if (report?.glas) return { objects: { f1: report.glas.f1, objectDice: report.glas.objectDice, objectHausdorff: report.glas.objectHausdorff } };
    if (report?.isbi) return { objects: { vRand: report.isbi.vRand, vInfo: report.isbi.vInfo } };
    return {};
  }

  function scoresOf(report: EvaluationReport | null, score: 'dice' | 'iou'): Record<string, number> {
    return report ? Object.fromEntries(Object.entries(report.thresholds).map(([t, s]) => [t, s[score]])) : {};
  }
}
