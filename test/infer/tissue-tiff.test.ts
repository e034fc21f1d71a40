/** Tissue detection and the streaming pyramidal TIFF writer. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { Slide } from '../../src/wsi/slide.js';
import { needsBigTiff, TiledTiffWriter } from '../../src/wsi/tiff.js';
import { morph, otsuThreshold, tissueMask } from '../../src/wsi/tissue.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-tiff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('Otsu splits two clusters between them', () => {
  const values = new Uint8Array(1000).map((_, i) => (i < 700 ? 5 + (i % 7) : 120 + (i % 30)));
  const t = otsuThreshold(values);
  assert.ok(t >= 11 && t < 120, `threshold ${t}`);
});

test('tissue mask: a pink blob on grey-white glass, a dust speck dropped, a gap filled', () => {
  const w = 40, h = 30;
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set([236, 234, 238], i * 3);
  for (let y = 5; y < 25; y++) for (let x = 5; x < 20; x++) if (x !== 12) rgb.set([200, 90, 160], (y * w + x) * 3);
  rgb.set([120, 40, 90], (2 * w + 35) * 3); // a speck
  const mask = tissueMask(rgb, w, h);
  assert.equal(mask[15 * w + 10], 1);
  assert.equal(mask[15 * w + 12], 1, 'a one-pixel gap in tissue is closed');
  assert.equal(mask[2 * w + 35], 0, 'a one-pixel speck is opened away');
  assert.equal(mask[15 * w + 30], 0);
  assert.deepEqual([...morph(new Uint8Array([0, 0, 1, 0, 0]), 5, 1, 1, 'dilate')], [0, 1, 1, 1, 0]);
});

test('a 1000x700 mask written in uneven bands reads back through libvips and OpenSlide, every level', async () => {
  const w = 1000, h = 700;
  const mask = new Uint8Array(w * h).map((_, i) => ((i % w) * (Math.floor(i / w) + 3)) % 7 === 0 ? 255 : 0);
  const path = join(dir, 'mask.tif');
  const writer = new TiledTiffWriter(path, { width: w, height: h, tileSize: 128, mpp: { x: 0.5, y: 0.5 }, description: 'test' });
  for (let y = 0; y < h; ) {
    const n = Math.min(h - y, 37);
    writer.writeRows(mask.subarray(y * w, (y + n) * w), n);
    y += n;
  }
  writer.close();
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [w, h, 1]);
  assert.ok(Buffer.compare(data, Buffer.from(mask)) === 0, 'level 0 equals the mask');
  const slide = Slide.open(path);
  assert.equal(slide.vendor, 'generic-tiff');
  assert.deepEqual(slide.levels.map((l) => [l.width, l.height]), [[1000, 700], [500, 350], [250, 175], [125, 88]]);
  const level2 = slide.readRegion(2, 0, 0, 250, 175);
  for (const [x, y] of [[0, 0], [7, 3], [100, 50], [249, 174]]) assert.equal(level2[(y * 250 + x) * 4], mask[y * 4 * w + x * 4], `level 2 (${x}, ${y})`);
  slide.close();
});

test('a probability map\'s pyramid averages 2 x 2 blocks, level after level (odd sizes: the last row and column pair with themselves)', () => {
  const w = 301, h = 203;
  const values = new Uint8Array(w * h).map((_, i) => ((i % w) * 37 + Math.floor(i / w) * 101) % 256);
  const path = join(dir, 'prob.tif');
  const writer = new TiledTiffWriter(path, { width: w, height: h, tileSize: 64, reduce: 'average' });
  for (let y = 0; y < h; ) {
    const n = Math.min(h - y, 13);
    writer.writeRows(values.subarray(y * w, (y + n) * w), n);
    y += n;
  }
  writer.close();
  const halve = (v: Uint8Array, vw: number, vh: number) => {
    const [hw, hh] = [Math.ceil(vw / 2), Math.ceil(vh / 2)];
    const out = new Uint8Array(hw * hh);
    for (let y = 0; y < hh; y++) {
      for (let x = 0; x < hw; x++) {
        const [x1, y1] = [Math.min(2 * x + 1, vw - 1), Math.min(2 * y + 1, vh - 1)];
        out[y * hw + x] = Math.round((v[2 * y * vw + 2 * x] + v[2 * y * vw + x1] + v[y1 * vw + 2 * x] + v[y1 * vw + x1]) / 4);
      }
    }
    return { v: out, vw: hw, vh: hh };
  };
  const slide = Slide.open(path);
  let expected = { v: values, vw: w, vh: h };
  for (let level = 0; level < slide.levels.length; level++) {
    const { width, height } = slide.levels[level];
    assert.deepEqual([width, height], [expected.vw, expected.vh]);
    const rgba = slide.readRegion(level, 0, 0, width, height);
    const read = Uint8Array.from({ length: width * height }, (_, i) => rgba[i * 4]);
    assert.deepEqual(read, expected.v, `level ${level}`);
    expected = halve(expected.v, expected.vw, expected.vh);
  }
  assert.equal(slide.levels.length, 4);
  slide.close();
});

test('BigTIFF: the same mask with 64-bit offsets reads back through libvips and OpenSlide; chosen where a file could pass 4 GiB', async () => {
  const w = 700, h = 500;
  const mask = new Uint8Array(w * h).map((_, i) => ((i % w) * (Math.floor(i / w) + 1)) % 5 === 0 ? 255 : 0);
  const path = join(dir, 'big.tif');
  const writer = new TiledTiffWriter(path, { width: w, height: h, tileSize: 128, mpp: { x: 0.25, y: 0.25 }, description: 'big', bigTiff: true });
  writer.writeRows(mask, h);
  writer.close();
  const header = readFileSync(path).subarray(0, 8);
  assert.deepEqual([...header], [0x49, 0x49, 43, 0, 8, 0, 0, 0], 'a little-endian BigTIFF header');
  const { data } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  assert.ok(Buffer.compare(data, Buffer.from(mask)) === 0, 'level 0 equals the mask');
  const slide = Slide.open(path);
  assert.deepEqual(slide.levels.map((l) => [l.width, l.height]), [[700, 500], [350, 250], [175, 125], [88, 63]]);
  assert.equal(slide.properties['tiff.ImageDescription'], 'big');
  assert.ok(slide.mpp && Math.abs(slide.mpp.x - 0.25) < 1e-6);
  const level1 = slide.readRegion(1, 0, 0, 350, 250);
  for (const [x, y] of [[0, 0], [3, 7], [349, 249]]) assert.equal(level1[(y * 350 + x) * 4], mask[y * 2 * w + x * 2], `level 1 (${x}, ${y})`);
  slide.close();
  // 4 GiB is 65536 x 65536 one-byte pixels: the tiles of a pyramid that size could pass it, of one a little smaller could not
  assert.equal(needsBigTiff(65536, 65536), true);
  assert.equal(needsBigTiff(50_000, 50_000), false);
  assert.equal(needsBigTiff(100_000, 100_000), true);
});

test('the TIFF writer refuses to close with rows missing', () => {
  const writer = new TiledTiffWriter(join(dir, 'short.tif'), { width: 10, height: 10 });
  writer.writeRows(new Uint8Array(50), 5);
  assert.throws(() => writer.close(), /5 of 10 rows were written/);
});
