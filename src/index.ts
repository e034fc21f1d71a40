/**
 * patho: U-Net segmentation of pathology and microscopy images, in TypeScript
 * over libtorch.
 */
export * from './tensor/index.js';
export { save, load, loadStateDictFile } from './tensor/serialize.js';
export { Module, Conv2d, ConvTranspose2d, BatchNorm2d, Dropout, ReLU, MaxPool2d, Sequential, ModuleList, type StateDict, type Layer } from './nn/index.js';
export * from './optim/index.js';
export { UNet, UNET, DoubleConv, Down, Up, OutConv, DEFAULT_UNET_OPTIONS, UNET_LIMITS, checkUNetOptions, type UNetOptions } from './models/unet.js';
export * as losses from './losses/index.js';
export { bce, bceWithJaccard, softJaccard, diceLoss, bceDice, lossByName, type Loss, type LossName } from './losses/index.js';
export * as metrics from './metrics/index.js';
export {
  DataLoader, SegmentationDataset, DistributedSampler, type DataLoaderOptions, type HostBatch,
} from './data/index.js';
export { batchToTensors } from './data/tensors.js';
export { Model, NonFiniteLossError, TrainingInterrupted, type ModelOptions, type TrainOptions, type EpochRecord, type TrainingListener } from './train/model.js';
export { trainStep, type StepParts, type StepResult } from './train/step.js';
export { TRAINING_DEFAULTS } from './train/defaults.js';
export { evaluateBinary, type EvaluationReport } from './train/evaluate.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint } from './train/checkpoint.js';
export * from './parallel/index.js';
export { saveObject, loadObject, loadSafetensors, saveSafetensors } from './io/index.js';
