/**
 * The run state on disk: what a checkpoint records about a run (weights,
 * optimizer, scheduler and RNG state, the loop's counters, the data it trained
 * on) and how a run or a model is restored from one.
 */
import { resolve } from 'node:path';
import type { DataLoader } from '../data/loader.js';
import { SlideLoader } from '../wsi/loader.js';
import type { ChannelStats } from '../data/normalize.js';
import { CheckpointError } from '../io/errors.js';
import type { UNet } from '../models/unet.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRScheduler } from '../optim/schedulers.js';
import { buildInfo, getRngState, setRngState } from '../tensor/runtime.js';
import { CHECKPOINT_FORMAT, disposeCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointMeta, type DataSource } from './checkpoint.js';
import type { RunProgress } from './loop.js';

/** Everything of a run that a checkpoint saves or a resume restores. */
export interface RunState {
  net: UNet;
  optimizer: Optimizer<{ lr: number }>;
  /** the schedule's state; null for a constant rate */
  scheduler: LRScheduler | null;
  progress: RunProgress;
  /** the training data's normalisation, applied again at prediction */
  normalization: ChannelStats | null;
  threshold: number;
  data: DataSource | null;
  /** the plan the run was made from (`patho plan`), or null */
  plan: object | null;
  /** the training options, recorded as they were (meta.training) */
  training: Record<string, string | number | boolean | null>;
  device: string;
  /** names and colours of the classes, when the data named them (annotated slides) */
  classes?: CheckpointMeta['classes'];
  /** microns per pixel of the training patches, when chosen */
  mpp?: number | null;
  /** the images' pixels per trained pixel (1: as stored) */
  downsample?: number;
}

/** Writes a checkpoint of `run` atomically; `full` adds optimizer, scheduler and RNG state for resuming. */
export async function saveRun(path: string, run: RunState, full: boolean): Promise<void> {
  const rngState = full ? getRngState() : undefined;
  try {
    await saveCheckpoint(path, {
      format: CHECKPOINT_FORMAT,
      epoch: run.progress.epoch,
      unet: run.net.options,
      training: run.training,
      normalization: run.normalization,
      threshold: run.threshold,
      bestDice: run.progress.bestDice,
      epochsSinceBest: run.progress.epochsSinceBest,
      elapsedSeconds: run.progress.elapsedSeconds,
      torchVersion: buildInfo().torchVersion,
      device: run.device,
      savedAt: new Date().toISOString(),
      data: run.data,
      classes: run.classes ?? null,
      mpp: run.mpp ?? null,
      downsample: run.downsample ?? 1,
      plan: run.plan,
      model: run.net.stateDict(),
      optimizer: full ? (run.optimizer.stateDict() as never) : undefined,
      scheduler: full && run.scheduler ? (run.scheduler.stateDict() as never) : undefined,
      rngState,
    });
  } finally {
    rngState?.dispose();
  }
}

/**
 * Restores `run` from a full checkpoint written by `saveRun`: weights,
 * optimizer, scheduler, RNG and the counters in `run.progress`; returns the
 * recorded threshold.
 */
export async function resumeRun(path: string, run: RunState): Promise<{ threshold: number }> {
  const checkpoint = await loadCheckpoint(path, { device: run.device });
  try {
    if (checkpoint.meta.format !== CHECKPOINT_FORMAT) {
      throw new CheckpointError(path, 'is not a patho training checkpoint (no epoch, optimizer or architecture in it) to --resume from');
    }
    const saved = checkpoint.meta.unet;
    const mine = run.net.options as unknown as Record<string, unknown>;
    const differs = Object.entries(saved ?? {}).filter(([k, v]) => mine[k] !== v);
    if (differs.length) {
      throw new CheckpointError(path, `--resume: was trained with ${differs.map(([k, v]) => `${k}=${v}`).join(', ')}; this run has ${differs.map(([k]) => `${k}=${mine[k]}`).join(', ')}`);
    }
    run.net.loadStateDict(checkpoint.model);
    if (checkpoint.optimizer) run.optimizer.loadStateDict(checkpoint.optimizer as never);
    if (checkpoint.scheduler && run.scheduler) run.scheduler.loadStateDict(checkpoint.scheduler as never);
    if (checkpoint.rngState) {
      // the CPU generator's state is a CPU byte tensor, whatever device the weights went to
      const state = checkpoint.rngState.to('cpu');
      setRngState(state);
      state.dispose();
    }
    run.progress.epoch = checkpoint.meta.epoch;
    run.progress.elapsedSeconds = checkpoint.meta.elapsedSeconds ?? 0;
    run.progress.epochsSinceBest = checkpoint.meta.epochsSinceBest ?? 0;
    run.progress.bestDice = checkpoint.meta.bestDice;
    return { threshold: checkpoint.meta.threshold };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** Loads weights into `net` from a checkpoint or a PyTorch state_dict; returns what predicting with them needs. */
export async function loadWeights(
  path: string, net: UNet, device: string,
): Promise<{ normalization: ChannelStats | null; threshold: number; bestDice: number | null; downsample: number }> {
  const checkpoint = await loadCheckpoint(path, { device });
  try {
    net.loadStateDict(checkpoint.model);
    return {
      normalization: checkpoint.meta.normalization ?? null,
      threshold: checkpoint.meta.threshold,
      bestDice: checkpoint.meta.bestDice ?? null,
      downsample: checkpoint.meta.downsample ?? 1,
    };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/** The data a run trains on, as its checkpoints record it. */
export async function describeData(loader: DataLoader | SlideLoader, validation: DataLoader | null): Promise<DataSource> {
  if (loader instanceof SlideLoader) return loader.describe();
  const entries = validation ? (await validation.open()).dataset.entries : [];
  return {
    root: resolve(loader.root),
    images: loader.imagesDir,
    masks: loader.masksDir,
    foreground: loader.foreground,
    validation: entries.map((e) => ({ name: e.name, image: resolve(e.imagePath), mask: resolve(e.maskPath) })),
  };
}
