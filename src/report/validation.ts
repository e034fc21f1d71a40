/**
 * Scoring a trained model on its run's validation images for the report, and
 * writing what it predicted next to copies of the images and their ground
 * truth (RUN_DIR/validation/), where the report's example panels and
 * `patho serve` read them.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { decodeImageFile } from '../data/decode.js';
import { instanceLabels, toLabelMask, type ForegroundSpec } from '../data/masks.js';
import { scaledSide, upsamplePlanar } from '../data/scale.js';
import type { HostBatch } from '../data/types.js';
import { readImageForInference } from '../infer/image.js';
import { writeMaskPng, writeProbabilityPng } from '../infer/outputs.js';
import { objectMetricKind } from '../metrics/structures.js';
import type { UNet } from '../models/unet.js';
import { evaluateBinary, type EvaluationReport, type SegmentationNet } from '../train/evaluate.js';
import type { CheckpointMeta } from '../train/checkpoint.js';

/** One validation image/mask pair. */
export interface ValidationPair {
  name: string;
  image: string;
  mask: string;
}

/** The files written for one validation image, relative to the run folder. */
export interface ValidationFiles {
  name: string;
  width: number;
  height: number;
  /** a copy of the image, as it was */
  image: string;
  /** the ground truth, 0/255 */
  truth: string;
  /** the prediction at the report's threshold, 0/255 */
  mask: string;
  /** the foreground probability, 0..255 */
  prob: string;
}

/** What `scoreValidation` found. */
export interface ValidationResult {
  /** the threshold of the masks written and of the per-image table */
  threshold: number;
  report: EvaluationReport;
  files: ValidationFiles[];
}

/** Options of `scoreValidation`. */
export interface ScoreOptions {
  /** The pairs to score. */
  pairs: readonly ValidationPair[];
  /** How mask files were read in training (null: 0 vs the one other value). */
  foreground: ForegroundSpec | null;
  /** Thresholds scored besides the checkpoint's own. */
  thresholds: readonly number[];
  device: string;
}

/** The validation pairs a checkpoint recorded (meta `data`, saved by Model.train), or none for older checkpoints. */
export function recordedPairs(meta: CheckpointMeta): { pairs: ValidationPair[]; foreground: ForegroundSpec | null } {
  const data = meta.data;
  return { pairs: data?.validation ?? [], foreground: data?.foreground ?? null };
}

/**
 * Runs a trained binary `net` (with its checkpoint's `meta`) over every pair,
 * scores it (per image, at each threshold, with a threshold sweep, and the
 * object metrics that suit the masks: GlaS's or ISBI 2012's) and writes
 * the image copy, ground truth, prediction and probability map of each into
 * `runDir/validation/`.
 */
export async function scoreValidation(net: UNet, meta: CheckpointMeta, runDir: string, options: ScoreOptions): Promise<ValidationResult> {
  const threshold = meta.threshold ?? 0.5;
  const downsample = meta.downsample ?? 1;
  await mkdir(join(runDir, 'validation'), { recursive: true });
  // evaluateBinary keeps only scores; this net passes the probabilities of
  // each batch on, so that the masks come from the very pass that was scored
  let probabilities: Float32Array | null = null;
  const recording: SegmentationNet = {
    forward: (x) => net.forward(x),
    probabilities: (logits) => {
      const p = net.probabilities(logits);
      probabilities = p.toFloat32Array();
      return p;
    },
    train: (mode) => net.train(mode),
    get training() {
      return net.training;
    },
  };
  const files: ValidationFiles[] = [];
  async function* batches(): AsyncGenerator<HostBatch> {
    for (const pair of options.pairs) {
      const { image } = await readImageForInference(pair.image, meta.normalization);
      const raw = await decodeImageFile(pair.mask);
      const truth = toLabelMask(raw, options.foreground ?? undefined);
      if (truth.width !== image.width || truth.height !== image.height) {
        throw new Error(`${pair.mask}: mask is ${truth.width}x${truth.height}, image ${image.width}x${image.height}`);
      }
      // an instance mask's objects are scored as numbered, touching or not
      const instances = options.foreground === 'instances' ? instanceLabels(raw) : undefined;
      yield { names: [pair.name], images: image.data, masks: truth.data, shape: [1, image.channels, image.height, image.width], instances };
      // evaluateBinary asks for the next batch only after scoring this one; a model with a working resolution gave them shrunk
      const h = scaledSide(image.height, downsample), w = scaledSide(image.width, downsample);
      const full = upsamplePlanar(probabilities!, 1, h, w, downsample, image.height, image.width);
      files.push(await writeFiles(runDir, pair, truth.data, full, image.width, image.height, threshold));
    }
  }
  const thresholds = [...new Set([threshold, ...options.thresholds])];
  // all masks of a run are one kind: the first tells which object metrics apply
  const first = toLabelMask(await decodeImageFile(options.pairs[0].mask), options.foreground ?? undefined);
  const objects = objectMetricKind(first.data, first.width, first.height);
  const report = await evaluateBinary(recording, batches(), { thresholds, device: options.device, sweep: true, objects, downsample });
  return { threshold, report, files };
}

async function writeFiles(
  runDir: string,
  pair: ValidationPair,
  truth: Uint8Array,
  probabilities: Float32Array,
  width: number,
  height: number,
  threshold: number,
): Promise<ValidationFiles> {
  const files: ValidationFiles = {
    name: pair.name,
    width,
    height,
    image: join('validation', `${pair.name}${extname(pair.image).toLowerCase()}`),
    truth: join('validation', `${pair.name}_truth.png`),
    mask: join('validation', `${pair.name}_mask.png`),
    prob: join('validation', `${pair.name}_prob.png`),
  };
  await copyFile(pair.image, join(runDir, files.image));
  await writeMaskPng(join(runDir, files.truth), truth.map((v) => (v > 0 ? 1 : 0)), width, height, true);
  await writeMaskPng(join(runDir, files.mask), Uint8Array.from(probabilities, (p) => (p >= threshold ? 1 : 0)), width, height, true);
  await writeProbabilityPng(join(runDir, files.prob), { width, height, classes: 1, data: probabilities });
  return files;
}
