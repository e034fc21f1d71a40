/**
 * Training checkpoints: everything needed to resume exactly (weights, optimizer
 * and scheduler state, epoch, RNG state) and to predict later (architecture,
 * normalisation, threshold), in PyTorch's format: `torch.load('data/model.pt')`
 * gives a dict whose 'model' entry is an ordinary state_dict.
 */
import { existsSync } from 'node:fs';
import { CheckpointError } from '../io/errors.js';
import { load, save, type Loaded, type Savable } from '../tensor/serialize.js';
import { Tensor } from '../tensor/tensor.js';
import { dispose } from '../tensor/scope.js';
import type { UNetOptions } from '../models/unet.js';
import type { ChannelStats } from '../data/normalize.js';
import { checkDownsample } from '../data/scale.js';
import type { ForegroundSpec } from '../data/masks.js';
import type { PostProcessing } from '../infer/postprocess.js';

export const CHECKPOINT_FORMAT = 'patho-checkpoint-1';

/** The threshold of a checkpoint that records none. */
export const FALLBACK_THRESHOLD = 0.5;

export interface CheckpointMeta {
  format: string;
  /** Completed epochs. */
  epoch: number;
  unet: Required<UNetOptions>;
  training: Record<string, string | number | boolean | null>;
  normalization: ChannelStats | null;
  /** Probability threshold of a binary mask: the validation sweep's best, the default of predict and eval. */
  threshold: number;
  bestDice: number | null;
  /** Epochs since the best validation Dice (the early-stopping count, continued by a resume). */
  epochsSinceBest?: number;
  /** Training seconds of the run up to this checkpoint (counts against --max-minutes after a resume). */
  elapsedSeconds?: number;
  /** Names and colours of classes 1, 2, ... of a model trained on annotated slides, for its outputs. */
  classes?: { names: string[]; colors: [number, number, number][] } | null;
  /**
   * Small objects removed and small holes filled after thresholding, chosen on
   * the validation images by `patho tune`: the default of predict and eval
   * (absent: none).
   */
  postProcessing?: (PostProcessing & { chosenOn: string }) | null;
  /** Microns per pixel of the patches it was trained on (slides trained with --mpp). */
  mpp?: number | null;
  /**
   * The images' pixels per pixel the network was trained on (image folders
   * trained with --downsample, data/scale.ts): every prediction shrinks its
   * input this many times and brings the probabilities back. Absent: 1.
   */
  downsample?: number | null;
  torchVersion: string;
  device: string;
  savedAt: string;
  /** The data the run trained and validated on (absent in checkpoints older than this field). */
  data?: DataSource | null;
  /** The plan the run was made from (`patho plan`), if any. */
  plan?: object | null;
}

/**
 * The images a run trained and validated on, saved in its checkpoints so that
 * `patho report` can score the same validation images later.
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
  /** set when the run trained on annotated slides (root is then the slide folder) */
  slides?: { annotations: string; unlabelled: 'ignore' | 'background'; validationSlides: string[] };
}

export interface Checkpoint extends CheckpointMeta {
  model: Map<string, Tensor>;
  optimizer?: Savable;
  scheduler?: Savable;
  rngState?: Tensor;
}

/** Writes a checkpoint atomically (a kill mid-write leaves the previous file intact). */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  const { model, optimizer, scheduler, rngState, ...meta } = checkpoint;
  await save(
    {
      model,
      optimizer: optimizer ?? null,
      scheduler: scheduler ?? null,
      rng_state: rngState ?? null,
      meta: meta as unknown as Savable,
    },
    path,
  );
}

/** The parts of a loaded checkpoint; call `disposeCheckpoint` when done with the tensors. */
export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Map<string, Tensor>;
  optimizer: Loaded;
  scheduler: Loaded;
  rngState: Tensor | null;
}

/**
 * Reads a patho checkpoint, or a plain state_dict written by PyTorch (then
 * `meta` is null-ish and the caller must know the architecture).
 */
export async function loadCheckpoint(path: string, options: { device?: string } = {}): Promise<LoadedCheckpoint> {
  if (!existsSync(path)) throw new CheckpointError(path, 'does not exist');
  const raw = await load(path, { device: options.device });
  if (raw === null || typeof raw !== 'object' || raw instanceof Tensor || Array.isArray(raw)) {
    dispose(raw);
    throw new CheckpointError(path, `expected a dict, found ${raw instanceof Tensor ? 'a tensor' : typeof raw}`);
  }
  const stateDict = (value: Loaded): Map<string, Tensor> | null => {
    if (value === null || typeof value !== 'object' || value instanceof Tensor || Array.isArray(value)) return null;
    const entries = Object.entries(value);
    return entries.every(([, v]) => v instanceof Tensor) ? new Map(entries as [string, Tensor][]) : null;
  };
  const model = stateDict(raw.model ?? null) ?? stateDict(raw);
  if (!model) {
    dispose(raw);
    throw new CheckpointError(path, "no 'model' state_dict in it");
  }
  const meta = (raw.meta ?? { format: 'state_dict' }) as unknown as CheckpointMeta;
  // checkpoints from before the threshold was recorded (and plain state_dicts) predict at 0.5
  if (typeof meta.threshold !== 'number') meta.threshold = FALLBACK_THRESHOLD;
  // every prediction shrinks its input by this: a file of any origin must not ask for an absurd factor
  if (meta.downsample !== undefined && meta.downsample !== null) {
    try {
      checkDownsample(meta.downsample, 'meta.downsample');
    } catch (e) {
      dispose(raw);
      throw new CheckpointError(path, (e as Error).message);
    }
  }
  return {
    meta,
    model,
    optimizer: raw.optimizer ?? null,
    scheduler: raw.scheduler ?? null,
    rngState: raw.rng_state instanceof Tensor ? raw.rng_state : null,
  };
}

/**
 * Rewrites the meta of the checkpoint at `path` with `patch` merged in,
 * leaving its tensors (weights, optimizer, RNG state) as they were; atomic
 * as `saveCheckpoint`.
 */
export async function updateCheckpointMeta(path: string, patch: Partial<CheckpointMeta>): Promise<void> {
  if (!existsSync(path)) throw new CheckpointError(path, 'does not exist');
  const raw = await load(path);
  try {
    if (raw === null || typeof raw !== 'object' || raw instanceof Tensor || Array.isArray(raw) || typeof raw.meta !== 'object' || raw.meta === null) {
      throw new CheckpointError(path, 'is not a patho checkpoint (no meta to update)');
    }
    await save({ ...raw, meta: { ...raw.meta, ...patch } } as unknown as Savable, path);
  } finally {
    dispose(raw);
  }
}

export function disposeCheckpoint(c: LoadedCheckpoint): void {
  dispose([...c.model.values()]);
  dispose(c.optimizer);
  c.rngState?.dispose();
}
