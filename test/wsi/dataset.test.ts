/**
 * Opening an annotated slide set: every bad input a message naming the file
 * (and the feature index), all of them listed at once; with skipBad a
 * warning each and a count, and the good slides and features kept.
 */
import assert from 'node:assert/strict';
import { rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';

import { DatasetError } from '../../src/data/dataset.js';
import { SlideDataset } from '../../src/wsi/dataset.js';
import { Slide } from '../../src/wsi/slide.js';
import { TiledTiffWriter } from '../../src/wsi/tiff.js';
import { annotatedSlides, CMU_SLIDE, cmuFeatures } from './helpers.js';

const problemsOf = async (open: Promise<unknown>): Promise<string[]> => {
  try {
    await open;
  } catch (error) {
    assert.ok(error instanceof DatasetError, `a DatasetError, got ${(error as Error).message}`);
    return error.problems.map((p) => `${p.file}: ${p.message}`);
  }
  assert.fail('opening succeeded');
};

test('not JSON, outside the slide, crossing itself, no annotation file, no slide: all listed, each naming its file', async () => {
  const bowTie = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[900, 1700], [1000, 1800], [1000, 1700], [900, 1800], [900, 1700]]] }, properties: { classification: { name: 'Tumor' } } };
  const outside = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[2100, 10], [2300, 10], [2300, 90], [2100, 90], [2100, 10]]] }, properties: { classification: { name: 'Tumor' } } };
  const data = await annotatedSlides(['good', 'features', 'broken'], [...cmuFeatures(), bowTie, outside]);
  try {
    await writeFile(join(data.annotations, 'broken.geojson'), '{"type": "FeatureCollection", "features": [');
    await symlink(CMU_SLIDE, join(data.slides, 'lonely.svs'));
    await writeFile(join(data.annotations, 'orphan.geojson'), '[]');
    const problems = await problemsOf(SlideDataset.open(data.slides, data.annotations));
    const expected = [
      [join(data.slides, 'lonely.svs'), /slide has no annotation file \(no lonely\.geojson/],
      [join(data.annotations, 'orphan.geojson'), /annotation file has no slide/],
      [join(data.annotations, 'broken.geojson'), /not JSON/],
      [join(data.annotations, 'features.geojson'), /feature 4: the polygon's outer ring crosses itself/],
      [join(data.annotations, 'features.geojson'), /feature 5: coordinates \[2100, 10, 2300, 90\].*outside the 2220x2967 slide/],
    ] as const;
    for (const [file, message] of expected) {
      assert.ok(problems.some((p) => p.startsWith(`${file}: `) && message.test(p)), `${file} ${message} in:\n${problems.join('\n')}`);
    }

    const warnings: string[] = [];
    const kept = await SlideDataset.open(data.slides, data.annotations, { skipBad: true, onWarning: (m) => warnings.push(m) });
    // 'good' and 'features' had the same two bad features; 'broken' is dropped whole
    assert.deepEqual(kept.entries.map((e) => e.name), ['features', 'good']);
    assert.deepEqual(kept.entries.map((e) => e.annotations.length), [4, 4]);
    assert.match(warnings[warnings.length - 1], /skipped 7 bad slide\(s\) or feature\(s\); 2 slide\(s\) remain/);
  } finally {
    await data.cleanup();
  }
});

test('an unknown class in --classes names the classes found; Background cannot be a class', async () => {
  const data = await annotatedSlides();
  try {
    const [unknown] = await problemsOf(SlideDataset.open(data.slides, data.annotations, { classes: ['Tumor', 'Necrosis'] }));
    assert.match(unknown, /--classes: no annotation has the class 'Necrosis' \(classes found: Stroma, Tumor\)/);
    const [reserved] = await problemsOf(SlideDataset.open(data.slides, data.annotations, { classes: ['Background'] }));
    assert.match(reserved, /Background cannot be trained as a class/);
    const ok = await SlideDataset.open(data.slides, data.annotations, { classes: ['Tumor'], mpp: 1 });
    assert.deepEqual(ok.classes.names, ['Tumor']);
    assert.ok(Math.abs(ok.entries[0].downsample - 1 / 0.499) < 1e-12);
  } finally {
    await data.cleanup();
  }
});

test('--mpp on a slide that does not record its resolution names the slide', async () => {
  const data = await annotatedSlides(['plain']);
  try {
    // a generic tiled TIFF: OpenSlide 3.4.1 reports no mpp for those, and sharp's default
    // resolution tags (25.4 pixels per inch, 1000 um/px) are a placeholder, not a resolution
    const tiff = join(data.slides, 'plain.tif');
    await sharp({ create: { width: 2220, height: 2967, channels: 3, background: { r: 230, g: 180, b: 200 } } })
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg' })
      .toFile(tiff);
    await rename(join(data.slides, 'plain.svs'), join(data.dir, 'elsewhere.svs'));
    const [problem] = await problemsOf(SlideDataset.open(data.slides, data.annotations, { mpp: 0.5 }));
    assert.match(problem, new RegExp(`^${tiff}: --mpp 0.5: the slide does not record its microns per pixel`));
    const atLevel0 = await SlideDataset.open(data.slides, data.annotations);
    assert.equal(atLevel0.entries[0].downsample, 1);
    // with skipBad that slide is left out with a warning and counted, and the slides with an mpp train
    await symlink(CMU_SLIDE, join(data.slides, 'scanned.svs'));
    await writeFile(join(data.annotations, 'scanned.geojson'), JSON.stringify(cmuFeatures()));
    const warnings: string[] = [];
    const kept = await SlideDataset.open(data.slides, data.annotations, { mpp: 0.5, skipBad: true, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(kept.entries.map((e) => e.name), ['scanned']);
    assert.deepEqual(warnings, [
      `skipping ${tiff}: --mpp 0.5: the slide does not record its microns per pixel (no openslide.mpp-x, no TIFF resolution)`,
      'skipped 1 bad slide(s) or feature(s); 1 slide(s) remain',
    ]);
    await rm(join(data.slides, 'scanned.svs'));
    await rm(join(data.annotations, 'scanned.geojson'));
    // the same TIFF with its resolution in the TIFF tags (sharp takes pixels per mm): the mpp comes from them
    await sharp({ create: { width: 2220, height: 2967, channels: 3, background: { r: 230, g: 180, b: 200 } } })
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', xres: 1000 / 0.465, yres: 1000 / 0.465, resolutionUnit: 'cm' })
      .toFile(tiff);
    const [entry] = (await SlideDataset.open(data.slides, data.annotations, { mpp: 0.93 })).entries;
    // the tag is a float32: 0.465 to within its rounding
    assert.ok(Math.abs(entry.mpp! - 0.465) < 0.465 * 2 ** -23, `mpp ${entry.mpp}`);
    assert.ok(Math.abs(entry.downsample - 2) < 2 * 2 ** -22);
  } finally {
    await data.cleanup();
  }
});

test("patho's own mask TIFF carries its resolution, and a slide opened on it reads it back", async () => {
  const data = await annotatedSlides([]);
  try {
    const path = join(data.dir, 'mask.tif');
    const writer = new TiledTiffWriter(path, { width: 300, height: 200, mpp: { x: 0.499, y: 0.499 } });
    writer.writeRows(new Uint8Array(300 * 200).fill(255), 200);
    writer.close();
    const slide = Slide.open(path);
    const mpp = slide.mpp;
    slide.close();
    // written as a rational of pixels per cm with three decimals: 1e4 / 0.499 rounded to 1/1000
    assert.ok(mpp !== null && Math.abs(mpp.x - 0.499) < 1e-6 && Math.abs(mpp.y - 0.499) < 1e-6, `mpp ${JSON.stringify(mpp)}`);
  } finally {
    await data.cleanup();
  }
});
