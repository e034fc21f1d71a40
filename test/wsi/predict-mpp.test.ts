/**
 * Slide prediction at an mpp between pyramid levels, on a generated tiled
 * pyramidal TIFF: 800 x 600 at 0.25 um/px (levels at 0.25, 0.5 and 1 um/px),
 * a pink textured background, white glass at the right and a dark square
 * whose edges do not fall on pixel boundaries at 0.4 um/px. At 0.4 um/px the
 * nearest level (0.5) is coarser; the tiles must come from level 0,
 * area-averaged by training's `readWindow` in the reader threads: the
 * engine's input is compared with it, the outputs' geometry with the
 * square's level-0 position, and an mpp finer than level 0 warns.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { normalizeInPlace } from '../../src/data/normalize.js';
import { atDownsample, libtorchEngine, tileStarts, type InferenceNet, type TileEngine } from '../../src/infer/tiled.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, memory, setNumThreads } from '../../src/tensor/runtime.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { readWindow, slideGrid } from '../../src/wsi/patches.js';
import { predictSlide, type SlidePredictOptions } from '../../src/wsi/predict.js';
import { Slide } from '../../src/wsi/slide.js';

const [W, H] = [800, 600];
const MPP = 0.25;
/** The pale square, level-0 pixels [x0, x1) x [y0, y1). */
const SQUARE = { x0: 203, x1: 363, y0: 122, y1: 282 };
/** Glass from this level-0 column on. */
const GLASS = 560;
const STATS = { mean: [0.5, 0.4, 0.6], std: [0.25, 0.2, 0.3] };
let dir: string;
let slidePath: string;

/** RGB of level-0 pixel (x, y). With STATS, `darkRedNet` finds red < 0.625 (159.4 of 255): the square (30), not the background (215..240) nor glass. */
function pixel(x: number, y: number): [number, number, number] {
  if (x >= SQUARE.x0 && x < SQUARE.x1 && y >= SQUARE.y0 && y < SQUARE.y1) return [30, 20, 60];
  if (x >= GLASS) return [255, 255, 255];
  return [215 + ((x * 7 + y * 13) % 26), 60 + ((x * 3 + y * 5) % 50), 120 + ((x + 2 * y) % 37)];
}

/** A network of known output, pointwise: sigmoid(2 - 4 * channel 0), so p >= 0.5 where the normalised red is at most 0.5. */
function darkRedNet(): InferenceNet {
  return {
    options: { classes: 1, inChannels: 3 },
    forward: (x) => x.slice(1, 0, 1).mul(-4).sub(-2),
    probabilities: (logits) => logits.sigmoid(),
  };
}

before(async () => {
  setNumThreads(1);
  dir = await mkdtemp(join(tmpdir(), 'patho-mpp-'));
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rgb.set(pixel(x, y), (y * W + x) * 3);
  slidePath = join(dir, 'scan.tif');
  // lossless, so that the pixels read are the ones generated; sharp takes the resolution in pixels per millimetre
  await sharp(Buffer.from(rgb.buffer), { raw: { width: W, height: H, channels: 3 } })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'deflate', xres: 1000 / MPP, yres: 1000 / MPP, resolutionUnit: 'cm' })
    .toFile(slidePath);
});
after(() => rm(dir, { recursive: true, force: true }));

test('the generated slide: levels at 0.25, 0.5 and 1 um/px', () => {
  const slide = Slide.open(slidePath);
  assert.deepEqual(slide.levels.map((l) => l.downsample), [1, 2, 4]);
  assert.deepEqual(slide.mpp, { x: MPP, y: MPP });
  slide.close();
});

test('the grid of an mpp: read from the nearest finer level (not the nearest), its size level 0 x 0.25 / mpp; a level as stored', () => {
  const slide = Slide.open(slidePath);
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  try {
    assert.deepEqual(slideGrid(slide, { mpp: 0.4 }, warn), { level: 0, scale: 1.6, width: 500, height: 375, resampled: true });
    assert.deepEqual(slideGrid(slide, { mpp: 0.7 }, warn), { level: 1, scale: 2.8, width: 286, height: 214, resampled: true });
    assert.deepEqual(slideGrid(slide, { mpp: 1 }, warn), { level: 2, scale: 4, width: 200, height: 150, resampled: true });
    assert.deepEqual(slideGrid(slide, { level: 1 }, warn), { level: 1, scale: 2, width: 400, height: 300, resampled: false });
    assert.deepEqual(slideGrid(slide, {}, warn), { level: 0, scale: 1, width: 800, height: 600, resampled: false });
    assert.deepEqual(warnings, []);
    assert.throws(() => slideGrid(slide, { level: 1, mpp: 0.4 }, warn), /scan\.tif: choose a level or an mpp, not both/);
    // twice as fine as level 0 is interpolated; finer (or 0) is refused, not a grid that fills memory
    assert.equal(slideGrid(slide, { mpp: 0.125 }, () => {}).width, 1600);
    for (const mpp of [0.12, 0]) {
      assert.throws(() => slideGrid(slide, { mpp }, warn), (e: Error) => e.name === 'SlideError' && /scan\.tif: [\d.]+ um\/px is more than 2x finer than the slide's level 0 \(0\.2500 um\/px\); predict at 0\.1250 um\/px or coarser/.test(e.message));
    }
  } finally {
    slide.close();
  }
});

test('a model of other than 3 input channels is refused on a slide, naming it (SlideError: exit 2)', async () => {
  const gray: TileEngine = { classes: 1, inChannels: 1, run: () => assert.fail('no tile is predicted') };
  const slide = Slide.open(slidePath);
  try {
    await assert.rejects(
      predictSlide(gray, slide, { outDir: dir, name: 'gray', formats: ['geojson'], overlay: false }),
      (e: Error) => e.name === 'SlideError' && /scan\.tif: the model expects 1-channel images; slides are RGB/.test(e.message),
    );
  } finally {
    slide.close();
  }
});

/** Predicts the generated slide with `darkRedNet` into `name`-named files, the engine's input batches recorded. */
async function predict(name: string, options: Partial<SlidePredictOptions>, downsample = 1) {
  const engine = libtorchEngine(darkRedNet());
  const inputs: Float32Array[] = [];
  // what the network is given: under the working resolution, if any
  const recording: TileEngine = atDownsample({ ...engine, run: (input, shape) => (inputs.push(input.slice()), engine.run(input, shape)) }, downsample);
  const slide = Slide.open(slidePath);
  try {
    const before = memory().numTensors;
    const result = await predictSlide(recording, slide, {
      outDir: dir, name, tile: 128, overlap: 0.25, batchSize: 4, normalization: STATS, readers: 1, formats: ['tiff', 'geojson'], overlay: false, ...options,
    });
    assert.equal(memory().numTensors, before, 'no tensors left behind');
    return { result, inputs };
  } finally {
    slide.close();
  }
}

test('--mpp 0.4: level 0 read and area-averaged in the reader thread as training does; TIFFs at 0.4 um/px; the square lands at its level-0 position', async () => {
  const { result, inputs } = await predict('at04', { mpp: 0.4, probabilities: true, overlay: true, tissueMask: true });
  assert.equal(result.level, 0);
  assert.equal(result.resampled, true);
  assert.ok(Math.abs(result.mpp! - 0.4) < 1e-12 && result.levelMpp === MPP, `${result.levelMpp} -> ${result.mpp} um/px`);
  assert.deepEqual([result.width, result.height], [(W * MPP) / 0.4, (H * MPP) / 0.4]);
  // the tissue filter works on the grid: the tiles wholly over the glass (grid x >= 350) are skipped
  const xs = tileStarts(500, 128, 96);
  const ys = tileStarts(375, 128, 96);
  assert.equal(result.tiles, xs.length * ys.length);
  assert.equal(result.skippedTiles, ys.length * xs.filter((x) => x * 1.6 > GLASS + 16).length);
  assert.ok(result.skippedTiles > 0);

  // the first batch (the first four tiles of the top row, fractional level-0 origins among them) is training's resampling, normalised as a training batch
  const slide = Slide.open(slidePath);
  const tile = 3 * 128 * 128;
  for (let i = 0; i < 4; i++) {
    const { data } = readWindow(slide, { x: xs[i] * 1.6, y: 0, width: 128, height: 128, scale: 1.6 });
    normalizeInPlace(data, 3, STATS);
    assert.deepEqual(inputs[0].subarray(i * tile, (i + 1) * tile), data, `tile ${i} at grid x ${xs[i]}`);
  }
  slide.close();
  // and that resampling is the area average: grid pixel (127, 77) lies inside the square; (126, 76) covers level-0 [201.6, 203.2) x [121.6, 123.2), 3/32 of it square
  const red = (gx: number, gy: number) => inputs[0][1 * tile + gy * 128 + gx - xs[1]] * STATS.std[0] + STATS.mean[0];
  assert.ok(Math.abs(red(127, 77) - 30 / 255) < 1e-6);
  let expected = 0;
  for (const [x, wx] of [[201, 0.4], [202, 1], [203, 0.2]]) for (const [y, wy] of [[121, 0.4], [122, 1], [123, 0.2]]) expected += ((wx * wy) / 2.56) * pixel(x, y)[0];
  assert.ok(Math.abs(red(126, 76) - expected / 255) < 1e-6, `${red(126, 76) * 255} vs ${expected}`);

  // the mask and probability TIFFs at the grid's size, recording 0.4 um/px
  for (const file of ['at04_mask.tif', 'at04_prob.tif']) {
    const tiff = Slide.open(join(dir, file));
    assert.deepEqual([tiff.levels[0].width, tiff.levels[0].height], [500, 375]);
    assert.ok(Math.abs(tiff.mpp!.x - 0.4) < 1e-9 && Math.abs(tiff.mpp!.y - 0.4) < 1e-9, `${file} records ${JSON.stringify(tiff.mpp)}`);
    tiff.close();
  }
  const described = Slide.open(join(dir, 'at04_mask.tif'));
  assert.match(described.properties['tiff.ImageDescription'], /^patho mask, 255 = foreground of scan\.tif, 0\.4000 um\/px from level 0$/);
  described.close();
  const mask = await sharp(join(dir, 'at04_mask.tif')).extractChannel(0).raw().toBuffer();
  assert.equal(mask.reduce((n, v) => n + (v ? 1 : 0), 0), 100 * 100, 'the square: grid columns 127..226, rows 76..175');
  assert.equal(mask[76 * 500 + 127], 255);
  assert.equal(mask[75 * 500 + 127], 0);
  assert.equal(mask[76 * 500 + 126], 0);
  const overlay = await sharp(join(dir, 'at04_overlay.png')).metadata();
  assert.deepEqual([overlay.width, overlay.height], [800, 600]);

  // one polygon, in level-0 pixels: within a grid pixel (1.6 level-0 pixels) of the square, exactly the grid's pixel corners
  const features = JSON.parse(await readFile(join(dir, 'at04.geojson'), 'utf8')).features;
  assert.equal(features.length, 1);
  const ring: [number, number][] = features[0].geometry.coordinates[0];
  const bounds = [Math.min(...ring.map((p) => p[0])), Math.min(...ring.map((p) => p[1])), Math.max(...ring.map((p) => p[0])), Math.max(...ring.map((p) => p[1]))];
  const square = [SQUARE.x0, SQUARE.y0, SQUARE.x1, SQUARE.y1];
  bounds.forEach((b, i) => assert.ok(Math.abs(b - square[i]) <= 1.6, `bounds ${bounds} vs the square ${square}`));
  [127 * 1.6, 76 * 1.6, 227 * 1.6, 176 * 1.6].forEach((b, i) => assert.ok(Math.abs(bounds[i] - b) < 1e-9, `bounds ${bounds}`));
  assert.ok(Math.abs(features[0].properties.area_um2 - 100 * 100 * 0.4 * 0.4) < 1e-6, `${features[0].properties.area_um2} um^2`);
});

test('a model trained at 1/2 (--downsample 2) on a slide: tiles shrunk before the network, the mask at the grid read and the square where it is', async () => {
  const { result, inputs } = await predict('half', { level: 0 }, 2);
  assert.deepEqual([result.width, result.height], [W, H]);
  // the recording engine sits under the working resolution: it saw 64 px tiles cut from 128 px ones
  assert.equal(inputs[0].length, 4 * 3 * 64 * 64);
  const mask = await sharp(join(dir, 'half_mask.tif')).extractChannel(0).raw().toBuffer();
  assert.equal(mask.length, W * H);
  // the square's edges at 203 and 363 (x), 122 and 282 (y) fall mid-block or on block edges: within a pixel of where they are
  const inside = (x: number, y: number) => mask[y * W + x] === 255;
  assert.ok(inside(204, 123) && inside(361, 280) && !inside(201, 123) && !inside(204, 120) && !inside(365, 200) && !inside(300, 284));
  const area = mask.reduce((n, v) => n + (v ? 1 : 0), 0);
  assert.ok(Math.abs(area - 160 * 160) <= 4 * 160, `${area} pixels for the 160 x 160 square`);
  const features = JSON.parse(await readFile(join(dir, 'half.geojson'), 'utf8')).features;
  assert.equal(features.length, 1);
});

test('post-processing cleans the GeoJSON polygons, sized in pixels of the grid predicted at; the TIFF mask is left as predicted', async () => {
  // the square is 100 x 100 pixels at 0.4 um/px (160 x 160 at level 0): an object of 10000 px
  for (const [minObjectPx, polygons] of [[10000, 1], [10001, 0]]) {
    const { result } = await predict(`clean${minObjectPx}`, { mpp: 0.4, postProcessing: { minObjectPx, fillHolesPx: 0 } });
    assert.equal(result.regions, polygons, `objects under ${minObjectPx} px removed`);
    const features = JSON.parse(await readFile(join(dir, `clean${minObjectPx}.geojson`), 'utf8')).features;
    assert.equal(features.length, polygons);
    const mask = await sharp(join(dir, `clean${minObjectPx}_mask.tif`)).extractChannel(0).raw().toBuffer();
    assert.equal(mask.reduce((n, v) => n + (v ? 1 : 0), 0), 100 * 100, 'the TIFF mask keeps the square');
  }
});

test('an mpp finer than level 0 (0.2 um/px) is predicted, interpolated, with a warning naming the slide and the factor', async () => {
  const warnings: string[] = [];
  const { result } = await predict('at02', { mpp: 0.2, region: { x: 200, y: 100, width: 96, height: 80 }, tissueMask: false, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [`${slidePath}: 0.2 um/px is finer than the slide's level 0 (0.2500 um/px); its pixels are interpolated 1.250x, which adds no detail`]);
  assert.deepEqual([result.level, result.resampled, result.width, result.height], [0, true, 96, 80]);
  const tiff = Slide.open(join(dir, 'at02_mask.tif'));
  assert.deepEqual([tiff.levels[0].width, tiff.levels[0].height], [96, 80]);
  assert.ok(Math.abs(tiff.mpp!.x - 0.2) < 1e-9);
  tiff.close();
  // the region's polygon: the square's corner at level-0 (203, 122) is grid (253.75, 152.5); offset by the region, in level-0 pixels again
  const features = JSON.parse(await readFile(join(dir, 'at02.geojson'), 'utf8')).features;
  assert.equal(features.length, 1);
  const ring: [number, number][] = features[0].geometry.coordinates[0];
  assert.ok(Math.abs(Math.min(...ring.map((p) => p[0])) - SQUARE.x0) <= 0.8 && Math.abs(Math.min(...ring.map((p) => p[1])) - SQUARE.y0) <= 0.8, JSON.stringify(ring));
});

test('patho predict: the checkpoint mpp by default, the summary line names the level read and the mpp predicted at; --mpp finer warns', async () => {
  manualSeed(3);
  const net = new UNet({ inChannels: 3, classes: 1, depth: 2, baseChannels: 4, batchNorm: false });
  const model = join(dir, 'model.pt');
  await saveCheckpoint(model, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: STATS, mpp: 0.4,
    threshold: 0.5, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  net.dispose();
  const patho = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', model, '--threads', '1', '--tile', '128', '--no-overlay', slidePath, ...args], { encoding: 'utf8' });
  const byDefault = patho('--out', join(dir, 'cli'));
  assert.equal(byDefault.status, 0, byDefault.stderr);
  assert.match(byDefault.stdout, /scan\.tif: level 0 \(0\.250 um\/px\) resampled to 0\.400 um\/px \(500x375\), \d+ of 20 tiles with tissue/);
  const finer = patho('--out', join(dir, 'cli-fine'), '--mpp', '0.2', '--format', 'geojson');
  assert.equal(finer.status, 0, finer.stderr);
  assert.match(finer.stderr, /warning: .*scan\.tif: 0\.2 um\/px is finer than the slide's level 0 \(0\.2500 um\/px\); its pixels are interpolated 1\.250x/);
  assert.match(finer.stdout, /level 0 \(0\.250 um\/px\) resampled to 0\.200 um\/px \(1000x750\)/);
  const tooFine = patho('--out', join(dir, 'cli-too-fine'), '--mpp', '0');
  assert.equal(tooFine.status, 2, tooFine.stderr);
  assert.match(tooFine.stderr, /scan\.tif: 0 um\/px is more than 2x finer than the slide's level 0/);
  const level = patho('--out', join(dir, 'cli-level'), '--level', '1', '--format', 'geojson');
  assert.equal(level.status, 0, level.stderr);
  assert.match(level.stdout, /scan\.tif: level 1 \(400x300, 0\.500 um\/px\)/);
  // a slide that records no mpp: the model's mpp cannot be found on it, and the message says where the mpp came from
  const plain = join(dir, 'plain.tif');
  await sharp(slidePath).tiff({ tile: true, pyramid: true }).toFile(plain);
  const unknown = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', model, '--threads', '1', '--out', join(dir, 'cli-plain'), plain], { encoding: 'utf8' });
  assert.equal(unknown.status, 2, unknown.stderr);
  assert.match(unknown.stderr, /plain\.tif: the model was trained at 0\.4 um\/px, and the slide does not record its microns per pixel; give the level .* with --level/);
});
