import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { decodeImageFile } from '../../src/data/decode.js';
import { IsbiMetricAccumulator, type IsbiScores } from '../../src/metrics/rand.js';
import { assertCloseRecord } from '../close.js';

/** Probabilities and 0/1 mask from rows of '#' (cell interior) and '.' (membrane). */
function grid(rows: string[]): { values: Float32Array; mask: Uint8Array; width: number; height: number } {
  const text = rows.join('');
  return {
    values: Float32Array.from(text, (c) => (c === '#' ? 1 : 0)),
    mask: Uint8Array.from(text, (c) => (c === '#' ? 1 : 0)),
    width: rows[0].length,
    height: rows.length,
  };
}

function score(predicted: string[], truth: string[]): IsbiScores {
  const p = grid(predicted);
  const t = grid(truth);
  const accumulator = new IsbiMetricAccumulator(0.5);
  accumulator.add(p.values, t.mask, ['x'], p.height, p.width);
  const { perImage, threshold, images, ...pooled } = accumulator.result();
  assert.deepEqual(perImage[0], { name: 'x', ...pooled });
  return pooled;
}

// two cells of 6 pixels, split by a membrane column
const cells = ['##.##', '##.##', '##.##'];

test('ISBI: the truth itself scores V_rand = V_info = 1', () => {
  assert.deepEqual(score(cells, cells), { vRand: 1, vRandSplit: 1, vRandMerge: 1, vInfo: 1 });
});

test('ISBI: a missed membrane merges two cells: merge score 1/2, V_rand 2/3, V_info 0 (one predicted region)', () => {
  // true regions a = [6, 6], predicted b = [12]: Σn_ij² = 72, Σa² = 72, Σb² = 144
  const s = score(['#####', '#####', '#####'], cells);
  assert.equal(s.vRandSplit, 1);
  assert.equal(s.vRandMerge, 72 / 144);
  assert.equal(s.vRand, (2 * 72) / (72 + 144));
  // Fiji: the proposal's entropy is 0, so its information score is 0
  assert.equal(s.vInfo, 0);
});

test('ISBI: a spurious membrane splits a cell; the membrane pixels inside the truth count as single-pixel regions', () => {
  // cell A: rows 0 and 2 apart (2 + 2 pixels), its row 1 predicted membrane (2 singletons); cell B intact
  const s = score(['##.##', '...##', '##.##'], cells);
  // Σn_ij² = 4 + 4 + 36 + 2 singletons = 46; Σa² = 72; Σb² = 4 + 4 + 36 + 2 = 46
  assert.equal(s.vRandSplit, 46 / 72);
  assert.equal(s.vRandMerge, 1);
  assert.equal(s.vRand, (2 * 46) / (72 + 46));
  // every predicted region lies in one true region: H(S,T) = H(S), I = H(T) = log 2
  const n = 12;
  const hS = -(2 * (2 / n) * Math.log(2 / n) + (6 / n) * Math.log(6 / n)) + (2 / n) * Math.log(n);
  assertCloseRecord({ vInfo: s.vInfo }, { vInfo: (2 * Math.log(2)) / (Math.log(2) + hS) }, { precision: 'float64', terms: 8 });
});

test('ISBI: membrane predicted where the truth has membrane does not count (foreground restriction)', () => {
  // predicted cells spreading over true membrane change nothing: only pixels inside true cells count
  const thicker = score(['##.##', '##.##', '##.##'], ['#...#', '#...#', '#...#']);
  assert.deepEqual(thicker, { vRand: 1, vRandSplit: 1, vRandMerge: 1, vInfo: 1 });
  const wider = score(['##...##', '##...##'], ['##.#.##', '##.#.##']);
  // the middle true cell (2 px) is all predicted membrane: two singletons; the outer cells intact
  // Σn_ij² = 16 + 16 + 2 = 34, Σa² = 16 + 4 + 16 = 36, Σb² = 34
  assert.equal(wider.vRand, (2 * 34) / (36 + 34));
});

test('ISBI: regions are 4-connected: cells touching at a corner are two regions', () => {
  const truth = ['#.', '.#'];
  // predicted as one 4-connected region: a merge
  assert.equal(score(['##', '.#'], truth).vRandMerge < 1, true);
  assert.deepEqual(score(truth, truth), { vRand: 1, vRandSplit: 1, vRandMerge: 1, vInfo: 1 });
});

test('ISBI: an image without cell interior has no score and is left out of the pooled one', () => {
  const accumulator = new IsbiMetricAccumulator(0.5);
  const empty = grid(['...', '...']);
  accumulator.add(empty.values, empty.mask, ['empty'], 2, 3);
  const full = grid(cells);
  accumulator.add(full.values, full.mask, ['cells'], 3, 5);
  const r = accumulator.result();
  assert.equal(r.images, 1);
  assert.ok(Number.isNaN(r.perImage[0].vRand));
  assert.equal(r.vRand, 1);
  assert.equal(r.vInfo, 1);
});

interface IsbiExpected {
  images: ({ name: string; truth: string } & IsbiScores)[];
  pooled: IsbiScores & { images: number };
}

const ROOT = new URL('../../../', import.meta.url);

test('ISBI: matches the scipy/skimage port of the Fiji scoring on real membrane masks (tools/make_object_metric_fixtures.py)', async () => {
  const expected = (JSON.parse(readFileSync(new URL('test/fixtures/metrics/expected.json', ROOT), 'utf8')) as { isbi: IsbiExpected }).isbi;
  const accumulator = new IsbiMetricAccumulator(0.5);
  for (const image of expected.images) {
    const truth = await decodeImageFile(new URL(image.truth, ROOT).pathname);
    const predicted = await decodeImageFile(new URL(`test/fixtures/metrics/${image.name}_pred.png`, ROOT).pathname);
    accumulator.add(Float32Array.from(predicted.data, (v) => v / 255), truth.data as Uint8Array, [image.name], truth.height, truth.width);
  }
  const { perImage, threshold, images, ...pooled } = accumulator.result();
  // entropies sum p log p over every region pair of a 512x512 image (about a thousand terms)
  const rounding = { precision: 'float64' as const, terms: 2048 };
  expected.images.forEach(({ name, truth: _truth, ...wanted }, k) => {
    const { name: actualName, ...actual } = perImage[k];
    assert.equal(actualName, name);
    assertCloseRecord(actual as unknown as Record<string, number>, wanted as unknown as Record<string, number>, rounding);
  });
  const { images: wantedImages, ...wantedPooled } = expected.pooled;
  assert.equal(images, wantedImages);
  assertCloseRecord(pooled as unknown as Record<string, number>, wantedPooled as unknown as Record<string, number>, rounding);
});
