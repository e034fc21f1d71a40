/**
 * ONNX Runtime as a tile engine: the U-Net exported in memory (export/onnx.ts,
 * batch norm folded, normalisation left to the tiling, which feeds normalised
 * tiles as it does libtorch) and run by onnxruntime-node's CPU execution
 * provider with every graph optimisation. Its `run` returns a promise and
 * computes off the JavaScript thread, so the pipeline blends and writes the
 * previous batch meanwhile.
 */
import * as ort from 'onnxruntime-node';
import { onnxModelBytes } from '../export/onnx.js';
import type { UNet } from '../models/unet.js';
import type { TileEngine } from './tiled.js';

/** A tile engine that holds an ONNX Runtime session; `release()` frees it. */
export interface OnnxRuntimeEngine extends TileEngine {
  release(): Promise<void>;
}

/** The engine of `net` (a float32 U-Net in eval mode, on the CPU) with `threads` intra-op threads (0: one per physical core, ONNX Runtime's default). */
export async function onnxRuntimeEngine(net: UNet, options: { threads: number }): Promise<OnnxRuntimeEngine> {
  const bytes = onnxModelBytes(net, { normalization: null, threshold: 0.5, normalisedInput: true });
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // memory patterns plan one block per input shape for all intermediates and keep it in the arena besides the
    // blocks of the first run: on a base-32 U-Net, batch 4 of 512 x 512, peak RSS was 1643 MiB after
    // three runs with them and 943 MiB without, at the same CPU time per tile (README, peak memory of predict)
    enableMemPattern: false,
  });
  const { classes, inChannels } = net.options;
  return {
    classes,
    inChannels,
    async run(input, shape) {
      const results = await session.run({ pixels: new ort.Tensor('float32', input, shape) });
      // a CPU output's data is a JavaScript buffer of its own, kept after the results are dropped
      return results.probabilities.data as Float32Array;
    },
    release: () => session.release(),
  };
}
