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
import { atDownsample, inPasses, libtorchEngine, type PipelineStats, type TileEngine } from '../infer/tiled.js';
import { cpuHasFastBfloat16, inferenceNetFor } from '../infer/engine.js';
import { BF16_DICE_TOLERANCE, checkBfloat16 } from '../infer/precision.js';
import { ensembleEngine, loadEnsemble, type EnsembleMember } from '../infer/ensemble.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { maskToGeoJson, namedClasses } from '../wsi/geojson.js';
import { predictSlide, writeFeatureCollection, type SlideFormat } from '../wsi/predict.js';
import { SlideError } from '../wsi/errors.js';
import { Slide, SLIDE_EXTENSIONS } from '../wsi/slide.js';
import { TiledTiffWriter } from '../wsi/tiff.js';
import { ampFor } from './amp.js';
import { UsageError } from './args.js';
import { parsePostProcessing, parseThreshold, type PredictOptions } from './commands.js';
import { isNoOp, NO_POSTPROCESSING, postProcessMask, type PostProcessing } from '../infer/postprocess.js';
import { modelOption } from './models.js';
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
  const modelPaths = modelOption(o.model, 'patho predict');
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
  const { members, meta } = await loadEnsemble(modelPaths, { device });
  if (members.length > 1) process.stdout.write(`${rank}an ensemble of ${members.length} models: ${modelPaths.join(', ')}\n`);
  const threshold = asked === 'auto' ? meta.threshold : asked;
  const binary = members[0].net.options.classes === 1;
  if (!binary && (o.minObjectPx !== 'auto' || o.fillHolesPx !== 'auto')) {
    for (const member of members) member.net.dispose();
    throw new UsageError(`--min-object-px and --fill-holes-px post-process binary masks; this model has ${members[0].net.options.classes} classes`, 'patho predict');
  }
  const postProcessing = binary ? parsePostProcessing(o, meta.postProcessing, 'patho predict') : NO_POSTPROCESSING;
  const window: SlidingWindowOptions = { tile: o.tile, overlap: o.overlap, blend: o.blend, tta: o.tta, batchSize: o.batchSize, device };
  const engines: (TileEngine & { dispose(): Promise<void> | void })[] = [];
  let engine: TileEngine;
  try {
    const bf16 = o.engine !== 'onnxruntime' && (await wantBfloat16(o, device, members, window, rank, !world || world.rank === 0));
    const engineName = chooseEngine(o, device, bf16);
    if (o.verbose) process.stdout.write(`${rank}engine ${engineName}, ${bf16 ? 'bfloat16' : 'float32'}\n`);
    for (const member of members) {
      if (engineName === 'onnxruntime') {
        const session = await onnxRuntimeEngine(member.net, { threads: o.threads });
        engines.push({ ...session, dispose: () => session.release() });
      } else {
        // batch norm folded, channels-last, bfloat16 where asked for or checked, and where the CPU has it
        const { net, autocast } = inferenceNetFor(member.net, device, bf16);
        engines.push({ ...libtorchEngine(net, { ...window, amp: autocast }), dispose: () => net.dispose() });
      }
    }
    // a model trained at a working resolution sees tiles shrunk as its patches were (the members agree on it)
    engine = atDownsample(ensembleEngine(engines), meta.downsample ?? 1);
  } catch (error) {
    for (const e of engines) await e.dispose();
    throw error;
  } finally {
    for (const member of members) member.net.dispose();
  }
  // a CPU computes one tile per forward pass: the same time per tile as a batch, a quarter of the activations of four
  if (device === 'cpu') engine = inPasses(engine, 1);
  let slides = 0;
  try {
    for (const file of files) {
      const name = basename(file, extname(file));
      const slide = openIfSlide(file);
      if (slide) {
        slides++;
        try {
          if (o.mpp === undefined && o.level === undefined && meta.mpp && !slide.mpp) {
            throw new SlideError(
              slide.path,
              `${slide.path}: the model was trained at ${meta.mpp} um/px, and the slide does not record its microns per pixel; ` +
                'give the level whose pixels are that size with --level',
            );
          }
          let tiles: ProgressBar | null = null;
          const result = await predictSlide(engine, slide, {
            ...window,
            readers: o.workers,
            outDir: o.out,
            name,
            level: o.level,
            // a model trained on slides at an mpp predicts at that mpp, resampled as its patches were, unless told otherwise
            mpp: o.mpp ?? (o.level === undefined ? meta.mpp ?? undefined : undefined),
            onWarning: (message) => process.stderr.write(`${rank}warning: ${message}\n`),
            classes: meta.classes ?? null,
            objectType: o.objects as 'annotation' | 'detection',
            simplify: o.simplify,
            minArea: o.minArea,
            postProcessing,
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
          const um = (mpp: number | null) => (mpp ? `${mpp.toFixed(3)} um/px` : '');
          const at = result.resampled
            ? `level ${result.level} (${um(result.levelMpp)}) resampled to ${um(result.mpp)} (${result.width}x${result.height})`
            : `level ${result.level} (${result.width}x${result.height}${result.mpp ? ', ' + um(result.mpp) : ''})`;
          process.stdout.write(
            `${rank}${file}: ${at}, ${result.tiles - result.skippedTiles} of ` +
              `${result.tiles} tiles with tissue, ${result.regions} regions -> ${result.files.join(', ')}\n`,
          );
          if (o.verbose) process.stdout.write(`${rank}${file}: ${describePipeline(result.pipeline)}\n`);
        } finally {
          slide.close();
        }
        continue;
      }
      await predictImage(file, name, { ...o, threshold, postProcessing }, window, engine, meta, rank);
    }
  } finally {
    for (const e of engines) await e.dispose();
  }
  const whose = members.length > 1 ? `the mean of the ${members.length} models'` : "the model's";
  // a slide's mask is written in bands, never whole: its polygons are cleaned, its TIFF and PNG masks are not
  const cleaned = isNoOp(postProcessing)
    ? ''
    : `, objects under ${postProcessing.minObjectPx} px removed and holes under ${postProcessing.fillHolesPx} px filled` + (slides > 0 ? ' (in slides: in the GeoJSON polygons)' : '');
  const cut = binary ? ` at threshold ${threshold}${asked === 'auto' ? ` (${whose})` : ''}${cleaned}` : '';
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
 * with AVX512-BF16/AMX); with --precision auto on such a CPU, when each
 * checkpoint's validation images say it keeps Dice within 0.001 of float32
 * (the verdict is printed, per model of an ensemble).
 */
async function wantBfloat16(
  o: PredictOptions, device: string, members: EnsembleMember[], window: SlidingWindowOptions, rank: string, main: boolean,
): Promise<boolean> {
  if (o.amp || o.precision === 'bf16') {
    const option = o.amp ? '--amp' : '--precision bf16';
    // one line per job, not per rank: every rank falls back alike
    return ampFor(true, device, { command: 'patho predict', option, warn: main ? undefined : () => {} }) !== null;
  }
  // a CPU without bfloat16 arithmetic would emulate it, slower than float32: auto checks nothing there
  if (device === 'cpu' && !cpuHasFastBfloat16()) return false;
  if (o.precision === 'fp32' || device !== 'cpu') return false;
  for (const { net, meta, path } of members) {
    const v = await checkBfloat16(net, meta, window);
    const found =
      v.images === 0
        ? 'the checkpoint records no validation images to check bfloat16 on'
        : `bfloat16 vs float32 on ${v.images} validation image${v.images === 1 ? '' : 's'}: Dice difference ${v.worstDiceDifference.toExponential(1)} ` +
          `(at most ${BF16_DICE_TOLERANCE}), probabilities within ${v.maxProbabilityDifference.toExponential(1)}`;
    const of = members.length > 1 ? ` (${path})` : '';
    process.stdout.write(`${rank}precision ${v.bfloat16 ? 'bfloat16' : 'float32'}${of}: ${found}\n`);
    // every member in one precision: the first that fails keeps the ensemble in float32
    if (!v.bfloat16) return false;
  }
  return true;
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
  file: string, name: string, o: Omit<PredictOptions, 'threshold'> & { threshold: number; postProcessing: PostProcessing }, window: SlidingWindowOptions,
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
  const binary = map.classes === 1;
  const thresholdedLabels = labelsFrom(map, o.threshold);
  const labels = binary && !isNoOp(o.postProcessing) ? postProcessMask(thresholdedLabels, map.width, map.height, o.postProcessing) : thresholdedLabels;
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
