/**
 * Round trip of a slide prediction: a generated slide (a 700 x 600 crop of
 * the CMU region as a tiled pyramidal TIFF whose resolution is only in its
 * TIFF tags) predicted by a network of known output, its GeoJSON read back
 * as QuPath annotations and rasterised, compared with the mask TIFF written
 * alongside: identical without simplification, at level 0 and at level 1;
 * with --simplify every differing pixel within the tolerance of the mask's
 * outline; classes, areas and the mpp present; no local path in any file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { libtorchEngine } from '../../src/infer/tiled.js';
import { memory, setNumThreads } from '../../src/tensor/runtime.js';
import { parseAnnotations } from '../../src/wsi/annotations.js';
import { paintOrder } from '../../src/wsi/classes.js';
import { rasterizeWindow } from '../../src/wsi/patches.js';
import { predictSlide, type SlidePredictOptions } from '../../src/wsi/predict.js';
import { Slide } from '../../src/wsi/slide.js';
import { fixedConvNet } from '../infer/helpers.js';
import { CMU_SLIDE } from './helpers.js';

const [W, H] = [700, 600];
const MPP = 0.465;
const GLAND = { names: ['Gland'], colors: [[0, 160, 60]] as [number, number, number][] };
let dir: string;
let slidePath: string;

before(async () => {
  setNumThreads(1);
  dir = await mkdtemp(join(tmpdir(), 'patho-roundtrip-'));
  const cmu = Slide.open(CMU_SLIDE);
  const rgba = cmu.readRegion(0, 700, 1500, W, H);
  cmu.close();
  slidePath = join(dir, 'generated.tif');
  // sharp takes the resolution in pixels per millimetre
  await sharp(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), { raw: { width: W, height: H, channels: 4 } })
    .removeAlpha()
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', xres: 1000 / MPP, yres: 1000 / MPP, resolutionUnit: 'cm' })
    .toFile(slidePath);
});
after(() => rm(dir, { recursive: true, force: true }));

/** Predicts the generated slide into `out`-named files: the pale pixels (red >= 216, p >= 0.8 for sigmoid(4 r - 2)) are the class. */
async function predict(name: string, options: Partial<SlidePredictOptions> = {}) {
  const net = fixedConvNet(3);
  const slide = Slide.open(slidePath);
  try {
    const before = memory().numTensors;
    const result = await predictSlide(libtorchEngine(net), slide, {
      outDir: dir, name, tile: 128, threshold: 0.8, formats: ['tiff', 'geojson'], overlay: false, tissueMask: false, classes: GLAND, traceRows: 37, ...options,
    });
    assert.equal(memory().numTensors, before, 'no tensors left behind');
    return result;
  } finally {
    slide.close();
    net.dispose();
  }
}

/** The mask TIFF through OpenSlide: 0/1 per level-0 pixel, and the mpp it records. */
function readMask(name: string): { mask: Uint8Array; mpp: { x: number; y: number } | null } {
  const slide = Slide.open(join(dir, `${name}_mask.tif`));
  try {
    assert.deepEqual([slide.levels[0].width, slide.levels[0].height], [W, H]);
    const rgba = slide.readRegion(0, 0, 0, W, H);
    return { mask: Uint8Array.from({ length: W * H }, (_, i) => (rgba[i * 4] ? 1 : 0)), mpp: slide.mpp };
  } finally {
    slide.close();
  }
}

/** The GeoJSON read back as QuPath annotations and rasterised over level 0 (Gland = 1). */
async function rasterisedGeoJson(name: string): Promise<{ back: Uint8Array; text: string; features: { properties: Record<string, any> }[] }> {
  const text = await readFile(join(dir, `${name}.geojson`), 'utf8');
  const parsed = parseAnnotations(text, `${name}.geojson`);
  assert.deepEqual(parsed.problems, [], 'valid polygons: no ring crosses itself');
  const back = rasterizeWindow({ x: 0, y: 0, width: W, height: H, scale: 1 }, paintOrder({ ...GLAND, unlabelled: 'background' }, parsed.annotations), 0).data;
  return { back, text, features: JSON.parse(text).features };
}

test('the GeoJSON rasterises back to the mask TIFF exactly, at level 0 and at level 1; classes, areas and mpp are there', async () => {
  for (const level of [0, 1]) {
    const name = `exact-${level}`;
    const result = await predict(name, { level });
    const { mask, mpp } = readMask(name);
    assert.ok(mpp && Math.abs(mpp.x - MPP) < 1e-6 && Math.abs(mpp.y - MPP) < 1e-6, `the mask TIFF records ${JSON.stringify(mpp)}`);
    const covered = mask.reduce((s, v) => s + v, 0);
    assert.ok(covered > W * H * 0.05 && covered < W * H * 0.95, `a mask with structure: ${covered} of ${W * H} pixels`);
    const { back, features } = await rasterisedGeoJson(name);
    let differing = 0;
    for (let i = 0; i < mask.length; i++) if (back[i] !== mask[i]) differing++;
    assert.equal(differing, 0, `level ${level}: ${differing} pixels differ between the mask TIFF and its GeoJSON`);
    assert.equal(features.length, result.regions);
    assert.ok(features.length > 10, `${features.length} regions`);
    let area = 0;
    for (const f of features) {
      assert.deepEqual(f.properties.classification, { name: 'Gland', color: [0, 160, 60] });
      assert.equal(f.properties.objectType, 'annotation');
      assert.ok(Math.abs(f.properties.measurements['Area µm^2'] - f.properties.measurements['Area px^2'] * MPP * MPP) < 1e-6 * f.properties.measurements['Area µm^2']);
      area += f.properties.measurements['Area px^2'];
    }
    assert.equal(area, covered, 'the areas add up to the mask');
  }
});

test('traced in strips of 37 rows or of the whole height: the same GeoJSON', async () => {
  await predict('strips', { traceRows: 37 });
  await predict('whole', { traceRows: H });
  assert.equal(await readFile(join(dir, 'strips.geojson'), 'utf8'), await readFile(join(dir, 'whole.geojson'), 'utf8'));
});

test('--simplify 2: far fewer positions, and every pixel that differs from the mask TIFF lies within 2 px of its outline', async () => {
  await predict('exact');
  await predict('simple', { simplify: 2 });
  const { mask } = readMask('simple');
  const exact = await rasterisedGeoJson('exact');
  const simple = await rasterisedGeoJson('simple');
  const positions = (text: string) => text.split('],[').length;
  assert.ok(positions(simple.text) < positions(exact.text) / 2, `${positions(exact.text)} -> ${positions(simple.text)} positions`);
  assert.equal(simple.features.length, exact.features.length, 'no region lost');
  let differing = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = mask[y * W + x];
      if (simple.back[y * W + x] === v) continue;
      differing++;
      // the nearest pixel of the other value (outside the slide is background): its square is within 2 px of this pixel's centre
      let near = v ? Math.min(x, y, W - 1 - x, H - 1 - y) + 0.5 : Infinity;
      for (let j = Math.max(0, y - 3); j <= Math.min(H - 1, y + 3); j++) {
        for (let i = Math.max(0, x - 3); i <= Math.min(W - 1, x + 3); i++) {
          if (mask[j * W + i] === v) continue;
          near = Math.min(near, Math.hypot(Math.max(0, Math.abs(i - x) - 0.5), Math.max(0, Math.abs(j - y) - 0.5)));
        }
      }
      assert.ok(near <= 2, `pixel (${x}, ${y}) differs ${near} px from the outline`);
    }
  }
  assert.ok(differing > 0 && differing < W * H * 0.05, `${differing} pixels differ`);
});

test('--min-area drops exactly the polygons under the area; without an mpp it is an error naming the option and the slide', async () => {
  await predict('all');
  await predict('large', { minArea: 20 });
  const all = JSON.parse(await readFile(join(dir, 'all.geojson'), 'utf8')).features;
  const large = JSON.parse(await readFile(join(dir, 'large.geojson'), 'utf8')).features;
  const kept = all.filter((f: { properties: { area_um2: number } }) => f.properties.area_um2 >= 20);
  assert.ok(kept.length < all.length && kept.length > 0, `${all.length} -> ${kept.length}`);
  assert.deepEqual(large, kept);

  const plain = join(dir, 'plain.tif');
  await sharp(slidePath).tiff({ tile: true, pyramid: true }).toFile(plain);
  const slide = Slide.open(plain);
  assert.equal(slide.mpp, null);
  const net = fixedConvNet(3);
  try {
    await assert.rejects(predictSlide(libtorchEngine(net), slide, { outDir: dir, name: 'plain', minArea: 20, formats: ['geojson'], overlay: false }), (e: Error) => {
      assert.equal(e.name, 'SlideError');
      assert.match(e.message, new RegExp(`^${plain}: --min-area 20 is in um\\^2, but the slide does not record its microns per pixel`));
      return true;
    });
  } finally {
    slide.close();
    net.dispose();
  }
});

test('no local path in the outputs: the TIFF names the slide by its file name only', async () => {
  await predict('paths', { probabilities: true });
  for (const file of ['paths_mask.tif', 'paths_prob.tif', 'paths.geojson']) {
    const bytes = await readFile(join(dir, file), 'latin1');
    assert.ok(!bytes.includes(dir), `${file} holds ${dir}`);
  }
  const slide = Slide.open(join(dir, 'paths_mask.tif'));
  assert.match(slide.properties['tiff.ImageDescription'], /^patho mask, 255 = foreground of generated\.tif, level 0$/);
  slide.close();
});
