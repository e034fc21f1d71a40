/**
 * `patho predict`: masks (and probability maps, overlays, TIFF, GeoJSON) for
 * images and whole slides, named after the inputs. Several devices (or a
 * torchrun/SLURM job) share the inputs: rank r takes every world-size-th one.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../data/dataset.js';
import { readImageForInference } from '../infer/image.js';
import { labelsFrom, writeMaskPng, writeOverlayPng, writeProbabilityPng } from '../infer/outputs.js';
import { onnxRuntimeEngine } from '../infer/onnxruntime.js';
import { predictSlidingWith, tileCount, type SlidingWindowOptions } from '../infer/sliding.js';
import { inPasses, libtorchEngine, type PipelineStats, type TileEngine } from '../infer/tiled.js';
import { cpuHasFastBfloat16, inferenceNetFor } from '../infer/engine.js';
import { BF16_DICE_TOLERANCE, checkBfloat16 } from '../infer/precision.js';
import type { UNet } from '../models/unet.js';
import { loadTrainedNet } from '../infer/trained.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { maskToGeoJson, namedClasses } from '../wsi/geojson.js';
import { predictSlide, writeFeatureCollection, type SlideFormat } from '../wsi/predict.js';
import { Slide, SLIDE_EXTENSIONS } from '../wsi/slide.js';
import { TiledTiffWriter } from '../wsi/tiff.js';
import { UsageError } from './args.js';
import { parseThreshold, type PredictOptions } from './commands.js';
import { ensureWritableFolder } from './output.js';
import { startUp } from './startup.js';
import { ProgressBar } from '../report/progress.js';

const INPUT_EXTENSIONS = [...IMAGE_EXTENSIONS, ...SLIDE_EXTENSIONS];

/** Image and slide files named on the command line, folders expanded (sorted). */
export function expandInputs(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (!existsSync(input)) throw new UsageError(`${input}: no such file or folder`, 'patho predict');
    if (statSync(input).isDirectory()) {
      const found = readdirSync(input)
        .filter((f) => INPUT_EXTENSIONS.includes(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(input, f));
      if (found.length === 0) throw new UsageError(`${input}: no images or slides (${INPUT_EXTENSIONS.join(', ')}) in this folder`, 'patho predict');
      files.push(...found);
    } else {
      files.push(input);
    }
  }
  return files;
}

/** Slide formats by extension; a .tif/.tiff is a slide when OpenSlide finds a pyramid in it, else a plain image. */
function openIfSlide(file: string): Slide | null {
  const ext = extname(file).toLowerCase();
  if (SLIDE_EXTENSIONS.includes(ext)) return Slide.open(file);
  if (ext !== '.tif' && ext !== '.tiff') return null;
  try {
    const slide = Slide.open(file);
    if (slide.levels.length > 1) return slide;
    slide.close();
  } catch {
    // not something OpenSlide reads: sharp decodes it as an image
  }
  return null;
}

export async function predictCommand(o: PredictOptions, inputs: string[]): Promise<number> {
  if (!existsSync(o.model)) throw new UsageError(`--model ${o.model}: no such file`, 'patho predict');
  const asked = parseThreshold(o.threshold, 'patho predict');
  let files = expandInputs(inputs);
  ensureWritableFolder(o.out, '--out', 'patho predict');
  const started = await startUp(o, 'patho predict');
  if ('exitCode' in started) return started.exitCode;
  const { device, world } = started;
  // a worker of a multi-process job: its share of the inputs
  if (world) files = files.filter((_, i) => i % world.worldSize === world.rank);
  const rank = world ? `rank ${world.rank}: ` : '';
  checkEngineOptions(o, device);
  const trained = await loadTrainedNet(o.model, { device });
  const meta = trained.meta;
  const threshold = asked === 'auto' ? meta.threshold : asked;
  const binary = trained.net.options.classes === 1;
  const window: SlidingWindowOptions = { tile: o.tile, overlap: o.overlap, blend: o.blend, tta: o.tta, batchSize: o.batchSize, device };
  let engine: TileEngine & { dispose(): Promise<void> | void };
  try {
    const bf16 = o.engine !== 'onnxruntime' && (await wantBfloat16(o, device, trained.net, meta, window, rank));
    const engineName = chooseEngine(o, device, bf16);
    if (o.verbose) process.stdout.write(`${rank}engine ${engineName}, ${bf16 ? 'bfloat16' : 'float32'}\n`);
    if (engineName === 'onnxruntime') {
      const session = await onnxRuntimeEngine(trained.net, { threads: o.threads });
      engine = { ...session, dispose: () => session.release() };
    } else {
      // batch norm folded, channels-last, bfloat16 where asked for or checked, and where the CPU has it
      const { net, autocast } = inferenceNetFor(trained.net, device, bf16);
      engine = { ...libtorchEngine(net, { ...window, amp: autocast }), dispose: () => net.dispose() };
    }
  } finally {
    trained.net.dispose();
  }
  // a CPU computes one tile per forward pass: the same time per tile as a batch, a quarter of the activations of four
  if (device === 'cpu') engine = { ...inPasses(engine, 1), dispose: engine.dispose };
  try {
    for (const file of files) {
      const name = basename(file, extname(file));
      const slide = openIfSlide(file);
      if (slide) {
        try {
          let tiles: ProgressBar | null = null;
          const result = await predictSlide(engine, slide, {
            ...window,
            readers: o.workers,
            outDir: o.out,
            name,
            level: o.level,
            // a model trained on slides at an mpp predicts at the level nearest it, unless told otherwise
            mpp: o.mpp ?? (o.level === undefined ? meta.mpp ?? undefined : undefined),
            classes: meta.classes ?? null,
            objectType: o.objects as 'annotation' | 'detection',
            simplify: o.simplify,
            minArea: o.minArea,
            tissueMask: o.tissueMask,
            threshold,
            normalization: meta.normalization,
            formats: (o.format ?? ['tiff', 'geojson']) as SlideFormat[],
            overlay: o.overlay,
            probabilities: o.probabilities,
            onStart: (total) => (tiles = new ProgressBar({ total, label: `${rank}${basename(file)}`, unit: 'tiles' })),
            onProgress: (done) => tiles?.update(done),
          });
          (tiles as ProgressBar | null)?.done();
          const mpp = result.mpp ? `, ${result.mpp.toFixed(3)} um/px` : '';
          process.stdout.write(
            `${rank}${file}: level ${result.level} (${result.width}x${result.height}${mpp}), ${result.tiles - result.skippedTiles} of ` +
              `${result.tiles} tiles with tissue, ${result.regions} regions -> ${result.files.join(', ')}\n`,
          );
          if (o.verbose) process.stdout.write(`${rank}${file}: ${describePipeline(result.pipeline)}\n`);
        } finally {
          slide.close();
        }
        continue;
      }
      await predictImage(file, name, { ...o, threshold }, window, engine, meta, rank);
    }
  } finally {
    await engine.dispose();
  }
  const cut = binary ? ` at threshold ${threshold}${asked === 'auto' ? " (the model's)" : ''}` : '';
  process.stdout.write(`${rank}${files.length} input${files.length === 1 ? '' : 's'} predicted into ${o.out}${cut}\n`);
  return 0;
}

/** --engine onnxruntime where it cannot run what was asked: exit 2 before the model is loaded. */
function checkEngineOptions(o: PredictOptions, device: string): void {
  if (o.engine !== 'onnxruntime') return;
  const refuse = (why: string) => new UsageError(`--engine onnxruntime: ${why}`, 'patho predict');
  if (device !== 'cpu') throw refuse(`patho runs ONNX Runtime's CPU provider only; on ${device} use libtorch`);
  if (o.tta) throw refuse('--tta runs on the libtorch engine');
  if (o.amp || o.precision === 'bf16') throw refuse(`${o.amp ? '--amp' : '--precision bf16'} runs on the libtorch engine; ONNX Runtime computes in float32`);
}

/**
 * The engine --engine names; for auto, the one measured faster for the
 * precision on this kind of device (README, inference table): libtorch on
 * GPUs, for bfloat16 and for --tta; ONNX Runtime for float32 on CPUs.
 */
function chooseEngine(o: PredictOptions, device: string, bf16: boolean): 'libtorch' | 'onnxruntime' {
  if (o.engine !== 'auto') return o.engine as 'libtorch' | 'onnxruntime';
  return device !== 'cpu' || o.tta || bf16 ? 'libtorch' : 'onnxruntime';
}

/**
 * bfloat16 when --amp or --precision bf16 asks for it (on CPUs only those
 * with AVX512-BF16/AMX); with --precision auto on such a CPU, when the
 * checkpoint's validation images say it keeps Dice within 0.001 of float32
 * (the verdict is printed).
 */
async function wantBfloat16(o: PredictOptions, device: string, net: UNet, meta: CheckpointMeta, window: SlidingWindowOptions, rank: string): Promise<boolean> {
  // a CPU without bfloat16 arithmetic would emulate it, slower than float32: --amp is a no-op there
  if (device === 'cpu' && !cpuHasFastBfloat16()) return false;
  if (o.amp || o.precision === 'bf16') return true;
  if (o.precision === 'fp32' || device !== 'cpu') return false;
  const v = await checkBfloat16(net, meta, window);
  const found =
    v.images === 0
      ? 'the checkpoint records no validation images to check bfloat16 on'
      : `bfloat16 vs float32 on ${v.images} validation image${v.images === 1 ? '' : 's'}: Dice difference ${v.worstDiceDifference.toExponential(1)} ` +
        `(at most ${BF16_DICE_TOLERANCE}), probabilities within ${v.maxProbabilityDifference.toExponential(1)}`;
  process.stdout.write(`${rank}precision ${v.bfloat16 ? 'bfloat16' : 'float32'}: ${found}\n`);
  return v.bfloat16;
}

/** The engine's busy share of the tiled pass, the line --verbose prints for a slide. */
export function describePipeline(p: PipelineStats): string {
  const busy = p.wallSeconds > 0 ? (100 * p.engineSeconds) / p.wallSeconds : 100;
  return (
    `engine busy ${busy.toFixed(1)}% of ${p.wallSeconds.toFixed(1)} s (${p.batches} batches, ${p.engineSeconds.toFixed(1)} s computing, ` +
    `${p.readWaitSeconds.toFixed(2)} s waiting for tiles)`
  );
}

/** A plain image, held in memory: mask PNG (and probability, overlay PNG), optionally TIFF and GeoJSON. */
async function predictImage(
  file: string, name: string, o: Omit<PredictOptions, 'threshold'> & { threshold: number }, window: SlidingWindowOptions,
  engine: TileEngine, meta: CheckpointMeta, rank: string,
): Promise<void> {
  if (o.level !== undefined || o.mpp !== undefined) {
    throw new UsageError(`${file}: --level and --mpp apply to whole-slide images; this is a plain image`, 'patho predict');
  }
  if (o.minArea !== undefined) {
    throw new UsageError(`${file}: --min-area is in square microns, and a plain image does not record its microns per pixel; use it with slides`, 'patho predict');
  }
  const { raw, image } = await readImageForInference(file, meta.normalization);
  const bar = new ProgressBar({ total: tileCount(image.width, image.height, window), label: `${rank}${basename(file)}`, unit: 'tiles' });
  const map = await predictSlidingWith(engine, image, { ...window, onProgress: (done) => bar.update(done) });
  bar.done();
  const labels = labelsFrom(map, o.threshold);
  const binary = map.classes === 1;
  const formats = new Set(o.format ?? ['png']);
  if (formats.has('png')) await writeMaskPng(join(o.out, `${name}_mask.png`), labels, map.width, map.height, binary);
  if (formats.has('tiff')) {
    const tiff = new TiledTiffWriter(join(o.out, `${name}_mask.tif`), { width: map.width, height: map.height });
    tiff.writeRows(binary ? labels.map((v) => v * 255) : labels, map.height);
    tiff.close();
  }
  if (formats.has('geojson')) {
    const collection = maskToGeoJson(labels, map.width, map.height, { simplify: o.simplify, ...namedClasses(meta.classes) });
    await writeFeatureCollection(join(o.out, `${name}.geojson`), collection.features);
  }
  if (o.probabilities) await writeProbabilityPng(join(o.out, `${name}_prob.png`), map);
  if (o.overlay) await writeOverlayPng(join(o.out, `${name}_overlay.png`), raw, labels);
}
