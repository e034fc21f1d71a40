/**
 * The training defaults and the names the options accept, in one table that
 * the library (`Model`) and the command line (`patho train`) both read, so a
 * default changed here changes in both, and in the CLI's help.
 */
import { DEFAULT_THRESHOLDS } from '../metrics/scores.js';

export const OPTIMIZERS = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** Learning-rate schedules: constant, cosine decay, polynomial decay, x0.1 after each of the first two thirds. */
export const SCHEDULES = ['none', 'cosine', 'poly', 'step'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/** Losses of a one-class (sigmoid) network; several classes always train with cross-entropy. */
export const BINARY_LOSSES = ['bce', 'bce-jaccard', 'dice', 'bce-dice'] as const;
export type BinaryLossName = (typeof BINARY_LOSSES)[number];

export const TRAINING_DEFAULTS = {
  /** the original patho's rate */
  lr: 5e-3,
  optimizer: 'sgd' as OptimizerName,
  /** SGD momentum of the U-Net paper */
  momentum: 0.99,
  weightDecay: 0,
  /** BCE - log(soft Jaccard), the original patho's loss, for one class */
  binaryLoss: 'bce-jaccard' as BinaryLossName,
  schedule: 'none' as ScheduleName,
  epochs: 50,
  /** probability thresholds scored at every validation; the first picks the best epoch */
  thresholds: DEFAULT_THRESHOLDS,
  /** validate every N epochs (and after the last) */
  validateEvery: 1,
  /** seconds between writes of last.pt; 0 writes it after every epoch */
  checkpointEvery: 0,
  /** epochs without a better validation Dice before stopping; 0 never stops early */
  earlyStop: 0,
  modelPath: 'data/model.pt',
} as const;
