/**
 * Learning-rate schedules, stepped once per epoch. Each computes the rate from
 * the epoch in closed form, so a resumed run gets exactly the same rates.
 */

export interface HasLearningRate {
  lr: number;
}

export interface SchedulerState {
  kind: string;
  epoch: number;
  baseLr: number;
  [extra: string]: number | string;
}

export abstract class LRScheduler {
  epoch = 0;
  readonly baseLr: number;

  constructor(protected readonly optimizer: HasLearningRate) {
    this.baseLr = optimizer.lr;
  }

  /** The rate at `epoch`, which may be fractional (a time-budgeted run moves through its schedule step by step). */
  abstract rateAt(epoch: number): number;

  /** Advances one epoch and sets the optimizer's rate. */
  step(): void {
    this.seek(this.epoch + 1);
  }

  /** Moves to `epoch` (fractional or not) and sets the optimizer's rate. */
  seek(epoch: number): void {
    this.epoch = epoch;
    this.optimizer.lr = this.rateAt(epoch);
  }

  stateDict(): SchedulerState {
    return { kind: this.constructor.name, epoch: this.epoch, baseLr: this.baseLr };
  }

  loadStateDict(state: SchedulerState): void {
    if (state.kind !== this.constructor.name) throw new Error(`scheduler state is for ${state.kind}, not ${this.constructor.name}`);
    this.epoch = state.epoch;
    (this as { baseLr: number }).baseLr = state.baseLr;
    this.optimizer.lr = this.rateAt(this.epoch);
  }
}

/** lr = base * gamma^floor(epoch / stepSize) (torch StepLR). */
export class StepLR extends LRScheduler {
  constructor(optimizer: HasLearningRate, readonly stepSize: number, readonly gamma = 0.1) {
    super(optimizer);
  }
  rateAt(epoch: number): number {
    return this.baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = base * gamma^(milestones reached) (torch MultiStepLR). */
export class MultiStepLR extends LRScheduler {
  constructor(optimizer: HasLearningRate, readonly milestones: readonly number[], readonly gamma = 0.1) {
    super(optimizer);
  }
  rateAt(epoch: number): number {
    return this.baseLr * this.gamma ** this.milestones.filter((m) => epoch >= m).length;
  }
}

/**
 * Cosine from base to etaMin over tMax epochs, then back up (torch
 * CosineAnnealingLR's closed form, which is periodic past tMax).
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: HasLearningRate, readonly tMax: number, readonly etaMin = 0) {
    super(optimizer);
  }
  rateAt(epoch: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** lr = base * (1 - epoch / totalIters)^power, as the poly schedule of DeepLab/nnU-Net (torch PolynomialLR). */
export class PolynomialLR extends LRScheduler {
  constructor(optimizer: HasLearningRate, readonly totalIters: number, readonly power = 1) {
    super(optimizer);
  }
  rateAt(epoch: number): number {
    return this.baseLr * (1 - Math.min(epoch, this.totalIters) / this.totalIters) ** this.power;
  }
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  minLr?: number;
}

/** Multiplies the rate by `factor` when the metric has not improved for `patience` epochs (relative threshold). */
export class ReduceLROnPlateau {
  private best: number;
  private badEpochs = 0;
  readonly options: Required<ReduceLROnPlateauOptions>;

  constructor(private readonly optimizer: HasLearningRate, options: ReduceLROnPlateauOptions = {}) {
    this.options = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, minLr: 0, ...options };
    if (!(this.options.factor < 1)) throw new Error('ReduceLROnPlateau: factor must be < 1');
    this.best = this.options.mode === 'min' ? Infinity : -Infinity;
  }

  step(metric: number): void {
    const { mode, threshold, patience, factor, minLr } = this.options;
    const improved = mode === 'min' ? metric < this.best * (1 - threshold) : metric > this.best * (1 + threshold);
    if (improved) {
      this.best = metric;
      this.badEpochs = 0;
    } else if (++this.badEpochs > patience) {
      this.optimizer.lr = Math.max(this.optimizer.lr * factor, minLr);
      this.badEpochs = 0;
    }
  }

  stateDict(): SchedulerState {
    return { kind: 'ReduceLROnPlateau', epoch: 0, baseLr: this.optimizer.lr, best: this.best, badEpochs: this.badEpochs };
  }

  loadStateDict(state: SchedulerState): void {
    this.best = Number(state.best);
    this.badEpochs = Number(state.badEpochs);
    this.optimizer.lr = state.baseLr;
  }
}
