/**
 * Whether bfloat16 may stand in for float32 when predicting with a model:
 * the folded network is run in both precisions over validation images the
 * checkpoint recorded (meta.data.validation), and bfloat16 passes when its
 * Dice against each image's mask is within BF16_DICE_TOLERANCE of float32's.
 * Nothing is assumed: without recorded images there is no verdict, and
 * predict stays in float32.
 */
import { decodeImageFile } from '../data/decode.js';
import { toLabelMask } from '../data/masks.js';
import { growMap, shrinkImage } from '../data/scale.js';
import type { UNet } from '../models/unet.js';
import { recordedPairs } from '../report/validation.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { FoldedUNet } from './folded.js';
import { readImageForInference } from './image.js';
import { labelsFrom, type ProbabilityMap } from './labels.js';
import { predictSliding } from './sliding.js';
import type { TilingOptions } from './tiling.js';

/** The largest Dice difference from float32 that bfloat16 may make (the bar). */
export const BF16_DICE_TOLERANCE = 0.001;

export interface PrecisionVerdict {
  /** true when bfloat16 passed on every image checked */
  bfloat16: boolean;
  /** validation images checked (0: none recorded, no verdict) */
  images: number;
  /** the largest |Dice bf16 - Dice fp32| over the images */
  worstDiceDifference: number;
  /** the largest |p bf16 - p fp32| over every pixel and class */
  maxProbabilityDifference: number;
}

/** Dice of the predicted labels against the mask, averaged over the foreground classes; 1 where both lack a class. */
export function foregroundDice(map: ProbabilityMap, truth: Uint8Array, threshold: number): number {
  const labels = labelsFrom(map, threshold);
  const classes = Math.max(2, map.classes);
  let sum = 0;
  for (let k = 1; k < classes; k++) {
    let both = 0, predicted = 0, actual = 0;
    for (let i = 0; i < labels.length; i++) {
      const p = labels[i] === k, t = truth[i] === k;
      if (p) predicted++;
      if (t) actual++;
      if (p && t) both++;
    }
    sum += predicted + actual === 0 ? 1 : (2 * both) / (predicted + actual);
  }
  return sum / (classes - 1);
}

/** Runs the check on up to `maxImages` of the checkpoint's validation images (default 2), tiled as `tiling` says. */
export async function checkBfloat16(net: UNet, meta: CheckpointMeta, tiling: TilingOptions = {}, maxImages = 2): Promise<PrecisionVerdict> {
  const { pairs, foreground } = recordedPairs(meta);
  const downsample = meta.downsample ?? 1;
  const verdict: PrecisionVerdict = { bfloat16: false, images: 0, worstDiceDifference: 0, maxProbabilityDifference: 0 };
  if (pairs.length === 0) return verdict;
  const fp32 = new FoldedUNet(net);
  const bf16 = new FoldedUNet(net, { dtype: 'bfloat16' });
  try {
    for (const pair of pairs.slice(0, maxImages)) {
      const { image } = await readImageForInference(pair.image, meta.normalization);
      const truth = toLabelMask(await decodeImageFile(pair.mask), foreground ?? undefined);
      if (truth.width !== image.width || truth.height !== image.height) {
        throw new Error(`${pair.mask}: mask is ${truth.width}x${truth.height}, image ${image.width}x${image.height}`);
      }
      // a model with a working resolution is checked on what it sees: the image shrunk, its maps brought back
      const seen = shrinkImage(image, downsample);
      const reference = growMap(predictSliding(fp32, seen, tiling), downsample, image);
      const candidate = growMap(predictSliding(bf16, seen, tiling), downsample, image);
      const difference = Math.abs(foregroundDice(candidate, truth.data, meta.threshold) - foregroundDice(reference, truth.data, meta.threshold));
      verdict.worstDiceDifference = Math.max(verdict.worstDiceDifference, difference);
      for (let i = 0; i < reference.data.length; i++) {
        verdict.maxProbabilityDifference = Math.max(verdict.maxProbabilityDifference, Math.abs(candidate.data[i] - reference.data[i]));
      }
      verdict.images++;
    }
  } finally {
    fp32.dispose();
    bf16.dispose();
  }
  verdict.bfloat16 = verdict.worstDiceDifference <= BF16_DICE_TOLERANCE;
  return verdict;
}

