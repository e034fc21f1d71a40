import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { AGREEMENT_COLOUR, FALSE_ALARM_COLOUR, MISS_COLOUR } from '../../src/report/palette.js';
import { TINT, comparePixels, renderPanels } from '../../src/report/panels.js';

/** A 0/255 mask of a w x h rectangle at (x, y) in a size x size square. */
function rectangle(size: number, x: number, y: number, w: number, h: number): Uint8Array {
  const mask = new Uint8Array(size * size);
  for (let row = y; row < y + h; row++) mask.fill(255, row * size + x, row * size + x + w);
  return mask;
}

const png = (data: Uint8Array, size: number, path: string) =>
  sharp(data, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png().toFile(path);

async function pixels(uri: string) {
  const { data, info } = await sharp(Buffer.from(uri.split(',')[1], 'base64')).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
  return { info, at };
}

/** The comparison's colour over a pixel of gray level `v`. */
const tinted = (v: number, colour: readonly number[]) => colour.map((c) => Math.round((1 - TINT) * v + TINT * c));

test('comparePixels: agreement outlined, misses and false alarms tinted, the rest the image (a known 8x8 case)', () => {
  const size = 8;
  const rgb = new Uint8Array(size * size * 3).fill(100);
  // truth: columns 1-4 of rows 1-6; prediction: columns 3-6 of rows 1-6 -> agreement columns 3-4
  const truth = Uint8Array.from(rectangle(size, 1, 1, 4, 6), (v) => (v ? 1 : 0));
  const predicted = Uint8Array.from(rectangle(size, 3, 1, 4, 6), (v) => (v ? 1 : 0));
  const out = comparePixels(rgb, truth, predicted, size, size);
  const at = (x: number, y: number) => [...out.subarray((y * size + x) * 3, (y * size + x) * 3 + 3)];
  // agreement 2 px wide: every pixel of it touches a pixel outside it
  for (const [x, y] of [[3, 1], [4, 3], [3, 6]]) assert.deepEqual(at(x, y), [...AGREEMENT_COLOUR], `agreement ${x},${y}`);
  for (const [x, y] of [[1, 1], [2, 4]]) assert.deepEqual(at(x, y), tinted(100, MISS_COLOUR), `miss ${x},${y}`);
  for (const [x, y] of [[5, 2], [6, 6]]) assert.deepEqual(at(x, y), tinted(100, FALSE_ALARM_COLOUR), `false alarm ${x},${y}`);
  for (const [x, y] of [[0, 0], [7, 7], [4, 7]]) assert.deepEqual(at(x, y), [100, 100, 100], `neither ${x},${y}`);
  assert.deepEqual([...rgb.subarray(0, 3)], [100, 100, 100], 'the image itself is left alone');
});

test('renderPanels 512x512 -> 256x256: the image, and truth and prediction compared on it, outlines one pixel wide after scaling', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'patho-panels-'));
  try {
    await mkdir(join(dir, 'validation'));
    await png(new Uint8Array(512 * 512).fill(100), 512, join(dir, 'validation', 'a.png'));
    await png(rectangle(512, 100, 100, 200, 200), 512, join(dir, 'validation', 'a_truth.png'));
    await png(rectangle(512, 200, 200, 200, 100), 512, join(dir, 'validation', 'a_mask.png'));
    const panels = await renderPanels(dir, {
      name: 'a', width: 512, height: 512,
      image: 'validation/a.png', truth: 'validation/a_truth.png', mask: 'validation/a_mask.png', prob: 'validation/a_prob.png',
    });
    assert.deepEqual([panels.width, panels.height], [256, 256]);
    const image = await pixels(panels.image);
    const comparison = await pixels(panels.comparison);
    assert.equal(image.info.width, 256);
    assert.deepEqual(image.at(75, 75), [100, 100, 100]);
    // at half scale: truth x, y in [50, 150); prediction x in [100, 200), y in [100, 150); agreement x, y in [100, 150)
    assert.deepEqual(comparison.at(100, 120), [...AGREEMENT_COLOUR]);
    assert.deepEqual(comparison.at(149, 149), [...AGREEMENT_COLOUR]);
    assert.deepEqual(comparison.at(125, 125), [100, 100, 100], 'inside the agreement, the image');
    assert.deepEqual(comparison.at(75, 75), tinted(100, MISS_COLOUR));
    assert.deepEqual(comparison.at(120, 99), tinted(100, MISS_COLOUR), 'truth above the prediction: missed');
    assert.deepEqual(comparison.at(175, 125), tinted(100, FALSE_ALARM_COLOUR));
    assert.deepEqual(comparison.at(48, 100), [100, 100, 100]);
    assert.deepEqual(comparison.at(220, 220), [100, 100, 100]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
