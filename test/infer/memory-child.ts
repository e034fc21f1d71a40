/**
 * Child process of memory.test.ts: predicts the top PATHO_MEMORY_ROWS rows of
 * the slide PATHO_MEMORY_CHILD with a fixed network and prints its peak
 * resident memory. It does nothing unless PATHO_MEMORY_CHILD is set, because
 * the test runner also loads every file under test/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { setNumThreads } from '../../src/tensor/runtime.js';
import { predictSlide } from '../../src/wsi/predict.js';
import { Slide } from '../../src/wsi/slide.js';
import { fixedConvNet } from './helpers.js';

if (process.env.PATHO_MEMORY_CHILD) {
  setNumThreads(1);
  const rows = Number(process.env.PATHO_MEMORY_ROWS);
  const dir = mkdtempSync(join(tmpdir(), 'patho-memory-'));
  const slide = Slide.open(process.env.PATHO_MEMORY_CHILD);
  const net = fixedConvNet(3, 3);
  const result = await predictSlide(net, slide, {
    outDir: dir,
    name: 'cmu',
    region: { x: 0, y: 0, width: slide.levels[0].width, height: rows },
    tile: 256,
    tissueMask: false,
    overlay: false,
    formats: ['tiff'],
  });
  slide.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, tiles: result.tiles }) + '\n');
}
