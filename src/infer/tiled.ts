/**
 * Sliding-window inference: the tiling and blending of tiling.ts driven by an
 * engine, either synchronously (`predictTiled`, libtorch on an image in
 * memory) or as a pipeline (`predictPipelined`, a slide) that reads the tiles
 * of the next batches, in other threads, while the engine computes the
 * current one. The pipeline times its engine with an injected clock: the
 * share of wall time the engine is busy is what it exists to raise.
 */
import { blendTiles, TileBlender, type BlendOptions, type TiledStats, type TilePlan, type TileRect, type TileSource, type TilingOptions } from './tiling.js';
import { atWorkingResolution } from '../data/scale.js';
import { tensor } from '../tensor/create.js';
import { mixedPrecision, noGrad } from '../tensor/runtime.js';
import { tidy } from '../tensor/scope.js';
import { symmetryAverage } from './tta.js';
import type { Device, DType, Tensor } from '../tensor/tensor.js';

export { axisWeights, blendWeights, planTiles, readTiles, tileCount, tileStarts } from './tiling.js';
export type { TiledStats, TilePlan, TileRect, TileSource } from './tiling.js';

/** What inference needs of a network. */
export interface InferenceNet {
  forward(x: Tensor): Tensor;
  probabilities(logits: Tensor): Tensor;
  readonly options: { classes: number; inChannels: number };
}

export interface SlidingWindowOptions extends TilingOptions {
  /** Test-time augmentation: average over flips and 90-degree rotations. */
  tta?: boolean;
  device?: Device;
  amp?: DType | null;
}

export interface TiledOptions extends SlidingWindowOptions, BlendOptions {}

/**
 * Predicts `source` tile by tile and streams the blended probabilities to
 * `options.onRows`. Away from the blending near tile edges the result equals
 * a whole-image pass. Returns the most buffer bytes it held at once.
 */
export function predictTiled(net: InferenceNet, source: TileSource, options: TiledOptions): TiledStats {
  if (source.channels !== net.options.inChannels) {
    throw new Error(`the model expects ${net.options.inChannels}-channel images, this one has ${source.channels}`);
  }
  const steps = blendTiles(source, net.options.classes, options);
  let step = steps.next();
  while (!step.done) step = steps.next(runTiles(net, step.value.input, step.value.shape, options));
  return step.value;
}

/** A network as the pipeline drives it: a batch of tiles NCHW in, probabilities NCHW out, now or as a promise. */
export interface TileEngine {
  readonly classes: number;
  readonly inChannels: number;
  run(input: Float32Array, shape: [number, number, number, number]): Float32Array | Promise<Float32Array>;
}

/** A libtorch network as a tile engine (synchronous: it holds the thread while it computes). */
export function libtorchEngine(net: InferenceNet, options: SlidingWindowOptions = {}): TileEngine {
  return {
    classes: net.options.classes,
    inChannels: net.options.inChannels,
    run: (input, shape) => runTiles(net, input, shape, options),
  };
}

/**
 * `engine` fed at most `tilesPerPass` tiles per forward pass, whatever the
 * batch it is handed; the passes run one after another and their
 * probabilities are joined in order. A forward pass holds activations in
 * proportion to its tiles (a base-32 U-Net at 512 x 512: about 170 MB a tile
 * in float32), so on a CPU, where a tile of 512 x 512 already keeps every
 * core busy, one tile per pass costs no speed and a quarter of the memory of
 * a batch of four. The batch still sets how many tiles are read together.
 */
export function inPasses(engine: TileEngine, tilesPerPass: number): TileEngine {
  if (!(Number.isInteger(tilesPerPass) && tilesPerPass >= 1)) throw new Error(`tilesPerPass must be a positive integer, got ${tilesPerPass}`);
  return {
    classes: engine.classes,
    inChannels: engine.inChannels,
    run(input, shape) {
      const [n, channels, h, w] = shape;
      if (n <= tilesPerPass) return engine.run(input, shape);
      const inTile = channels * h * w;
      const outTile = engine.classes * h * w;
      const out = new Float32Array(n * outTile);
      let pending: Promise<void> | null = null;
      for (let first = 0; first < n; first += tilesPerPass) {
        const tiles = Math.min(tilesPerPass, n - first);
        const pass = () => engine.run(input.subarray(first * inTile, (first + tiles) * inTile), [tiles, channels, h, w]);
        const place = (probs: Float32Array) => {
          if (probs.length !== tiles * outTile) throw new Error(`the engine returned ${probs.length} values for ${tiles} tiles of ${engine.classes} x ${h} x ${w}`);
          out.set(probs, first * outTile);
        };
        // an asynchronous engine's passes are chained, never in flight together, or their activations would be too
        if (pending) {
          pending = pending.then(async () => place(await pass()));
        } else {
          const probs = pass();
          if (probs instanceof Promise) pending = probs.then(place);
          else place(probs);
        }
      }
      return pending ? pending.then(() => out) : out;
    },
  };
}

/**
 * `engine` for a model trained at a working resolution (`--downsample`,
 * data/scale.ts): tiles are shrunk `factor` times before it runs and its
 * probabilities brought back to the tiles' pixels, so everything around it
 * (tiling, blending, masks, polygons) stays at the input's resolution.
 */
export function atDownsample(engine: TileEngine, factor: number): TileEngine {
  if (factor === 1) return engine;
  return { classes: engine.classes, inChannels: engine.inChannels, run: atWorkingResolution((input, shape) => engine.run(input, shape), engine.classes, factor) };
}

/** Reads the planar input NCHW of a batch of tiles (`readTiles`), in this thread or another. */
export type BatchReader = (tiles: readonly TileRect[]) => Promise<Float32Array>;

export interface PipelineOptions extends BlendOptions {
  /** Batches whose tiles are read ahead of the one the engine computes; 0 reads each batch when it is needed. Default 2. */
  prefetch?: number;
  /** A monotonic clock in seconds (performance.now() / 1000 by default); tests inject their own. */
  clock?: () => number;
}

export interface PipelineStats extends TiledStats {
  /** Seconds from the first read request to the last rows handed on. */
  wallSeconds: number;
  /** Seconds the engine spent on batches. */
  engineSeconds: number;
  /** Seconds between asking for a batch's tiles, when they were not there yet, and having them: the engine's idle time for want of tiles. */
  readWaitSeconds: number;
  batches: number;
}

/**
 * Predicts the batches of `plan` in order: while the engine computes batch k,
 * the tiles of batches k+1 .. k+prefetch are being read; then batch k is
 * blended and its finished rows handed to `options.onRows` (while an
 * asynchronous engine computes batch k+1). Blending order, and so the result,
 * is that of `predictTiled`. Buffers counted: the blending band, the inputs
 * requested and not yet blended, the probabilities of two batches (the one
 * blended and the next, which may be computed before it is blended).
 */
export async function predictPipelined(engine: TileEngine, plan: TilePlan, read: BatchReader, options: PipelineOptions): Promise<PipelineStats> {
  const clock = options.clock ?? (() => performance.now() / 1000);
  const prefetch = Math.max(0, options.prefetch ?? 2);
  const blender = new TileBlender(plan, engine.classes, options);
  const tileBytes = engine.inChannels * plan.tile * plan.tile * 4;
  const n = plan.batches.length;
  // a batch's tiles, and the tiles themselves once they arrived (so that a batch whose tiles are here starts without yielding)
  const inputs: { promise: Promise<Float32Array>; ready: Float32Array | null }[] = [];
  const request = (k: number) => {
    const slot = { promise: read(plan.batches[k]), ready: null as Float32Array | null };
    // a failed read is reported when its batch is due; until then it must not count as unhandled
    slot.promise.then((input) => (slot.ready = input), () => undefined);
    inputs.push(slot);
  };
  let requested = 0;
  let peakBufferBytes = blender.heldAlways;
  let engineSeconds = 0;
  let readWaitSeconds = 0;
  /** Batch k: its tiles requested (and those of the next `prefetch`), awaited if not here yet, then computed. */
  const compute = async (k: number): Promise<Float32Array> => {
    while (requested < n && requested <= k + prefetch) request(requested++);
    const slot = inputs.shift()!;
    let input = slot.ready;
    if (!input) {
      const waitFrom = clock();
      input = await slot.promise;
      readWaitSeconds += clock() - waitFrom;
    }
    const computeFrom = clock();
    const probs = await engine.run(input, [plan.batches[k].length, engine.inChannels, plan.tile, plan.tile]);
    engineSeconds += clock() - computeFrom;
    return probs;
  };
  const started = clock();
  let next = n > 0 ? compute(0) : null;
  for (let k = 0; k < n; k++) {
    const probs = await next!;
    const inFlight = plan.batches.slice(k, requested).reduce((sum, b) => sum + b.length, 0) * tileBytes;
    // an engine that computes off this thread (ONNX Runtime) starts on the next batch while this one is blended and written
    next = k + 1 < n ? compute(k + 1) : null;
    next?.catch(() => undefined); // awaited in the next round, unless blending this batch fails first
    blender.add(probs);
    peakBufferBytes = Math.max(peakBufferBytes, blender.heldAlways + inFlight + 2 * probs.byteLength);
  }
  if (!blender.finished) throw new Error('the tiling ended before its last band');
  return { peakBufferBytes, wallSeconds: clock() - started, engineSeconds, readWaitSeconds, batches: plan.batches.length };
}

/** Forward pass of a batch of tiles, with optional flip/rotation averaging; returns probabilities NCHW. */
function runTiles(net: InferenceNet, input: Float32Array, shape: [number, number, number, number], options: SlidingWindowOptions): Float32Array {
  const device = options.device ?? 'cpu';
  return noGrad(() =>
    tidy(() => {
      let x = tensor(input, shape);
      if (device !== 'cpu') x = x.to(device);
      const predict = (t: Tensor): Tensor => {
        return net.probabilities(mixedPrecision(device, options.amp, () => net.forward(t)));
      };
      return (options.tta ? symmetryAverage(predict, x) : predict(x)).toFloat32Array();
    }),
  );
}
