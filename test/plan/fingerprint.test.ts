/** The data fingerprint: structure sizes, class shares and a folder read end to end (no addon). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { fingerprintFolder, spreadIndices, structureSizes, summarize } from '../../src/plan/fingerprint.js';
import type { LabelMask } from '../../src/data/types.js';

/** A mask from rows of characters: '.' background, digits their class. */
function mask(rows: string[]): LabelMask {
  const width = rows[0].length;
  const data = new Uint8Array(rows.length * width);
  rows.forEach((row, y) => [...row].forEach((ch, x) => (data[y * width + x] = ch === '.' ? 0 : Number(ch))));
  return { width, height: rows.length, data };
}

test('structureSizes: 4-connected components by the longer side of their box; specks under 4 pixels ignored', () => {
  const m = mask([
    '11....1.',
    '11.....1',
    '........',
    '.1111...',
    '....1..1',
    '....1...',
  ]);
  // the 2x2 square (2), the L (4 wide, 3 tall: 4); the diagonal pair and the single pixel are specks
  assert.deepEqual(structureSizes(m).sort(), [2, 4]);
});

test('structureSizes: touching pixels of different classes are one structure', () => {
  assert.deepEqual(structureSizes(mask(['1122', '1122'])), [4]);
});

test('summarize: class shares, empty masks and structure quantiles', () => {
  const masks = [mask(['11..', '11..', '....', '....']), mask(['....', '....', '....', '....']), mask(['1111', '1111', '1111', '....'])];
  const fp = summarize(masks.map(() => ({ width: 4, height: 4 })), masks, { channels: 1, classes: 2, mean: [0.5], std: [0.1], statsImages: 3, mpp: null });
  assert.equal(fp.images, 3);
  assert.equal(fp.emptyMasks, 1);
  assert.deepEqual(fp.classFractions, [32 / 48, 16 / 48]);
  assert.equal(fp.foregroundFraction, 16 / 48);
  assert.deepEqual(fp.objects, { count: 2, medianSize: 2, p90Size: 4, maxSize: 4 });
  assert.deepEqual(fp.width, { min: 4, median: 4, max: 4 });
});

test('spreadIndices: all indices up to the count, evenly spread beyond it', () => {
  assert.deepEqual(spreadIndices(3, 5), [0, 1, 2]);
  assert.deepEqual(spreadIndices(10, 5), [0, 2, 4, 6, 8]);
});

const dir = mkdtempSync(join(tmpdir(), 'patho-fingerprint-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('fingerprintFolder: sizes, channel statistics, foreground, structures and the stated resolution', async () => {
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'masks'));
  for (const [name, w, h] of [['a', 40, 30], ['b', 60, 50]] as const) {
    // RGB images, left half one colour and right half another (w is even): mean halfway, std half the difference
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb.set(i % w < w / 2 ? [51, 102, 204] : [153, 0, 102], i * 3);
    // 2 pixels per micron = 50800 pixels per inch
    await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).withMetadata({ density: 50_800 }).png().toFile(join(dir, 'images', `${name}.png`));
    // a 10x20 foreground block
    const m = Buffer.alloc(w * h);
    for (let y = 5; y < 15; y++) for (let x = 5; x < 25; x++) m[y * w + x] = 255;
    await sharp(m, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, 'masks', `${name}.png`));
  }
  const fp = await fingerprintFolder(dir);
  assert.equal(fp.images, 2);
  assert.equal(fp.channels, 3);
  assert.deepEqual(fp.width, { min: 40, median: 40, max: 60 });
  assert.deepEqual(fp.height, { min: 30, median: 30, max: 50 });
  // sums of 4200 values in doubles are good to ~4200 * 2^-52 relative; the std's cancellation
  // (E[x^2] - mean^2) keeps that absolute error in the variance, 1e-9 is far above both
  const mean = [102, 51, 153].map((v) => v / 255);
  const std = [51, 51, 51].map((v) => v / 255);
  fp.mean.forEach((m, i) => assert.ok(Math.abs(m - mean[i]) < 1e-9, `mean[${i}] ${m}`));
  fp.std.forEach((s, i) => assert.ok(Math.abs(s - std[i]) < 1e-9, `std[${i}] ${s}`));
  assert.equal(fp.foregroundFraction, 400 / (40 * 30 + 60 * 50));
  assert.deepEqual(fp.objects, { count: 2, medianSize: 20, p90Size: 20, maxSize: 20 });
  assert.ok(fp.mpp !== null && Math.abs(fp.mpp - 0.5) < 1e-3, `mpp ${fp.mpp}`);
});
