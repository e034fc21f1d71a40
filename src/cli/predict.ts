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
import { predictSliding, tileCount, type SlidingWindowOptions } from '../infer/sliding.js';
import { inferenceNetFor } from '../infer/engine.js';
import { loadTrainedNet } from '../infer/trained.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { maskToGeoJson, namedClasses } from '../wsi/geojson.js';
import { predictSlide, writeFeatureCollection, type SlideFormat } from '../wsi/predict.js';
import { Slide, SLIDE_EXTENSIONS } from '../wsi/slide.js';
import { TiledTiffWriter } from '../wsi/tiff.js';
import { UsageError } from './args.js';
import type { PredictOptions } from './commands.js';
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
  let files = expandInputs(inputs);
  ensureWritableFolder(o.out, '--out', 'patho predict');
  const started = await startUp(o, 'patho predict');
  if ('exitCode' in started) return started.exitCode;
  const { device, world } = started;
  // a worker of a multi-process job: its share of the inputs
  if (world) files = files.filter((_, i) => i % world.worldSize === world.rank);
  const trained = await loadTrainedNet(o.model, { device });
  const meta = trained.meta;
  // batch norm folded, channels-last, bfloat16 with --amp where the CPU has it
  const { net, autocast } = inferenceNetFor(trained.net, device, o.amp);
  trained.net.dispose();
  const window: SlidingWindowOptions = {
    tile: o.tile,
    overlap: o.overlap,
    blend: o.blend,
    tta: o.tta,
    batchSize: o.batchSize,
    device,
    amp: autocast,
  };
  const rank = world ? `rank ${world.rank}: ` : '';
  try {
    for (const file of files) {
      const name = basename(file, extname(file));
      const slide = openIfSlide(file);
      if (slide) {
        try {
          let tiles: ProgressBar | null = null;
          const result = await predictSlide(net, slide, {
            ...window,
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
            threshold: o.threshold,
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
        } finally {
          slide.close();
        }
        continue;
      }
      await predictImage(file, name, o, window, net, meta, rank);
    }
  } finally {
    net.dispose();
  }
  process.stdout.write(`${rank}${files.length} input${files.length === 1 ? '' : 's'} predicted into ${o.out}\n`);
  return 0;
}

/** A plain image, held in memory: mask PNG (and probability, overlay PNG), optionally TIFF and GeoJSON. */
async function predictImage(
  file: string, name: string, o: PredictOptions, window: SlidingWindowOptions,
  net: Parameters<typeof predictSliding>[0], meta: CheckpointMeta, rank: string,
): Promise<void> {
  if (o.level !== undefined || o.mpp !== undefined) {
    throw new UsageError(`${file}: --level and --mpp apply to whole-slide images; this is a plain image`, 'patho predict');
  }
  if (o.minArea !== undefined) {
    throw new UsageError(`${file}: --min-area is in square microns, and a plain image does not record its microns per pixel; use it with slides`, 'patho predict');
  }
  const { raw, image } = await readImageForInference(file, meta.normalization);
  const bar = new ProgressBar({ total: tileCount(image.width, image.height, window), label: `${rank}${basename(file)}`, unit: 'tiles' });
  const map = predictSliding(net, image, { ...window, onProgress: (done) => bar.update(done) });
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
