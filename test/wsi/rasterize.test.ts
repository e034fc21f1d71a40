/**
 * The rasteriser against two references: masks traced along pixel edges
 * must rasterise back to themselves exactly (at scale 1, and sampled at
 * scale 3, where each output pixel's centre is an input pixel's centre),
 * and random polygons with holes must match an independent point-in-polygon
 * test (a ray cast the other way) at every pixel centre.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/data/rng.js';
import { traceRegions, type Ring } from '../../src/wsi/contours.js';
import { fillPolygon } from '../../src/wsi/rasterize.js';

/** A random blobby binary mask: thresholded sums of a few discs, with speckle. */
function randomMask(rng: Rng, w: number, h: number): Uint8Array {
  const discs = Array.from({ length: 5 }, () => [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, w / 3)]);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = discs.filter(([cx, cy, r]) => (x - cx) ** 2 + (y - cy) ** 2 < r * r).length;
      mask[y * w + x] = inside % 2 === 1 || rng.chance(0.05) ? 1 : 0;
    }
  }
  return mask;
}

test('traced masks rasterise back to themselves exactly (20 random 37x29 masks, holes and diagonal touches included)', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const [w, h] = [37, 29];
    const mask = randomMask(rng, w, h);
    const out = new Uint8Array(w * h);
    for (const region of traceRegions(mask, w, h)) fillPolygon(out, { x: 0, y: 0, width: w, height: h, scale: 1 }, [region.outer, ...region.holes], 1);
    assert.deepEqual(out, mask, `trial ${trial}`);
  }
});

test('sampled at scale 3 from an offset window, each output pixel is the input pixel under its centre', () => {
  const rng = new Rng(8);
  const [w, h] = [60, 45];
  const mask = randomMask(rng, w, h);
  const regions = traceRegions(mask, w, h);
  const window = { x: 3, y: 6, width: 17, height: 12, scale: 3 };
  const out = new Uint8Array(window.width * window.height);
  for (const region of regions) fillPolygon(out, window, [region.outer, ...region.holes], 1);
  for (let j = 0; j < window.height; j++) {
    for (let i = 0; i < window.width; i++) {
      const [x, y] = [window.x + 3 * i + 1, window.y + 3 * j + 1];
      assert.equal(out[j * window.width + i], mask[y * w + x], `output (${i}, ${j}) = input (${x}, ${y})`);
    }
  }
});

/** Even-odd by a ray to the left (fillPolygon's spans grow to the right): crossings strictly left of the point. */
function insideByLeftRay(rings: Ring[], px: number, py: number): boolean {
  let crossings = 0;
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [[x1, y1], [x2, y2]] = [ring[i], ring[i + 1]];
      if ((y1 > py) === (y2 > py)) continue;
      const t = (py - y1) / (y2 - y1);
      if (x1 + t * (x2 - x1) < px) crossings++;
    }
  }
  return crossings % 2 === 1;
}

/** A star-shaped polygon of n vertices around (cx, cy), radii in [r/2, r]. */
function star(rng: Rng, cx: number, cy: number, r: number, n: number): Ring {
  const ring: Ring = [];
  for (let k = 0; k < n; k++) {
    const a = (2 * Math.PI * k) / n;
    const radius = rng.uniform(r / 2, r);
    ring.push([cx + radius * Math.cos(a), cy + radius * Math.sin(a)]);
  }
  ring.push(ring[0]);
  return ring;
}

test('random star polygons with a hole, float vertices, random windows and scales: every pixel centre agrees with a ray cast', () => {
  const rng = new Rng(9);
  for (let trial = 0; trial < 30; trial++) {
    const cx = rng.uniform(100, 200), cy = rng.uniform(100, 200);
    const rings = [star(rng, cx, cy, 80, 5 + rng.int(30)), star(rng, cx, cy, 20, 3 + rng.int(8))];
    const window = { x: rng.uniform(0, 100), y: rng.uniform(0, 100), width: 20 + rng.int(40), height: 20 + rng.int(40), scale: rng.uniform(0.5, 5) };
    const out = new Uint8Array(window.width * window.height);
    fillPolygon(out, window, rings, 3);
    let filled = 0;
    for (let j = 0; j < window.height; j++) {
      for (let i = 0; i < window.width; i++) {
        const expected = insideByLeftRay(rings, window.x + (i + 0.5) * window.scale, window.y + (j + 0.5) * window.scale) ? 3 : 0;
        assert.equal(out[j * window.width + i], expected, `trial ${trial}, pixel (${i}, ${j})`);
        if (expected) filled++;
      }
    }
    if (trial === 0) assert.ok(filled > 0, 'the first window covers part of the polygon');
  }
});
