import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { PREDICTION_COLOUR, TRUTH_COLOUR, renderPanels } from '../../src/report/panels.js';

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

test('renderPanels 512x512 -> 256x256: outlines of truth and prediction on the image, one pixel wide after scaling', async () => {
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
    const truth = await pixels(panels.truth);
    const prediction = await pixels(panels.prediction);
    assert.equal(image.info.width, 256);
    assert.deepEqual(image.at(75, 75), [100, 100, 100]);
    // truth rectangle: x, y in [50, 150) at half scale; its edge is drawn, its inside is not
    assert.deepEqual(truth.at(50, 100), [...TRUTH_COLOUR]);
    assert.deepEqual(truth.at(149, 100), [...TRUTH_COLOUR]);
    assert.deepEqual(truth.at(100, 100), [100, 100, 100]);
    assert.deepEqual(truth.at(48, 100), [100, 100, 100]);
    // prediction rectangle: x in [100, 200), y in [100, 150)
    assert.deepEqual(prediction.at(100, 120), [...PREDICTION_COLOUR]);
    assert.deepEqual(prediction.at(150, 149), [...PREDICTION_COLOUR]);
    assert.deepEqual(prediction.at(150, 125), [100, 100, 100]);
    assert.deepEqual(prediction.at(50, 100), [100, 100, 100]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
