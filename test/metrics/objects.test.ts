import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { decodeImageFile } from '../../src/data/decode.js';
import { labelComponents, squaredDistanceTransform } from '../../src/metrics/components.js';
import { GlasMetricAccumulator, type GlasScores } from '../../src/metrics/objects.js';
import { assertCloseRecord } from '../close.js';

/** Probabilities (1 at '#', 0 elsewhere) and the mask of the same rows; digits in `truth` rows are instance labels. */
function grid(rows: string[]): { values: Float32Array; labels: Uint8Array; width: number; height: number } {
  const text = rows.join('');
  return {
    values: Float32Array.from(text, (c) => (c === '.' ? 0 : 1)),
    labels: Uint8Array.from(text, (c) => (c === '.' ? 0 : c === '#' ? 1 : Number(c))),
    width: rows[0].length,
    height: rows.length,
  };
}

/** One image's GlaS scores: `predicted` rows against `truth` rows. */
function score(predicted: string[], truth: string[]): GlasScores {
  const p = grid(predicted);
  const t = grid(truth);
  const accumulator = new GlasMetricAccumulator(0.5);
  accumulator.add(p.values, t.labels, ['x'], p.height, p.width);
  const { perImage, threshold, images, ...pooled } = accumulator.result();
  assert.deepEqual(perImage[0], { name: 'x', ...pooled }, 'one image: the pooled scores are the image scores');
  return pooled;
}

/** A w x h block of '#' at column x0 in rows of `width` characters, `height` rows. */
function blocks(width: number, height: number, ...rects: [x0: number, y0: number, w: number, h: number][]): string[] {
  const rows = Array.from({ length: height }, () => Array(width).fill('.'));
  for (const [x0, y0, w, h] of rects) for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) rows[y][x] = '#';
  return rows.map((r) => r.join(''));
}

test('GlaS: a perfect prediction of two glands scores F1 1, object Dice 1, Hausdorff 0', () => {
  const truth = blocks(30, 12, [0, 1, 10, 10], [20, 1, 10, 10]);
  assert.deepEqual(score(truth, truth), { f1: 1, precision: 1, recall: 1, tp: 2, fp: 0, fn: 0, objectDice: 1, objectHausdorff: 0, unpaired: 0 });
});

test('GlaS: a missed gland is a false negative; the unmatched gland pairs with the nearest prediction', () => {
  // G1 found exactly, G2 (20 px to the right) missed
  const s = score(blocks(30, 12, [0, 1, 10, 10]), blocks(30, 12, [0, 1, 10, 10], [20, 1, 10, 10]));
  // F1 = 2TP / (2TP + FP + FN) = 2 / 3
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 1, fp: 0, fn: 1 });
  assert.equal(s.f1, 2 / 3);
  // predicted side: S1 = G1 (Dice 1, weight 1); true side: G1 Dice 1, G2 no partner Dice 0, weights 1/2
  assert.equal(s.objectDice, 0.5 * (1 + 0.5));
  // Hausdorff: S1-G1 0; G2 overlaps nothing, its nearest object is S1 at distance 20 (column 29 to 9)
  assert.equal(s.objectHausdorff, 0.5 * (0 + 0.5 * 0 + 0.5 * 20));
});

test('GlaS: a speck overlapping nothing pairs with the gland nearest by Hausdorff distance, not the first one', () => {
  // glands at columns 0..9 and 30..39 found exactly; a 1-pixel false positive at (25, 5)
  const truth = blocks(40, 10, [0, 0, 10, 10], [30, 0, 10, 10]);
  const s = score(blocks(40, 10, [0, 0, 10, 10], [30, 0, 10, 10], [25, 5, 1, 1]), truth);
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn, f1: s.f1 }, { tp: 2, fp: 1, fn: 0, f1: 4 / 5 });
  assert.equal(s.objectDice, 0.5 * (200 / 201 + 1));
  // to the right gland: its far corner (39, 0) is sqrt(14² + 5²) away; the left one's (0, 0) sqrt(25² + 5²)
  assert.equal(s.objectHausdorff, 0.5 * (Math.sqrt(14 ** 2 + 5 ** 2) / 201 + 0));
});

test('GlaS: the nearest-object search goes on past the candidate with the lowest bound', () => {
  // a speck at (10, 10) inside the box of an L-shaped gland (bound 10, Hausdorff sqrt(200) to its corners)
  // and 12 px above a one-pixel gland at (10, 22) (bound and Hausdorff 12): the small gland is nearer
  const truth = blocks(21, 23, [0, 0, 1, 21], [1, 20, 20, 1], [10, 22, 1, 1]);
  const s = score(blocks(21, 23, [10, 10, 1, 1]), truth);
  // the speck pairs with the small gland (12); the L (41 px) and the small gland both pair with the speck
  assert.equal(s.objectHausdorff, 0.5 * (12 + (41 * Math.sqrt(200) + 12) / 42));
});

test('GlaS: a gland split in two halves of 40% each is two false positives and a miss', () => {
  // true 10x10 square; predicted columns 0..3 and 6..9 (40 px each, 4 of the truth's 10 columns)
  const s = score(blocks(10, 10, [0, 0, 4, 10], [6, 0, 4, 10]), blocks(10, 10, [0, 0, 10, 10]));
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn, f1: s.f1 }, { tp: 0, fp: 2, fn: 1, f1: 0 });
  // each half: Dice 2*40/(40+100); the truth's partner is the left half (a tie, the smaller label)
  assert.equal(s.objectDice, 0.5 * ((80 / 140) * 0.5 + (80 / 140) * 0.5 + 80 / 140));
  // every pair's Hausdorff distance is 6 (a half's far edge to the square's opposite edge)
  assert.equal(s.objectHausdorff, 6);
});

test('GlaS: a part covering more than half of its gland is a true positive, the rest a false positive', () => {
  // columns 0..5 (60%) and 8..9 (20%) of a 10x10 square
  const s = score(blocks(10, 10, [0, 0, 6, 10], [8, 0, 2, 10]), blocks(10, 10, [0, 0, 10, 10]));
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 1, fp: 1, fn: 0 });
  assert.equal(s.f1, 2 / 3);
});

test('GlaS: exactly half of a gland is not enough (the contest asks for more than 50%)', () => {
  const s = score(blocks(10, 10, [0, 0, 5, 10]), blocks(10, 10, [0, 0, 10, 10]));
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 0, fp: 1, fn: 1 });
});

test('GlaS: two glands merged into one prediction: one match, one miss', () => {
  // S covers both 10x10 glands and the gap between: each is 100% covered; S's partner is G1 (tie, smaller label)
  const s = score(blocks(30, 10, [0, 0, 30, 10]), blocks(30, 10, [0, 0, 10, 10], [20, 0, 10, 10]));
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 1, fp: 0, fn: 1 });
  // S (300 px) with G1: 2*100/400; G1 and G2 both with S: 2*100/400
  assert.equal(s.objectDice, 0.5);
  // S-G1: the far end of S (column 29) is 20 px from G1; G2's partner S: S's column 0 is 20 px from G2
  assert.equal(s.objectHausdorff, 20);
});

test('GlaS: instance labels in the mask are separate objects even where they touch', () => {
  // labels 1 and 2 share an edge; their union is one connected component
  const truth = ['11112222', '11112222', '11112222', '11112222'];
  const s = score(['####....', '####....', '####....', '####....'], truth);
  assert.deepEqual({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 1, fp: 0, fn: 1 });
  // a binary mask of the same pixels is one object, which the half-prediction does not cover by more than half
  const merged = score(['####....', '####....', '####....', '####....'], truth.map((r) => r.replace(/2/g, '1')));
  assert.deepEqual({ tp: merged.tp, fp: merged.fp, fn: merged.fn }, { tp: 0, fp: 1, fn: 1 });
});

test('GlaS: empty images: nothing anywhere is perfect; a prediction with no object leaves the distance undefined', () => {
  const empty = ['....', '....'];
  assert.deepEqual(score(empty, empty), { f1: 1, precision: 1, recall: 1, tp: 0, fp: 0, fn: 0, objectDice: 1, objectHausdorff: 0, unpaired: 0 });
  assert.deepEqual(score(empty, ['.##.', '....']), { f1: 0, precision: 0, recall: 0, tp: 0, fp: 0, fn: 1, objectDice: 0, objectHausdorff: null, unpaired: 1 });
});

test('components: diagonal neighbours join under 8-connectivity only; labels follow raster order', () => {
  const { values, width, height } = grid(['#..#', '.#..', '...#']);
  const eight = labelComponents(values, width, height, 8);
  assert.equal(eight.count, 3);
  assert.deepEqual(Array.from(eight.labels), [1, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 3]);
  assert.equal(labelComponents(values, width, height, 4).count, 4);
});

test('components: a U shape whose arms meet only at the bottom is one object with the earliest label', () => {
  const { values, width, height } = grid(['#.#', '#.#', '###']);
  const c = labelComponents(values, width, height, 4);
  assert.equal(c.count, 1);
  assert.deepEqual(Array.from(c.areas), [0, 7]);
  assert.deepEqual(Array.from(c.boxes.subarray(4, 8)), [0, 0, 2, 2]);
});

test('distance transform: exact squared Euclidean distances, Infinity without targets', () => {
  const d = squaredDistanceTransform([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4, 3);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) assert.equal(d[y * 4 + x], x * x + y * y);
  assert.ok(squaredDistanceTransform(new Uint8Array(6), 3, 2).every((v) => v === Infinity));
});

interface GlasExpected {
  connectivity: number;
  images: ({ name: string } & GlasScores)[];
  pooled: GlasScores;
}

const FIXTURES = new URL('../../../test/fixtures/metrics/', import.meta.url);

test('GlaS: matches the scipy/skimage port of the contest code on real masks (tools/make_object_metric_fixtures.py)', async () => {
  const expected = (JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as { glas: GlasExpected }).glas;
  const pooled = new GlasMetricAccumulator(0.5);
  let objects = 0;
  for (const image of expected.images) {
    const truth = await decodeImageFile(new URL(`${image.name}_truth.png`, FIXTURES).pathname);
    const predicted = await decodeImageFile(new URL(`${image.name}_pred.png`, FIXTURES).pathname);
    pooled.add(Float32Array.from(predicted.data, (v) => v / 255), truth.data as Uint8Array, [image.name], truth.height, truth.width);
    objects += image.tp + image.fp + image.fn;
  }
  // weighted sums over at most `objects` objects, summed in another order than numpy's
  const rounding = { precision: 'float64' as const, terms: objects };
  const compare = (actual: GlasScores & { name?: string }, wanted: GlasScores & { name?: string }, what: string) => {
    const { objectHausdorff: h, name: _name, ...rest } = actual;
    const { objectHausdorff: wantedH, name: _wantedName, ...wantedRest } = wanted;
    assert.deepEqual({ tp: rest.tp, fp: rest.fp, fn: rest.fn, unpaired: rest.unpaired }, { tp: wantedRest.tp, fp: wantedRest.fp, fn: wantedRest.fn, unpaired: wantedRest.unpaired }, what);
    assertCloseRecord(rest as unknown as Record<string, number>, wantedRest as unknown as Record<string, number>, rounding);
    if (wantedH === null) assert.equal(h, null, `${what}: Hausdorff undefined`);
    else assertCloseRecord({ h: h! }, { h: wantedH }, rounding);
  };
  const { perImage, threshold, images, ...all } = pooled.result();
  expected.images.forEach((wanted, k) => {
    assert.equal(perImage[k].name, wanted.name);
    compare(perImage[k], wanted, wanted.name);
  });
  assert.equal(images, expected.images.length);
  compare(all, expected.pooled, 'pooled');
});

test('GlaS: accumulators merged by summing counts score as one over all images', () => {
  const images = [
    [blocks(30, 12, [0, 1, 10, 10]), blocks(30, 12, [0, 1, 10, 10], [20, 1, 10, 10])],
    [blocks(10, 10, [0, 0, 4, 10], [6, 0, 4, 10]), blocks(10, 10, [0, 0, 10, 10])],
  ];
  const whole = new GlasMetricAccumulator(0.5);
  const parts = images.map(([predicted, truth]) => {
    const p = grid(predicted);
    const t = grid(truth);
    const part = new GlasMetricAccumulator(0.5);
    part.add(p.values, t.labels, ['x'], p.height, p.width);
    whole.add(p.values, t.labels, ['x'], p.height, p.width);
    return part.counts();
  });
  const merged = new GlasMetricAccumulator(0.5, parts[0].map((v, i) => v + parts[1][i]));
  const { perImage: _a, ...fromCounts } = merged.result();
  const { perImage: _b, ...direct } = whole.result();
  assert.deepEqual(fromCounts, direct);
  // pooled: TP 1, FP 2, FN 2 over both images
  assert.equal(direct.f1, 2 / (2 + 2 + 2));
});
