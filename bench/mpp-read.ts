/**
 * What resampling costs the tile readers: seconds per 512 px tile (with its
 * planar normalised output, as `readTiles` gets it) read from the CMU slide
 * at level 0 as stored and at 0.5 um/px (area-averaged from level 0 by
 * `gridSource`, as `patho predict --mpp 0.5` reads it), interleaved, medians
 * of repeats. One reader thread's share; the engine takes seconds per tile.
 */
import { readTiles } from '../src/infer/tiling.js';
import { gridSource, slideGrid } from '../src/wsi/patches.js';
import { Slide } from '../src/wsi/slide.js';

const slide = Slide.open(process.argv[2] ?? 'test/fixtures/wsi/cmu-1-small-region.svs');
const stats = { mean: [0.7, 0.5, 0.7], std: [0.2, 0.2, 0.2] };
const tile = 512;
const tiles = [0, 1, 2, 3].map((i) => ({ x: 384 * i, y: 384 * i, width: tile, height: tile }));
const sources = Object.fromEntries(
  (['level 0', 'mpp 0.5'] as const).map((name) => {
    const grid = slideGrid(slide, name === 'level 0' ? {} : { mpp: 0.5 }, () => {});
    return [name, gridSource(slide, grid, stats, { x: 0, y: 0, width: grid.width, height: grid.height })];
  }),
);
const times: Record<string, number[]> = { 'level 0': [], 'mpp 0.5': [] };
for (let repeat = 0; repeat < 15; repeat++) {
  for (const [name, source] of Object.entries(sources)) {
    const start = performance.now();
    readTiles(source, tiles, tile);
    times[name].push((performance.now() - start) / 1000 / tiles.length);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const base = median(times['level 0']);
for (const [name, t] of Object.entries(times)) console.log(`${name}: ${median(t).toFixed(4)} s/tile (${(median(t) / base).toFixed(2)}x level 0)`);
slide.close();
