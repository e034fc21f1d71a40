/**
 * The model card shown on the browser page: what the model segments, on what
 * data it was trained and how well it did, read from the checkpoint's
 * metadata. The settings part is what the page needs to run the model.
 */
import { basename, dirname } from 'node:path';
import type { CheckpointMeta } from '../train/checkpoint.js';

export interface ModelCard {
  /** the checkpoint's file name */
  name: string;
  /** class names; one name for a binary model */
  classes: string[];
  inChannels: number;
  threshold: number;
  /** best validation Dice of the run, null when it had no validation */
  validationDice: number | null;
  /** e.g. "membrane/train: images, masks; 6 validation images" */
  trainingData: string | null;
  /** microns per pixel the model was trained at, null when the run did not record it */
  mpp: number | null;
  epochs: number;
  architecture: string;
  savedAt: string;
}

/** The card of a patho checkpoint's metadata, with what its ONNX export says of classes, threshold and mpp. */
export function modelCard(
  meta: CheckpointMeta,
  file: string,
  exported: { classes: string[]; threshold: number; mpp: number | null },
): ModelCard {
  const unet = meta.unet;
  const data = meta.data;
  return {
    name: basename(file),
    classes: exported.classes,
    inChannels: unet.inChannels,
    threshold: exported.threshold,
    validationDice: meta.bestDice,
    trainingData: data
      ? `${basename(dirname(data.root))}/${basename(data.root)}/${data.images} with masks in ${data.masks}; ${data.validation.length} validation image${data.validation.length === 1 ? '' : 's'}`
      : null,
    mpp: exported.mpp,
    epochs: meta.epoch,
    architecture: `U-Net, depth ${unet.depth}, ${unet.baseChannels} base channels, ${unet.upsample} upsampling, ${unet.padding} padding${unet.batchNorm ? ', batch norm' : ''}`,
    savedAt: meta.savedAt,
  };
}
