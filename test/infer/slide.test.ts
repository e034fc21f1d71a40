/**
 * Whole-slide reading through OpenSlide on the CMU-1-Small-Region slide (CC0,
 * Aperio SVS, one level of 2220x2967 at 0.499 um/px), and bad slides.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Slide } from '../../src/wsi/slide.js';

const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
const dir = mkdtempSync(join(tmpdir(), 'patho-slide-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('CMU-1-Small-Region: levels, mpp, vendor', () => {
  const slide = Slide.open(CMU);
  assert.deepEqual(slide.levels, [{ width: 2220, height: 2967, downsample: 1 }]);
  assert.deepEqual(slide.mpp, { x: 0.499, y: 0.499 });
  assert.equal(slide.vendor, 'aperio');
  slide.close();
  slide.close();
});

test('CMU-1-Small-Region: the RGBA pixels of a 4x2 region at (1000, 1000)', () => {
  const slide = Slide.open(CMU);
  const rgba = slide.readRegion(0, 1000, 1000, 4, 2);
  // as OpenSlide 3.4.1 decodes them (Aperio JPEG tiles)
  assert.deepEqual([...rgba], [
    67, 34, 65, 255, 18, 5, 53, 255, 38, 0, 55, 255, 85, 24, 83, 255,
    74, 42, 76, 255, 19, 11, 58, 255, 15, 0, 53, 255, 39, 18, 77, 255,
  ]);
  // outside the scanned area is white glass, not transparent black
  assert.deepEqual([...slide.readRegion(0, 2219, 2966, 2, 1)].slice(4), [255, 255, 255, 255]);
  slide.close();
  assert.throws(() => slide.readRegion(0, 0, 0, 1, 1), /the slide was closed/);
});

test('level selection by index; a level that does not exist is an error listing the levels', () => {
  const slide = Slide.open(CMU);
  assert.equal(slide.selectLevel(0), 0);
  assert.throws(() => slide.selectLevel(3), /cmu-1-small-region.svs: no level 3; this slide has 1 \(0: 2220x2967\)/);
  assert.throws(() => slide.readRegion(2, 0, 0, 1, 1), /no level 2/);
  slide.close();
});

test('a thumbnail and a normalised tile source', () => {
  const slide = Slide.open(CMU);
  const thumb = slide.thumbnail(256);
  assert.deepEqual([thumb.width, thumb.height], [185, 248]);
  assert.equal(thumb.rgb.length, 185 * 248 * 3);
  const source = slide.source(0, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, { x: 1000, y: 1000, width: 10, height: 10 });
  const px = source.read(0, 0, 1, 1);
  assert.ok(Math.abs(px[0] - (67 / 255 - 0.5) / 0.25) < 1e-6);
  slide.close();
});

test('bad slides: missing, unreadable, truncated, not a slide; each names the file', () => {
  assert.throws(() => Slide.open(join(dir, 'missing.svs')), /missing\.svs: cannot read \(No such file or directory\)/);
  const text = join(dir, 'notes.svs');
  writeFileSync(text, 'not a slide');
  assert.throws(() => Slide.open(text), /notes\.svs: not a format OpenSlide reads/);
  const truncated = join(dir, 'truncated.svs');
  writeFileSync(truncated, readFileSync(CMU).subarray(0, 600_000));
  assert.throws(() => Slide.open(truncated), /truncated\.svs: a TIFF that OpenSlide cannot read \(truncated or damaged\?\)/);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked.svs');
    writeFileSync(locked, readFileSync(CMU));
    chmodSync(locked, 0);
    assert.throws(() => Slide.open(locked), /locked\.svs: cannot read \(Permission denied\)/);
  }
});
