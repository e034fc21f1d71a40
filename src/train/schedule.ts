/**
 * The named schedules of `--schedule`, built from src/optim's schedulers:
 * over the epochs of a run (stepped once per epoch), or over a run's
 * progress from 0 to 1 when a time budget drives it (seeked every step, so a
 * 20-minute run ends at the low rate whatever its epoch count).
 */
import { CosineAnnealingLR, MultiStepLR, PolynomialLR, type HasLearningRate, type LRScheduler } from '../optim/schedulers.js';
import type { ScheduleName } from './defaults.js';

/** The polynomial schedule's power, as nnU-Net's. */
const POLY_POWER = 0.9;

/**
 * `name` over `span` epochs; 'step' decays x0.1 after each of the first two
 * thirds. Null for a constant rate.
 */
function namedScheduler(name: ScheduleName, optimizer: HasLearningRate, span: number): LRScheduler | null {
  switch (name) {
    case 'cosine':
      return new CosineAnnealingLR(optimizer, span);
    case 'poly':
      return new PolynomialLR(optimizer, span, POLY_POWER);
    case 'step':
      return new MultiStepLR(optimizer, [span / 3, (2 * span) / 3], 0.1);
    case 'none':
      return null;
  }
}

/** `name` over `epochs` epochs, stepped once per epoch. */
export const epochScheduler = (name: ScheduleName, optimizer: HasLearningRate, epochs: number): LRScheduler | null =>
  namedScheduler(name, optimizer, epochs);

/** `name` over a run's progress of 0..1 (its "epoch" is the fraction of the run done). */
export const progressScheduler = (name: ScheduleName, optimizer: HasLearningRate): LRScheduler | null => namedScheduler(name, optimizer, 1);

/** Sets the rate of a progress scheduler for a run `progress` of the way through (clamped to 0..1). */
export function seekProgress(scheduler: LRScheduler, progress: number): void {
  scheduler.seek(Math.min(1, Math.max(0, progress)));
}
