/**
 * Post-processing a slide's polygons (src/wsi/cleanup.ts) gives the mask that
 * post-processing the image gives (src/infer/postprocess.ts): the cleaned
 * regions, rasterised back, equal `postProcessMask` of the traced mask.
 * Objects match on any mask (8-connected on both sides); holes on masks
 * without corner pinches (no 2x2 checkerboard), the one place where a traced
 * hole and a 4-connected background region can differ.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/data/rng.js';
import { postProcessMask, type PostProcessing } from '../../src/infer/postprocess.js';
import { cleanRegions } from '../../src/wsi/cleanup.js';
import { traceRegions, type Region } from '../../src/wsi/contours.js';
import { regionsToFeatures } from '../../src/wsi/geojson.js';
import { fillPolygon } from '../../src/wsi/rasterize.js';

/** Rings of discs (odd overlaps), islands inside their holes, and specks, some touching at corners. */
function blobs(rng: Rng, w: number, h: number, speckle: number): Uint8Array {
  const discs = Array.from({ length: 10 }, () => [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1.5, w / 4)]);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = discs.filter(([cx, cy, r]) => (x - cx) ** 2 + (y - cy) ** 2 < r * r).length;
      mask[y * w + x] = inside % 2 === 1 || rng.chance(speckle) ? 1 : 0;
    }
  }
  return mask;
}

/** Fills one pixel of every 2x2 checkerboard until none is left: pixels then touch at a corner only where a side touches too. */
function withoutPinches(mask: Uint8Array, w: number, h: number): Uint8Array {
  const m = mask.slice();
  for (let changed = true; changed; ) {
    changed = false;
    for (let y = 0; y + 1 < h; y++) {
      for (let x = 0; x + 1 < w; x++) {
        const [a, b, c, d] = [m[y * w + x], m[y * w + x + 1], m[(y + 1) * w + x], m[(y + 1) * w + x + 1]];
        if (a === d && b === c && a !== b) {
          m[y * w + x + (a ? 1 : 0)] = 1;
          changed = true;
        }
      }
    }
  }
  return m;
}

function rasterise(regions: readonly Region[], w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (const r of regions) fillPolygon(out, { x: 0, y: 0, width: w, height: h, scale: 1 }, [r.outer, ...r.holes], 1);
  return out;
}

function compare(mask: Uint8Array, w: number, h: number, p: PostProcessing, label: string): void {
  const regions = traceRegions(mask, w, h);
  const cleaned = cleanRegions(regions, p);
  const expected = postProcessMask(mask, w, h, p);
  const got = rasterise(cleaned, w, h);
  const wrong = expected.reduce((n, v, i) => n + (v !== got[i] ? 1 : 0), 0);
  assert.equal(wrong, 0, `${label}: ${wrong} pixels differ from postProcessMask`);
  // every region's pixel count is what it encloses
  for (const r of cleaned) assert.equal(r.pixels, rasterise([r], w, h).reduce((a, b) => a + b, 0), `${label}: a region's pixel count`);
}

test('small objects removed from the polygons as from the image: 8-connected, on masks with corner touches (40 random masks)', () => {
  const rng = new Rng(5);
  for (let k = 0; k < 40; k++) {
    const [w, h] = [48 + (k % 5), 40 + (k % 7)];
    const mask = blobs(rng, w, h, 0.06);
    for (const minObjectPx of [2, 3, 7, 40]) compare(mask, w, h, { minObjectPx, fillHolesPx: 0 }, `mask ${k}, min ${minObjectPx}`);
  }
});

test('small holes filled in the polygons as in the image, islands merged, with objects removed first (40 random masks)', () => {
  const rng = new Rng(7);
  let filledWithIslands = 0;
  for (let k = 0; k < 40; k++) {
    const [w, h] = [48 + (k % 5), 40 + (k % 7)];
    const mask = withoutPinches(blobs(rng, w, h, 0.03), w, h);
    for (const p of [{ minObjectPx: 0, fillHolesPx: 5 }, { minObjectPx: 0, fillHolesPx: 60 }, { minObjectPx: 3, fillHolesPx: 30 }, { minObjectPx: 20, fillHolesPx: 400 }]) {
      compare(mask, w, h, p, `mask ${k}, ${JSON.stringify(p)}`);
      const before = traceRegions(mask, w, h).length;
      const objectsOnly = cleanRegions(traceRegions(mask, w, h), { minObjectPx: p.minObjectPx, fillHolesPx: 0 }).length;
      if (before > 0 && cleanRegions(traceRegions(mask, w, h), p).length < objectsOnly) filledWithIslands++;
    }
  }
  // the masks do exercise islands inside filled holes (their regions merge into the one around them)
  assert.ok(filledWithIslands > 5, `only ${filledWithIslands} cases merged islands`);
});

test('a hole is measured by its background: a large hole around a large island is filled when the background between them is small', () => {
  const [w, h] = [20, 20];
  const mask = new Uint8Array(w * h);
  const inSquare = (x: number, y: number, from: number, to: number) => x >= from && x < to && y >= from && y < to;
  // a 16x16 square with a 12x12 hole (144 px) holding a 10x10 island with an 8x8 hole: 44 px of background around the island
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = (inSquare(x, y, 2, 18) && !inSquare(x, y, 4, 16)) || (inSquare(x, y, 5, 15) && !inSquare(x, y, 6, 14)) ? 1 : 0;
  for (const fillHolesPx of [44, 45, 64, 65, 145]) compare(mask, w, h, { minObjectPx: 0, fillHolesPx }, `fill under ${fillHolesPx}`);
  // under 50: the background around the island goes, the island's own 64-px hole stays, now a hole of the square
  const merged = cleanRegions(traceRegions(mask, w, h), { minObjectPx: 0, fillHolesPx: 50 });
  assert.deepEqual(merged.map((r) => [r.holes.length, r.pixels]), [[1, 192]]);
});

test('a corner pinch: a speck touching a large region at one corner stays, as in the image', () => {
  const w = 6;
  // a 2x2 block and a 1-pixel speck touching it diagonally; another speck alone
  const mask = Uint8Array.from([
    1, 1, 0, 0, 0, 0,
    1, 1, 0, 0, 0, 0,
    0, 0, 1, 0, 0, 1,
    0, 0, 0, 0, 0, 0,
  ]);
  const cleaned = cleanRegions(traceRegions(mask, w, 4), { minObjectPx: 3, fillHolesPx: 0 });
  assert.deepEqual(cleaned.map((r) => r.pixels).sort(), [1, 4]);
});

test('GeoJSON features of cleaned regions: the speck and the hole are gone, the area counts the filled pixel', () => {
  const w = 8;
  // a 5x5 square with a one-pixel hole, and a one-pixel speck apart from it
  const mask = new Uint8Array(w * 8);
  for (let y = 1; y < 6; y++) for (let x = 1; x < 6; x++) mask[y * w + x] = 1;
  mask[3 * w + 3] = 0;
  mask[7 * w + 7] = 1;
  const regions = new Map([[1, traceRegions(mask, w, 8)]]);
  const plain = regionsToFeatures(regions);
  assert.deepEqual(plain.map((f) => [f.geometry.coordinates.length, f.properties.area_px]), [[2, 24], [1, 1]]);
  const cleaned = regionsToFeatures(new Map([[1, cleanRegions(regions.get(1)!, { minObjectPx: 2, fillHolesPx: 2 })]]));
  assert.deepEqual(cleaned.map((f) => [f.geometry.coordinates.length, f.properties.area_px]), [[1, 25]]);
});
