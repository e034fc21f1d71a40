/**
 * Patches and batches from an annotated slide (the committed CMU-1 region
 * with a GeoJSON written by helpers.ts): pixels at a chosen mpp against
 * area averages of level 0 computed here, masks from the polygons, batches
 * in the folder loader's layout, identical with and without worker threads.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { IGNORE_LABEL } from '../../src/data/ignore.js';
import type { HostBatch } from '../../src/data/types.js';
import { paintOrder } from '../../src/wsi/classes.js';
import { SlideDataset } from '../../src/wsi/dataset.js';
import { SlideLoader } from '../../src/wsi/loader.js';
import { nearestFinerLevel, rasterizeWindow, readWindow } from '../../src/wsi/patches.js';
import { Slide, SlideError } from '../../src/wsi/slide.js';
import { pixels, tempDir, writeImage } from '../data/helpers.js';
import { annotatedSlides, CMU_SLIDE, REGIONS } from './helpers.js';

let data: Awaited<ReturnType<typeof annotatedSlides>>;
before(async () => (data = await annotatedSlides(['cmu-a', 'cmu-b'])));
after(() => data.cleanup());

/** Level-0 RGB of the fixture slide, read once. */
function level0(x: number, y: number, w: number, h: number): Uint8Array {
  const slide = Slide.open(CMU_SLIDE);
  try {
    return slide.readRegion(0, x, y, w, h);
  } finally {
    slide.close();
  }
}

test('the nearest finer level: the coarsest whose downsample does not exceed the one asked', () => {
  const levels = [1, 4, 16].map((downsample) => ({ width: 1, height: 1, downsample }));
  assert.deepEqual([0.5, 1, 3.9, 4, 4.0000001, 15, 16, 100].map((d) => nearestFinerLevel(levels, d)), [0, 0, 0, 1, 1, 1, 2, 2]);
});

test('a window at 1.5 level-0 pixels per pixel is the exact area average of level 0 (a 7 x 5 window at a fractional origin)', () => {
  const slide = Slide.open(CMU_SLIDE);
  const window = { x: 1000.25, y: 1800.5, width: 7, height: 5, scale: 1.5 };
  const image = readWindow(slide, window);
  slide.close();
  const [x0, y0] = [1000, 1800];
  const source = level0(x0, y0, 13, 10);
  const plane = window.width * window.height;
  let largest = 0;
  for (let j = 0; j < window.height; j++) {
    for (let i = 0; i < window.width; i++) {
      // the output pixel covers [ax, ax + 1.5) x [ay, ay + 1.5) in level-0 pixels
      const ax = window.x + i * 1.5, ay = window.y + j * 1.5;
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let y = Math.floor(ay); y < ay + 1.5; y++) {
          for (let x = Math.floor(ax); x < ax + 1.5; x++) {
            const overlap = (Math.min(ax + 1.5, x + 1) - Math.max(ax, x)) * (Math.min(ay + 1.5, y + 1) - Math.max(ay, y));
            sum += overlap * source[((y - y0) * 13 + (x - x0)) * 4 + c];
          }
        }
        const expected = sum / (1.5 * 1.5 * 255);
        // float64 sums stored as float32: at most one float32 rounding apart
        largest = Math.max(largest, Math.abs(image.data[c * plane + j * window.width + i] - expected));
      }
    }
  }
  assert.ok(largest <= 2 ** -24, `largest difference ${largest}`);
});

test('at scale 1 on whole pixels a window is level 0 itself', () => {
  const slide = Slide.open(CMU_SLIDE);
  const image = readWindow(slide, { x: 900, y: 1700, width: 6, height: 4, scale: 1 });
  slide.close();
  const source = level0(900, 1700, 6, 4);
  for (let i = 0; i < 24; i++) for (let c = 0; c < 3; c++) assert.equal(image.data[c * 24 + i], Math.fround(source[i * 4 + c] / 255));
});

test('masks: classes from the polygons, Background 0, unannotated and Ignore regions IGNORE_LABEL, the hole unannotated', async () => {
  const dataset = await SlideDataset.open(data.slides, data.annotations);
  assert.deepEqual(dataset.classes.names, ['Stroma', 'Tumor']);
  assert.deepEqual(dataset.classes.colors, [[150, 200, 150], [200, 0, 0]]);
  const painted = paintOrder(dataset.classes, dataset.entries[0].annotations);
  const at = (x: number, y: number) => rasterizeWindow({ x, y, width: 1, height: 1, scale: 1 }, painted, IGNORE_LABEL).data[0];
  assert.equal(at(900, 2000), 2, 'Tumor');
  assert.equal(at(850, 2600), 2, 'Tumor, second polygon of the MultiPolygon');
  assert.equal(at(1400, 2100), 1, 'Stroma');
  assert.equal(at(1500, 2350), IGNORE_LABEL, 'the hole of Stroma');
  assert.equal(at(1400, 2750), IGNORE_LABEL, 'Ignore drawn over Stroma');
  assert.equal(at(300, 600), 0, 'Background');
  assert.equal(at(2000, 100), IGNORE_LABEL, 'outside every annotation');
  const asBackground = await SlideDataset.open(data.slides, data.annotations, { unlabelled: 'background', classes: ['Tumor'] });
  const paintedB = paintOrder(asBackground.classes, asBackground.entries[0].annotations);
  const atB = (x: number, y: number) => rasterizeWindow({ x, y, width: 1, height: 1, scale: 1 }, paintedB, 0).data[0];
  assert.deepEqual([atB(900, 2000), atB(1400, 2100), atB(2000, 100), atB(1400, 2750)], [1, 0, 0, IGNORE_LABEL]);
});

async function epochs(loader: { epochBatches(e: number): AsyncGenerator<HostBatch> }, count: number): Promise<HostBatch[]> {
  const out: HostBatch[] = [];
  for (let e = 0; e < count; e++) for await (const b of loader.epochBatches(e)) out.push(b);
  return out;
}

test('slide batches have the folder loader\'s layout, and are the same bytes with 0 and 2 worker threads', async () => {
  const options = { batchSize: 3, patchSize: 32, mpp: 1.0, samplesPerEpoch: 7, seed: 4 };
  const inMain = new SlideLoader(data.slides, data.annotations, { ...options, workers: 0 });
  const inWorkers = new SlideLoader(data.slides, data.annotations, { ...options, workers: 2 });
  try {
    const a = await epochs(inMain, 2);
    const b = await epochs(inWorkers, 2);
    assert.equal(inMain.length, 3);
    assert.equal(a.length, 6);
    assert.deepEqual(await inMain.stats(), await inWorkers.stats());
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(a[i].names, b[i].names);
      assert.deepEqual(a[i].shape, b[i].shape);
      assert.ok(Buffer.from(a[i].images.buffer).equals(Buffer.from(b[i].images.buffer)), `batch ${i}: images differ`);
      assert.ok(Buffer.from(a[i].masks.buffer).equals(Buffer.from(b[i].masks.buffer)), `batch ${i}: masks differ`);
    }
    assert.deepEqual(a[0].shape, [3, 3, 32, 32]);
    assert.deepEqual(a[2].shape, [1, 3, 32, 32]);
    assert.ok(a.every((batch) => batch.masks.every((v) => v <= 2 || v === IGNORE_LABEL)));
    assert.ok(a.some((batch) => batch.masks.includes(1)) && a.some((batch) => batch.masks.includes(2)), 'both classes are drawn');
    // the folder loader's batch of an RGB folder: the same fields, types and shape layout
    const { dir, cleanup } = await tempDir();
    try {
      await writeImage(join(dir, 'images', 'x.png'), pixels(40, 40, 3, (x, y, c) => (x * 5 + y * 3 + c * 50) % 256));
      await writeImage(join(dir, 'masks', 'x.png'), pixels(40, 40, 1, (x) => (x < 20 ? 0 : 255)));
      const folder = new DataLoader(dir, 'images', 'masks', { batchSize: 3, patchSize: 32, workers: 0 });
      const [f] = await epochs(folder, 1);
      await folder.close();
      assert.deepEqual(Object.keys(f).sort(), Object.keys(a[0]).sort());
      assert.equal(f.images.constructor, a[0].images.constructor);
      assert.equal(f.masks.constructor, a[0].masks.constructor);
      assert.deepEqual(f.shape.slice(1), a[0].shape.slice(1));
    } finally {
      await cleanup();
    }
  } finally {
    await inMain.close();
    await inWorkers.close();
  }
});

test('held-out slides: validation draws the same patches every pass, from those slides only', async () => {
  const loader = new SlideLoader(data.slides, data.annotations, { batchSize: 2, patchSize: 16, samplesPerEpoch: 4, validationSlides: ['cmu-b'], validationSamples: 4, workers: 0 });
  try {
    await loader.open();
    assert.deepEqual(loader.dataset.entries.map((e) => e.name), ['cmu-a']);
    const validation = (await loader.validation())!;
    const first: HostBatch[] = [];
    for await (const b of validation) first.push(b);
    const second: HostBatch[] = [];
    for await (const b of validation) second.push(b);
    assert.deepEqual(first.map((b) => b.names), second.map((b) => b.names));
    assert.ok(first.flatMap((b) => b.names).every((n) => n.startsWith('cmu-b@')));
    assert.deepEqual(await validation.stats(), await loader.stats());
  } finally {
    await loader.close();
  }
});

test('data-parallel ranks draw disjoint shares that together are the single process\'s draws', async () => {
  const options = { batchSize: 2, patchSize: 16, samplesPerEpoch: 8, seed: 9, workers: 0, normalize: 'none' as const };
  const names = async (extra: object) => {
    const loader = new SlideLoader(data.slides, data.annotations, { ...options, ...extra });
    try {
      return (await epochs(loader, 1)).flatMap((b) => b.names);
    } finally {
      await loader.close();
    }
  };
  const whole = await names({});
  const rank0 = await names({ rank: 0, worldSize: 2 });
  const rank1 = await names({ rank: 1, worldSize: 2 });
  assert.equal(rank0.length, 4);
  assert.equal(rank1.length, 4);
  assert.deepEqual([...rank0, ...rank1].sort(), [...whole].sort());
  assert.deepEqual(rank0, whole.filter((_, i) => i % 2 === 0));
});

test('a slide that fails in a worker thread reaches the caller as the SlideError it is without workers', async () => {
  const broken = await annotatedSlides(['cmu-gone']);
  const options = { batchSize: 2, patchSize: 16, samplesPerEpoch: 4, seed: 1, normalize: 'none' as const };
  const loaders = [0, 2].map((workers) => new SlideLoader(broken.slides, broken.annotations, { ...options, workers }));
  try {
    for (const loader of loaders) await loader.open();
    // the slide turns unreadable after the data set was opened: the workers open it when they first cut a patch
    const path = join(broken.slides, 'cmu-gone.svs');
    await rm(path);
    await writeFile(path, 'not a slide');
    for (const loader of loaders) {
      await assert.rejects(epochs(loader, 1), (error: Error) => {
        assert.ok(error instanceof SlideError, `${error.name}: ${error.message}`);
        assert.equal(error.name, 'SlideError');
        assert.equal(error.path, path);
        return true;
      });
    }
  } finally {
    for (const loader of loaders) await loader.close();
    await broken.cleanup();
  }
});
