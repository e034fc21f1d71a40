/**
 * Simplification that keeps topology, checked against independent tests on
 * random masks full of rings, holes, islands in holes and diagonal touches:
 * no two edges cross or touch except at shared vertices, rings keep their
 * orientation and at least three vertices, and every pixel centre that
 * changes sides (so every hole or island that would move) lies within the
 * tolerance of the exact outline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/data/rng.js';
import { signedArea, traceRegions, type Region, type Ring } from '../../src/wsi/contours.js';
import { simplifyRegions } from '../../src/wsi/simplify.js';

type P = [number, number];

function blobs(rng: Rng, w: number, h: number): Uint8Array {
  const discs = Array.from({ length: 7 }, () => [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, w / 2.5)]);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = discs.filter(([cx, cy, r]) => (x - cx) ** 2 + (y - cy) ** 2 < r * r).length;
      mask[y * w + x] = inside % 2 === 1 || rng.chance(0.01) ? 1 : 0;
    }
  }
  return mask;
}

/** Even-odd over every ring of every region: is the point covered by the regions. */
function covered(regions: Region[], px: number, py: number): boolean {
  let odd = false;
  for (const r of regions) {
    for (const ring of [r.outer, ...r.holes]) {
      for (let i = 0; i + 1 < ring.length; i++) {
        const [[x1, y1], [x2, y2]] = [ring[i], ring[i + 1]];
        if (y1 > py !== y2 > py && px < x1 + ((py - y1) * (x2 - x1)) / (y2 - y1)) odd = !odd;
      }
    }
  }
  return odd;
}

function distanceToEdges(rings: Ring[], px: number, py: number): number {
  let best = Infinity;
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [[ax, ay], [bx, by]] = [ring[i], ring[i + 1]];
      const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)));
      best = Math.min(best, Math.hypot(px - ax - t * (bx - ax), py - ay - t * (by - ay)));
    }
  }
  return best;
}

/** The points two closed segments share, by brute force on a fine parameter (exact for these integer segments): none, a vertex of both, or more. */
function sharedBeyondVertex(a: P, b: P, c: P, d: P): boolean {
  const cross = (u: P, v: P) => u[0] * v[1] - u[1] * v[0];
  const r: P = [b[0] - a[0], b[1] - a[1]], s: P = [d[0] - c[0], d[1] - c[1]];
  const denominator = cross(r, s);
  const qp: P = [c[0] - a[0], c[1] - a[1]];
  const isVertexOfBoth = (p: P) => [a, b].some((q) => q[0] === p[0] && q[1] === p[1]) && [c, d].some((q) => q[0] === p[0] && q[1] === p[1]);
  if (denominator === 0) {
    if (cross(qp, r) !== 0) return false; // parallel, apart
    const rr = r[0] * r[0] + r[1] * r[1];
    const t0 = (qp[0] * r[0] + qp[1] * r[1]) / rr, t1 = t0 + (s[0] * r[0] + s[1] * r[1]) / rr;
    const [lo, hi] = [Math.max(0, Math.min(t0, t1)), Math.min(1, Math.max(t0, t1))];
    if (hi < lo) return false;
    if (hi > lo) return true;
    return !isVertexOfBoth([a[0] + lo * r[0], a[1] + lo * r[1]]);
  }
  const t = cross(qp, s) / denominator, u = cross(qp, r) / denominator;
  if (t < 0 || t > 1 || u < 0 || u > 1) return false;
  return !isVertexOfBoth([a[0] + t * r[0], a[1] + t * r[1]]);
}

function checkSimplified(mask: Uint8Array, w: number, h: number, tolerance: number, label: string): { before: number; after: number } {
  const traced = traceRegions(mask, w, h);
  const simple = simplifyRegions(traced, tolerance);
  const exact = traced.flatMap((r) => [r.outer, ...r.holes]);
  const rings = simple.flatMap((r) => [r.outer, ...r.holes]);
  rings.forEach((ring, k) => {
    assert.ok(ring.length >= 4, `${label}: ring ${k} keeps three vertices`);
    assert.deepEqual(ring[0], ring[ring.length - 1]);
    assert.equal(Math.sign(signedArea(ring)), Math.sign(signedArea(exact[k])), `${label}: ring ${k} keeps its orientation`);
  });
  const edges = rings.flatMap((ring, k) => ring.slice(0, -1).map((a, i) => ({ a, b: ring[i + 1], k, i, n: ring.length - 1 })));
  for (let e = 0; e < edges.length; e++) {
    for (let f = e + 1; f < edges.length; f++) {
      const [p, q] = [edges[e], edges[f]];
      const adjacent = p.k === q.k && ((q.i - p.i + p.n) % p.n === 1 || (p.i - q.i + p.n) % p.n === 1);
      if (adjacent) continue; // they share their vertex by construction
      assert.ok(!sharedBeyondVertex(p.a, p.b, q.a, q.b), `${label}: edges ${JSON.stringify([p.a, p.b])} and ${JSON.stringify([q.a, q.b])} meet`);
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (covered(simple, x + 0.5, y + 0.5) === (mask[y * w + x] === 1)) continue;
      const d = distanceToEdges(exact, x + 0.5, y + 0.5);
      assert.ok(d <= tolerance, `${label}: pixel (${x}, ${y}) changed sides ${d} from the outline`);
    }
  }
  return { before: exact.reduce((s, r) => s + r.length, 0), after: rings.reduce((s, r) => s + r.length, 0) };
}

test('random masks simplified at 0.8, 1.5 and 3 px: no crossings or touches, orientation kept, changes within the tolerance', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 12; trial++) {
    const [w, h] = [48, 40];
    const mask = blobs(rng, w, h);
    for (const tolerance of [0.8, 1.5, 3]) {
      const { before, after } = checkSimplified(mask, w, h, tolerance, `trial ${trial} at ${tolerance}`);
      assert.ok(after < before * 0.75, `trial ${trial} at ${tolerance}: ${before} -> ${after} positions`);
    }
  }
});

test('a one-pixel hole and island on the lines through the corners of a staircase stay on their sides', () => {
  // a triangle whose hypotenuse is a staircase of 3-pixel steps; a one-pixel hole on the line through its inner
  // corners (y = x) and a one-pixel island on the line through its outer corners (y = x - 3)
  const [w, h] = [30, 30];
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < 27; y++) for (let x = 0; x < 3 * Math.floor(y / 3) + 3; x++) mask[y * w + x] = 1;
  mask[10 * w + 10] = 0; // hole: the step at rows 9..11 reaches x = 12
  mask[10 * w + 13] = 1; // island: in the pocket outside the step at rows 9..11, which ends at x = 12
  const traced = traceRegions(mask, w, h);
  assert.deepEqual(traced.map((r) => [r.holes.length, r.pixels]), [[1, 404], [0, 1]]);
  const simple = simplifyRegions(traced, 2.5);
  assert.ok(simple[0].outer.length < traced[0].outer.length / 2, `${traced[0].outer.length} -> ${simple[0].outer.length} positions`);
  // a one-pixel ring may become a triangle (within the tolerance): its centroid is inside it either way
  const centroid = (ring: Ring): [number, number] => {
    const n = ring.length - 1;
    return [ring.slice(0, n).reduce((s, p) => s + p[0], 0) / n, ring.slice(0, n).reduce((s, p) => s + p[1], 0) / n];
  };
  const [hole, island] = [centroid(simple[0].holes[0]), centroid(simple[1].outer)];
  assert.ok(covered([{ ...simple[0], holes: [] }], ...hole) && !covered([simple[0]], ...hole), 'the hole stays inside the outer ring, and a hole');
  assert.ok(covered([simple[1]], ...island) && !covered([simple[0]], ...island), 'the island stays outside');
  checkSimplified(mask, w, h, 2.5, 'staircase');
});

test('an island in a notch that a chord would close, touching neither chord nor notch, stays outside', () => {
  const [w, h] = [42, 22];
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) mask[y * w + x] = y < 4 && x >= 15 && x < 25 ? 0 : 1;
  mask[1 * w + 20] = 1; // the island, one pixel, in the notch 4 pixels deep
  const simple = simplifyRegions(traceRegions(mask, w, h), 5);
  assert.ok(!covered([simple[0]], 20.5, 1.5), 'the notch stays open around the island');
  assert.ok(covered([simple[1]], 20.5, 1.5));
  checkSimplified(mask, w, h, 5, 'notch');
});

test('a tolerance of 0 keeps the exact outline', () => {
  const mask = blobs(new Rng(2), 20, 20);
  const traced = traceRegions(mask, 20, 20);
  assert.deepEqual(simplifyRegions(traced, 0), traced);
});
