/**
 * Streaming inference keeps memory bounded: predicting a slide region twice
 * as tall raises peak resident memory by no more than the output kept in
 * memory grows (the mask copy for polygons, one byte a pixel) plus 64 MiB;
 * whole-image inference would grow by 20+ bytes a pixel (180+ MiB here).
 * Peak RSS of identical runs varies by 25-35 MiB here (allocator and GC
 * timing; a clean-clone CI run once saw 35.5 MiB), so each size takes the
 * lower of two runs and the margin sits well between that noise and the
 * growth of a whole-image pass.
 * The slide is a 3000x6000 generic TIFF made here: OpenSlide 3.4 caches up
 * to 32 MiB of decoded tiles, so regions smaller than that (all of the CMU
 * slide) would measure the cache filling up, not the inference.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { TiledTiffWriter } from '../../src/wsi/tiff.js';

const child = fileURLToPath(new URL('./memory-child.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'patho-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const WIDTH = 3000;

function syntheticSlide(height: number): string {
  const path = join(dir, 'slide.tif');
  const writer = new TiledTiffWriter(path, { width: WIDTH, height, tileSize: 256 });
  const row = new Uint8Array(WIDTH);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < WIDTH; x++) row[x] = 128 + Math.round(100 * Math.sin(x / 37) * Math.cos(y / 53));
    writer.writeRows(row, 1);
  }
  writer.close();
  return path;
}

function peak(slide: string, rows: number): { maxRssBytes: number; tiles: number } {
  const env = { ...process.env, PATHO_MEMORY_CHILD: slide, PATHO_MEMORY_ROWS: String(rows), PATHO_NUM_THREADS: '1' };
  const runs = [0, 1].map(() => JSON.parse(execFileSync(process.execPath, [child], { env, encoding: 'utf8' }).trim().split('\n').at(-1)!));
  return runs[0].maxRssBytes <= runs[1].maxRssBytes ? runs[0] : runs[1];
}

test('peak RSS of a 3000x6000 slide region exceeds that of 3000x3000 by less than the kept mask grows + 64 MiB', () => {
  const slide = syntheticSlide(6000);
  const small = peak(slide, 3000);
  const large = peak(slide, 6000);
  assert.ok(large.tiles > small.tiles * 1.8, `${large.tiles} vs ${small.tiles} tiles`);
  const outputGrowth = WIDTH * 3000;
  const growth = large.maxRssBytes - small.maxRssBytes;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  assert.ok(growth < outputGrowth + 64 * 2 ** 20, `peak RSS grew by ${mib(growth)} MiB (${mib(small.maxRssBytes)} -> ${mib(large.maxRssBytes)} MiB)`);
});
