import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BOUNDARY_BANDS, BoundaryErrorAccumulator } from '../../src/metrics/boundary.js';

/** A 0/1 mask from rows of '#' (foreground) and '.' characters. */
function grid(rows: string[]): Float32Array {
  return Float32Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0));
}

const truth = grid([
  '..........',
  '..........',
  '..######..',
  '..######..',
  '..######..',
  '..######..',
  '..######..',
  '..######..',
  '..........',
  '..........',
]);

test('boundary errors: a prediction one pixel too wide errs only at distance 1', () => {
  const grown = grid([
    '..........',
    '.########.',
    '.########.',
    '.########.',
    '.########.',
    '.########.',
    '.########.',
    '.########.',
    '.########.',
    '..........',
  ]);
  const a = new BoundaryErrorAccumulator(0.5);
  a.add(grown, truth, 1, 10, 10);
  const r = a.result();
  // the 8x8 ring around the 6x6 square: 64 - 36 = 28 wrong pixels of 100, all next to the boundary
  assert.ok(Math.abs(r.pixelError - 0.28) < 1e-12);
  assert.ok(Math.abs(r.byDistance[0] - 0.28) < 1e-12);
  assert.deepEqual(r.byDistance.slice(1), new Array(BOUNDARY_BANDS - 1).fill(0));
});

test('boundary errors: a missed square centre and a false pixel in the far corner land in their bands', () => {
  const p = Float32Array.from(truth);
  // centre pixel (4, 4) of the square: 3 pixels from the background (chessboard) -> band 3
  p[4 * 10 + 4] = 0.2;
  // pixel (0, 0): the nearest foreground pixel is (2, 2) -> band 2; probability exactly at the threshold counts as foreground
  p[0] = 0.5;
  const a = new BoundaryErrorAccumulator(0.5);
  a.add(p, truth, 1, 10, 10);
  assert.deepEqual(a.result().byDistance, [0, 0.01, 0.01, 0, 0]);
});

test('boundary errors: counts sum over images and round-trip for all-reduce; a mask without boundary counts as far', () => {
  const empty = new Float32Array(100);
  const allWrong = new Float32Array(100).fill(0.9);
  const a = new BoundaryErrorAccumulator(0.5);
  a.add(Float32Array.from([...truth, ...allWrong]), Float32Array.from([...truth, ...empty]), 2, 10, 10);
  const r = a.result();
  assert.ok(Math.abs(r.pixelError - 0.5) < 1e-12, 'the second image is all wrong: 100 of 200 pixels');
  assert.equal(r.byDistance[BOUNDARY_BANDS - 1], 0.5);
  const back = new BoundaryErrorAccumulator(0.5, a.counts()).result();
  assert.deepEqual(back, r);
  assert.throws(() => a.add(new Float32Array(10), new Float32Array(100), 1, 10, 10), /1 images of 10x10 need 100 values, got 10 and 100/);
});
