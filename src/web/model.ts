/**
 * A checkpoint made ready for the browser page: its model card, the settings
 * the page runs it with (the tiling defaults of `patho predict`), and the
 * ONNX file the page loads.
 */
import { stat } from 'node:fs/promises';
import { PREDICT } from '../cli/commands.js';
import { disposeCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import { modelCard, type ModelCard } from './card.js';
import type { RunSettings } from './protocol.js';

/** A default of `patho predict`'s option table, so the page tiles exactly as the command does by default. */
function predictDefault(name: 'tile' | 'overlap'): number {
  const option = PREDICT.options.find((o) => o.name === name);
  return (option as { default: number }).default;
}

/** The card and run settings of the checkpoint at `path`. */
export async function describeCheckpoint(path: string): Promise<{ card: ModelCard; settings: RunSettings }> {
  const checkpoint = await loadCheckpoint(path);
  try {
    if (!checkpoint.meta.unet) throw new Error(`${path} holds weights but no architecture: the browser page needs a patho checkpoint`);
    const card = modelCard(checkpoint.meta, path);
    return {
      card,
      settings: {
        inChannels: card.inChannels,
        classes: card.classes.length === 1 ? 1 : card.classes.length,
        threshold: card.threshold,
        tile: predictDefault('tile'),
        overlap: predictDefault('overlap'),
        // one tile per run: WebAssembly gains nothing from larger batches, and memory stays small
        batchSize: 1,
        threads: 0,
        backend: 'auto',
      },
    };
  } finally {
    disposeCheckpoint(checkpoint);
  }
}

/**
 * The ONNX export of the checkpoint at `path`: `NAME.onnx` beside `NAME.pt`
 * when it is at least as new as the checkpoint, else null.
 */
export async function onnxBeside(path: string): Promise<string | null> {
  const onnx = path.replace(/\.[^./]*$/, '') + '.onnx';
  try {
    const [model, exported] = await Promise.all([stat(path), stat(onnx)]);
    return exported.mtimeMs >= model.mtimeMs ? onnx : null;
  } catch {
    return null;
  }
}
