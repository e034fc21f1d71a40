/**
 * Tracing in strips: the outlines of a mask fed in strips of any height are
 * the outlines traced from the whole mask, for objects that cross strip
 * borders (once, many times, with holes cut by a border), several classes,
 * and diagonal touches on a border row; and they enclose exactly the mask.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/data/rng.js';
import { StripTracer, traceRegions, type Region } from '../../src/wsi/contours.js';
import { fillPolygon } from '../../src/wsi/rasterize.js';

/** Random blobs of classes 1..classes (odd-overlap discs make rings and holes), with speckle that touches diagonally. */
function randomLabels(rng: Rng, w: number, h: number, classes: number): Uint8Array {
  const discs = Array.from({ length: 8 }, () => [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, w / 3), 1 + Math.floor(rng.uniform(0, classes))]);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = discs.filter(([cx, cy, r]) => (x - cx) ** 2 + (y - cy) ** 2 < r * r);
      if (inside.length % 2 === 1) mask[y * w + x] = inside[0][3];
      else if (rng.chance(0.04)) mask[y * w + x] = 1 + Math.floor(rng.uniform(0, classes));
    }
  }
  return mask;
}

/** Feeds the mask in bands of uneven sizes (as tiled inference delivers rows) to a tracer of `stripRows`-row strips. */
function traceInStrips(mask: Uint8Array, w: number, h: number, stripRows: number, rng: Rng): Map<number, Region[]> {
  const tracer = new StripTracer(w, h, stripRows);
  for (let y = 0; y < h; ) {
    const n = Math.min(h - y, 1 + Math.floor(rng.uniform(0, 9)));
    tracer.addRows(mask.subarray(y * w, (y + n) * w), n);
    y += n;
  }
  return tracer.finish();
}

test('outlines traced in strips of 1, 2, 3, 5, 8 and 64 rows equal those traced whole (30 random 3-class 41x37 masks)', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 30; trial++) {
    const [w, h] = [41, 37];
    const mask = randomLabels(rng, w, h, 3);
    const whole = traceInStrips(mask, w, h, h, rng);
    assert.ok(whole.size > 0);
    for (const rows of [1, 2, 3, 5, 8, 64]) assert.deepEqual(traceInStrips(mask, w, h, rows, rng), whole, `trial ${trial}, strips of ${rows} rows`);

    // and they are the mask: every class's regions rasterise back to exactly its pixels, holes in their own region
    const back = new Uint8Array(w * h);
    for (const [c, regions] of whole) {
      for (const r of regions) {
        fillPolygon(back, { x: 0, y: 0, width: w, height: h, scale: 1 }, [r.outer, ...r.holes], c);
        const pixels = new Uint8Array(w * h);
        fillPolygon(pixels, { x: 0, y: 0, width: w, height: h, scale: 1 }, [r.outer, ...r.holes], 1);
        assert.equal(r.pixels, pixels.reduce((s, v) => s + v, 0));
      }
    }
    assert.deepEqual(back, mask, `trial ${trial}`);
  }
});

test('a ring crossing every strip border, its hole cut by the borders, and a diagonal touch on a border row', () => {
  const [w, h] = [12, 11];
  const mask = new Uint8Array(w * h);
  const paint = (x0: number, y0: number, x1: number, y1: number, v: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * w + x] = v;
  };
  paint(1, 1, 9, 10, 1);
  paint(3, 3, 7, 8, 0); // the hole
  paint(9, 0, 10, 1, 1); // touches the ring's corner (9, 1) diagonally
  paint(10, 2, 12, 4, 2); // another class beside it
  const whole = traceInStrips(mask, w, h, h, new Rng(1));
  assert.deepEqual(whole.get(1)!.map((r) => [r.outer[0], r.holes.length, r.pixels]), [[[9, 0], 0, 1], [[1, 1], 1, 52]]);
  assert.deepEqual(whole.get(1)![1].holes[0][0], [3, 3]);
  for (const rows of [1, 2, 3, 4]) assert.deepEqual(traceInStrips(mask, w, h, rows, new Rng(rows)), whole, `strips of ${rows}`);
  assert.deepEqual(traceRegions(mask, w, h, 2, 1), whole.get(2));
});

test('the tracer refuses rows past the mask and a mask cut short', () => {
  const tracer = new StripTracer(4, 2, 1);
  tracer.addRows(new Uint8Array(4), 1);
  assert.throws(() => tracer.finish(), /1 of 2 mask rows were given/);
  assert.throws(() => tracer.addRows(new Uint8Array(8), 2), /the mask has 2 rows; more were given/);
});
