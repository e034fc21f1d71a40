export { Optimizer, type OptimizerStateDict, type ParamState } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export {
  LRScheduler, StepLR, MultiStepLR, CosineAnnealingLR, PolynomialLR, ReduceLROnPlateau, type SchedulerState,
  type ReduceLROnPlateauOptions,
} from './schedulers.js';
