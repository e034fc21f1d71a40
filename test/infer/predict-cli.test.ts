/**
 * `patho predict` end to end on the CMU slide and on a small PNG, with a tiny
 * U-Net of random weights, and its errors on bad inputs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { UNet } from '../../src/models/unet.js';
import { manualSeed } from '../../src/tensor/runtime.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { Slide } from '../../src/wsi/slide.js';

const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
const dir = mkdtempSync(join(tmpdir(), 'patho-predict-'));
const model = join(dir, 'model.pt');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The same weights recorded with a threshold of 0 (every pixel is foreground) and of 1 (none is). */
const lowModel = join(dir, 'low.pt');
const highModel = join(dir, 'high.pt');

before(async () => {
  manualSeed(7);
  const net = new UNet({ inChannels: 3, classes: 1, depth: 2, baseChannels: 4, batchNorm: false });
  for (const [path, threshold] of [[model, 0.5], [lowModel, 0], [highModel, 1]] as const) {
    await saveCheckpoint(path, {
      format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: { mean: [0.8, 0.6, 0.8], std: [0.2, 0.2, 0.2] },
      threshold, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
    });
  }
  net.dispose();
});

function patho(...args: string[]) {
  return pathoWith({}, ...args);
}

function pathoWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', model, '--threads', '1', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a slide: TIFF mask at level-0 geometry, probability TIFF, GeoJSON, overlay thumbnail; background tiles skipped', async () => {
  const out = join(dir, 'slide');
  const r = patho(CMU, '--out', out, '--tile', '384', '--format', 'tiff,geojson', '--probabilities');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /level 0 \(2220x2967, 0\.499 um\/px\), \d+ of 80 tiles with tissue, \d+ regions/);
  const skipped = 80 - Number(/(\d+) of 80 tiles/.exec(r.stdout)![1]);
  assert.ok(skipped > 0, 'some tiles are bare glass');
  const mask = Slide.open(join(out, 'cmu-1-small-region_mask.tif'));
  assert.deepEqual([mask.levels[0].width, mask.levels[0].height], [2220, 2967]);
  // 0.499 um/px as pixels per centimetre (OpenSlide 3.4 does not turn a generic TIFF's resolution into mpp)
  assert.ok(Math.abs(Number(mask.properties['tiff.XResolution']) - 1e4 / 0.499) < 0.01);
  mask.close();
  const geojson = JSON.parse(readFileSync(join(out, 'cmu-1-small-region.geojson'), 'utf8'));
  assert.equal(geojson.type, 'FeatureCollection');
  for (const f of geojson.features.slice(0, 20)) assert.ok(f.properties.area_um2 > 0);
  const overlay = await sharp(join(out, 'cmu-1-small-region_overlay.png')).metadata();
  assert.deepEqual([overlay.width, overlay.height], [740, 989]);
  // the probability map thresholded at 0.5 (128 of 255) is the mask, pixel for pixel
  const read = (name: string) => sharp(join(out, name), { limitInputPixels: false }).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  const [m, p] = await Promise.all([read('cmu-1-small-region_mask.tif'), read('cmu-1-small-region_prob.tif')]);
  assert.deepEqual([p.info.width, p.info.height], [2220, 2967]);
  let differing = 0;
  let between = 0;
  for (let i = 0; i < m.data.length; i++) {
    if (m.data[i] !== (p.data[i] >= 128 ? 255 : 0)) differing++;
    if (p.data[i] > 0 && p.data[i] < 255) between++;
  }
  assert.equal(differing, 0);
  assert.ok(between > 0, 'probabilities, not a second mask');
});

test('a PNG smaller than a tile: mask PNG and GeoJSON of its size', async () => {
  const png = join(dir, 'small.png');
  const rgb = Buffer.alloc(45 * 30 * 3).map((_, i) => (i * 37) % 256);
  await sharp(rgb, { raw: { width: 45, height: 30, channels: 3 } }).png().toFile(png);
  const out = join(dir, 'image');
  const r = patho(png, '--out', out, '--format', 'png,geojson', '--tta');
  assert.equal(r.code, 0, r.stderr);
  const meta = await sharp(join(out, 'small_mask.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [45, 30]);
  assert.ok(existsSync(join(out, 'small.geojson')));
});

test("the mask is cut at the model's threshold by default (--threshold auto); a number given overrides it", async () => {
  const png = join(dir, 'cut.png');
  const rgb = Buffer.alloc(40 * 40 * 3).map((_, i) => (i * 53) % 256);
  await sharp(rgb, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(png);
  const foreground = async (modelPath: string, ...args: string[]) => {
    const out = join(dir, `cut-${modelPath.endsWith('low.pt') ? 'low' : 'high'}-${args.join('')}`);
    const r = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', modelPath, '--threads', '1', png, '--out', out, '--no-overlay', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const mask = await sharp(join(out, 'cut_mask.png')).raw().toBuffer();
    return { share: mask.reduce((n, v) => n + (v === 255 ? 1 : 0), 0) / mask.length, stdout: r.stdout };
  };
  const low = await foreground(lowModel);
  assert.equal(low.share, 1, 'p >= 0 everywhere');
  assert.match(low.stdout, /1 input predicted into .* at threshold 0 \(the model's\)/);
  const high = await foreground(highModel, '--threshold', 'auto');
  assert.equal(high.share, 0, 'a sigmoid stays below 1');
  assert.match(high.stdout, /at threshold 1 \(the model's\)/);
  const overridden = await foreground(lowModel, '--threshold', '1');
  assert.equal(overridden.share, 0);
  assert.match(overridden.stdout, /at threshold 1\n/);
  const bad = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--model', lowModel, png, '--threshold', 'high'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--threshold expects a number from 0 to 1 or auto, got 'high'/);
});

test('under torchrun (RANK=1, WORLD_SIZE=2) a rank predicts every second input', async () => {
  const inputs = join(dir, 'cohort');
  const out = join(dir, 'cohort-out');
  for (const name of ['a', 'b', 'c']) {
    await sharp(Buffer.alloc(20 * 20 * 3, 128), { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(join(inputs + '-' + name + '.png'));
  }
  const files = ['a', 'b', 'c'].map((n) => `${inputs}-${n}.png`);
  const r = pathoWith({ RANK: '1', WORLD_SIZE: '2', LOCAL_RANK: '1' }, ...files, '--out', out, '--no-overlay');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(['a', 'b', 'c'].map((n) => existsSync(join(out, `cohort-${n}_mask.png`))), [false, true, false]);
  assert.match(r.stdout, /rank 1: 1 input predicted/);
});

test('bad inputs: a missing level, --level on an image, a truncated slide, not a slide; clear messages, no crash', async () => {
  let r = patho(CMU, '--out', dir, '--level', '2');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cmu-1-small-region\.svs: no level 2; this slide has 1 \(0: 2220x2967\)/);
  r = patho(CMU, '--out', dir, '--level', '0', '--mpp', '1');
  assert.equal(r.code, 2);
  const truncated = join(dir, 'cut.svs');
  writeFileSync(truncated, readFileSync(CMU).subarray(0, 300_000));
  r = patho(truncated, '--out', dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cut\.svs: a TIFF that OpenSlide cannot read \(truncated or damaged\?\)/);
  const text = join(dir, 'notes.ndpi');
  writeFileSync(text, 'hello');
  r = patho(text, '--out', dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /notes\.ndpi: not a format OpenSlide reads/);
  const png = join(dir, 'tiny.png');
  await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(png);
  r = patho(png, '--out', dir, '--mpp', '0.5');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /tiny\.png: --level and --mpp apply to whole-slide images; this is a plain image/);
});
