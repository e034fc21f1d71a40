/**
 * The named schedules of `--schedule`, built from src/optim's schedulers:
 * over the epochs of a run (stepped once per epoch), or over a run's
 * progress from 0 to 1 when a time budget drives it (seeked every step, so a
 * 20-minute run ends at the low rate whatever its epoch count).
 */
import { CosineAnnealingLR, MultiStepLR, PolynomialLR, StepLR, type HasLearningRate, type LRScheduler } from '../optim/schedulers.js';
import type { ScheduleName } from './defaults.js';

/** The polynomial schedule's power, as nnU-Net's. */
const POLY_POWER = 0.9;

/** `name` over `epochs` epochs; null for a constant rate. */
export function epochScheduler(name: ScheduleName, optimizer: HasLearningRate, epochs: number): LRScheduler | null {
  switch (name) {
    case 'cosine':
      return new CosineAnnealingLR(optimizer, epochs);
    case 'poly':
      return new PolynomialLR(optimizer, epochs, POLY_POWER);
    case 'step':
      return new StepLR(optimizer, Math.max(1, Math.floor(epochs / 3)), 0.1);
    case 'none':
      return null;
  }
}

/**
 * `name` over a progress of 0..1 (its "epoch" is the fraction of the run
 * done); 'step' decays x0.1 at each of the first two thirds. Null for a
 * constant rate.
 */
export function progressScheduler(name: ScheduleName, optimizer: HasLearningRate): LRScheduler | null {
  switch (name) {
    case 'cosine':
      return new CosineAnnealingLR(optimizer, 1);
    case 'poly':
      return new PolynomialLR(optimizer, 1, POLY_POWER);
    case 'step':
      return new MultiStepLR(optimizer, [1 / 3, 2 / 3], 0.1);
    case 'none':
      return null;
  }
}

/** Sets the rate of a progress scheduler for a run `progress` of the way through (clamped to 0..1). */
export function seekProgress(scheduler: LRScheduler, progress: number): void {
  scheduler.seek(Math.min(1, Math.max(0, progress)));
}
