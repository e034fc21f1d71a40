/**
 * A checkpoint made ready for the browser page: its model card, the settings
 * the page runs it with (the tiling defaults of `patho predict`), and its
 * ONNX export (src/export/onnx.ts), the bytes the page loads.
 */
import { stat } from 'node:fs/promises';
import { onnxMetadata, onnxModelBytes, onnxModelInfo, type OnnxExportOptions } from '../export/onnx.js';
import { TILING_DEFAULTS } from '../infer/tiling.js';
import { loadTrainedNet } from '../infer/trained.js';
import { modelCard, type ModelCard } from './card.js';
import type { RunSettings } from './protocol.js';

/** What the page needs of a checkpoint. */
export interface WebModel {
  card: ModelCard;
  settings: RunSettings;
  onnx: Uint8Array;
}

/** The card, run settings and ONNX export of the checkpoint at `path`; `options` as for `exportOnnx`. */
export async function webModel(path: string, options: OnnxExportOptions = {}): Promise<WebModel> {
  // loadTrainedNet refuses a checkpoint without an architecture (CheckpointError)
  const { net, meta } = await loadTrainedNet(path);
  let onnx: Uint8Array;
  let exported: Record<string, string>;
  let classes: number;
  try {
    const info = onnxModelInfo(meta, options);
    onnx = onnxModelBytes(net, info);
    exported = onnxMetadata(net, info);
    classes = net.options.classes;
  } finally {
    net.dispose();
  }
  // class names, threshold and mpp as the export wrote them into the model
  const card = modelCard(meta, path, {
    classes: JSON.parse(exported.class_names) as string[],
    threshold: Number(exported.threshold),
    mpp: exported.mpp === undefined ? null : Number(exported.mpp),
  });
  return {
    card,
    onnx,
    settings: {
      inChannels: card.inChannels,
      classes,
      threshold: card.threshold,
      tile: TILING_DEFAULTS.tile,
      overlap: TILING_DEFAULTS.overlap,
      // one tile per run: WebAssembly gains nothing from larger batches, and memory stays small
      batchSize: 1,
      threads: 0,
      backend: 'auto',
      downsample: meta.downsample ?? 1,
    },
  };
}

const prepared = new Map<string, { modified: number; model: Promise<WebModel> }>();

/** `webModel` of the checkpoint, made again only when the file changes (for `patho serve`). */
export async function cachedWebModel(path: string): Promise<WebModel> {
  const modified = (await stat(path)).mtimeMs;
  const entry = prepared.get(path);
  if (entry?.modified === modified) return entry.model;
  const model = webModel(path);
  prepared.set(path, { modified, model });
  model.catch(() => prepared.delete(path));
  return model;
}
