/**
 * The slide loader's rate against the folder loader's on the same pixels:
 * the CMU-1 region cut into 512 x 512 PNG tiles with masks rasterised from
 * the test annotation (the folder), and the slide itself with that
 * annotation (patches read through OpenSlide and rasterised per patch). Both
 * give 256 x 256 patches with the 'he' recipe, batch 4, in 2 worker threads;
 * the folder loader runs from its decoded-image cache (it is warmed first),
 * the slide loader reads every patch from the slide. Interleaved runs,
 * medians and the ratio; on a shared machine single runs move a lot.
 *
 * Env: PATHO_REPEATS (default 5), PATHO_SAMPLES (patches per run, default 96).
 * Run: npx tsc -p tsconfig.json && node dist/bench/slide-loader.js
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataLoader } from '../src/data/loader.js';
import type { HostBatch } from '../src/data/types.js';
import { classSet, paintOrder } from '../src/wsi/classes.js';
import { parseAnnotations } from '../src/wsi/annotations.js';
import { SlideLoader } from '../src/wsi/loader.js';
import { rasterizeWindow } from '../src/wsi/patches.js';
import { Slide } from '../src/wsi/slide.js';
import { annotatedSlides, CMU_SLIDE, cmuFeatures } from '../test/wsi/helpers.js';

const repeats = Number(process.env.PATHO_REPEATS ?? 5);
const samples = Number(process.env.PATHO_SAMPLES ?? 96);
const common = { batchSize: 4, patchSize: 256, augment: 'he' as const, workers: 2, seed: 1 };

const slides = await annotatedSlides(['cmu']);
const folder = await mkdtemp(join(tmpdir(), 'patho-bench-folder-'));
await mkdir(join(folder, 'images'));
await mkdir(join(folder, 'masks'));
// the folder: every 512 x 512 tile of the region, masks 0/1 for Tumor as the slide loader paints them (unlabelled = background)
const annotations = parseAnnotations(JSON.stringify(cmuFeatures()), 'cmu.geojson').annotations;
const classes = classSet(annotations, ['Tumor'], 'background');
const painted = paintOrder(classes, annotations).filter((p) => p.label !== 255);
const slide = Slide.open(CMU_SLIDE);
let tiles = 0;
for (let y = 0; y + 512 <= slide.levels[0].height; y += 512) {
  for (let x = 0; x + 512 <= slide.levels[0].width; x += 512) {
    const rgba = slide.readRegion(0, x, y, 512, 512);
    await sharp(Buffer.from(rgba), { raw: { width: 512, height: 512, channels: 4 } }).removeAlpha().png().toFile(join(folder, 'images', `t${tiles}.png`));
    const mask = rasterizeWindow({ x, y, width: 512, height: 512, scale: 1 }, painted, 0).data.map((v) => v * 255);
    await sharp(Buffer.from(mask), { raw: { width: 512, height: 512, channels: 1 } }).toColourspace('b-w').png().toFile(join(folder, 'masks', `t${tiles}.png`));
    tiles++;
  }
}
slide.close();

async function rate(batches: () => AsyncIterable<HostBatch>, wanted: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  while (n < wanted) for await (const b of batches()) if ((n += b.shape[0]) >= wanted) break;
  return n / ((performance.now() - start) / 1000);
}

const folderLoader = new DataLoader(folder, 'images', 'masks', { ...common, normalize: 'none' });
const slideLoader = new SlideLoader(slides.slides, slides.annotations, { ...common, normalize: 'none', classes: ['Tumor'], unlabelled: 'background', samplesPerEpoch: samples });
try {
  await rate(() => folderLoader, tiles); // warms the decoded-image caches
  await slideLoader.open();
  const folderRates: number[] = [];
  const slideRates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    folderRates.push(await rate(() => folderLoader, samples));
    slideRates.push(await rate(() => slideLoader, samples));
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(`${tiles} tiles of 512 x 512 vs the slide; ${samples} patches of 256 x 256 per run, 'he', batch 4, 2 workers, ${repeats} interleaved runs`);
  console.log(`folder loader: median ${median(folderRates).toFixed(1)} patches/s (${folderRates.map((v) => v.toFixed(1)).join(', ')})`);
  console.log(`slide loader:  median ${median(slideRates).toFixed(1)} patches/s (${slideRates.map((v) => v.toFixed(1)).join(', ')})`);
  console.log(`slide / folder: ${(median(slideRates) / median(folderRates)).toFixed(2)} (median of the runs' rates)`);
} finally {
  await folderLoader.close();
  await slideLoader.close();
  await slides.cleanup();
  await rm(folder, { recursive: true, force: true });
}
