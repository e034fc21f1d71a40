/**
 * Post-processing of binary masks: which objects go (8-connected) and which
 * holes are filled (4-connected background not touching the border), exactly,
 * on masks drawn as text; the probability edit that eval scores; and the
 * choice on validation images.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { choosePostProcessing, postProcessMask, postProcessProbabilities } from '../../src/infer/postprocess.js';

/** 1 at '#', 0 at '.'. */
function mask(rows: string[]): { data: Uint8Array; width: number; height: number } {
  return { data: Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0)), width: rows[0].length, height: rows.length };
}

function draw(data: Uint8Array, width: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < data.length / width; y++) rows.push(Array.from(data.subarray(y * width, (y + 1) * width), (v) => (v ? '#' : '.')).join(''));
  return rows;
}

const SCENE = [
  '#.........#', // a 1-px object in a corner; a 2-px diagonal pair (one 8-connected object) on the right
  '.........#.',
  '..#####....',
  '..#...#....', // a 3-px hole in a ring of 12 px
  '..#####..#.', // a 1-px object
  '...........',
  '####.......', // a notch at the border: background that touches the border is no hole
  '#..#.......',
  '#..#.......',
];

test('postProcessMask: objects of fewer than minObjectPx pixels go; 8-connected, so a diagonal pair is one 2-px object', () => {
  const m = mask(SCENE);
  assert.deepEqual(draw(postProcessMask(m.data, m.width, m.height, { minObjectPx: 2, fillHolesPx: 0 }), m.width), [
    '..........#',
    '.........#.',
    '..#####....',
    '..#...#....',
    '..#####....',
    '...........',
    '####.......',
    '#..#.......',
    '#..#.......',
  ]);
  assert.deepEqual(draw(postProcessMask(m.data, m.width, m.height, { minObjectPx: 3, fillHolesPx: 0 }), m.width).slice(0, 2), ['...........', '...........']);
  // the L at the border (8 px) goes at 9; the ring (12 px) stays up to 12 and goes at 13
  const at = (minObjectPx: number) => postProcessMask(m.data, m.width, m.height, { minObjectPx, fillHolesPx: 0 }).reduce((s, v) => s + v, 0);
  assert.equal(at(9), 12);
  assert.equal(at(12), 12);
  assert.equal(at(13), 0);
});

test('postProcessMask: holes of fewer than fillHolesPx pixels are filled; background touching the border never is', () => {
  const m = mask(SCENE);
  const filled = (fillHolesPx: number) => draw(postProcessMask(m.data, m.width, m.height, { minObjectPx: 0, fillHolesPx }), m.width);
  assert.deepEqual(filled(3), draw(m.data, m.width), 'a 3-px hole stays at 3');
  assert.deepEqual(filled(4)[3], '..#####....', 'and is filled at 4');
  assert.deepEqual(filled(1000).slice(6), ['####.......', '#..#.......', '#..#.......'], 'the notch open to the border stays');
});

test('postProcessMask: a hole is 4-connected background, so a diagonal gap in its rim does not open it', () => {
  // the hole's only way out is diagonal (between two rim pixels touching at a corner): still a hole
  const m = mask([
    '.......',
    '.####..',
    '.#..#..',
    '.#..#..',
    '.###.#.',
    '.....#.',
  ]);
  const out = postProcessMask(m.data, m.width, m.height, { minObjectPx: 0, fillHolesPx: 5 });
  assert.deepEqual(draw(out, m.width).slice(1, 5), ['.####..', '.####..', '.####..', '.###.#.']);
});

test('postProcessMask: a speck inside a hole is removed first, and the hole counts its pixels', () => {
  const m = mask([
    '.......',
    '.#####.',
    '.#...#.',
    '.#.#.#.',
    '.#...#.',
    '.#####.',
    '.......',
  ]);
  // the hole is 8 px plus the speck's 1: with the speck gone it is 9, which a limit of 9 does not fill
  assert.equal(postProcessMask(m.data, m.width, m.height, { minObjectPx: 2, fillHolesPx: 9 }).reduce((s, v) => s + v, 0), 16);
  assert.equal(postProcessMask(m.data, m.width, m.height, { minObjectPx: 2, fillHolesPx: 10 }).reduce((s, v) => s + v, 0), 25);
  assert.throws(() => postProcessMask(m.data, 6, 7, { minObjectPx: 2, fillHolesPx: 0 }), /a 6x7 mask needs 42 values, got 49/);
});

test('postProcessProbabilities: only the changed pixels move (to 0 or 1), so a cut at the threshold gives the cleaned mask', () => {
  const m = mask(SCENE);
  const plane = m.width * m.height;
  // probabilities 0.6..0.9 on the mask, 0.1..0.4 off it, after 3 leading values of another image
  const probabilities = new Float32Array(3 + plane);
  m.data.forEach((v, i) => (probabilities[3 + i] = (v ? 0.6 : 0.1) + 0.1 * (i % 4)));
  const before = probabilities.slice();
  const p = { minObjectPx: 3, fillHolesPx: 4 };
  postProcessProbabilities(probabilities, 3, m.width, m.height, 0.5, p);
  const cleaned = postProcessMask(m.data, m.width, m.height, p);
  for (let i = 0; i < plane; i++) {
    assert.equal(probabilities[3 + i] >= 0.5 ? 1 : 0, cleaned[i], `pixel ${i}`);
    if (cleaned[i] === m.data[i]) assert.equal(probabilities[3 + i], before[3 + i], `pixel ${i} unchanged`);
    else assert.equal(probabilities[3 + i], cleaned[i]);
  }
  assert.deepEqual(probabilities.subarray(0, 3), before.subarray(0, 3), 'the other image is untouched');
});

test('choosePostProcessing: on a gland with a speck and a hole, the best removes the speck and fills the hole (GlaS F1 2/3 -> 1)', () => {
  const truth = mask([
    '..........',
    '.#####....',
    '.#####....',
    '.#####....',
    '.#####....',
    '..........',
    '..........',
  ]);
  // the prediction: the gland with a 1-px hole, and a 2-px speck below it
  const predicted = mask([
    '..........',
    '.#####....',
    '.#####....',
    '.##.##....',
    '.#####....',
    '.......##.',
    '..........',
  ]);
  const probabilities = Float32Array.from(predicted.data, (v) => (v ? 0.9 : 0.2));
  const image = { name: 'x', width: 10, height: 7, probabilities, truth: truth.data };
  const { best, trials } = choosePostProcessing([image], 0.5, { objects: true, minObject: [0, 2, 3, 100], fillHoles: [0, 2, 100] });
  assert.equal(trials.length, 12);
  const none = trials.find((t) => t.minObjectPx === 0 && t.fillHolesPx === 0)!;
  assert.equal(none.objectF1, 2 / 3);
  assert.deepEqual({ minObjectPx: best.minObjectPx, fillHolesPx: best.fillHolesPx, objectF1: best.objectF1, dice: best.dice }, { minObjectPx: 3, fillHolesPx: 2, objectF1: 1, dice: 1 });
  // 100 px removes the gland too (F1 0), the smallest sizes that do the job win the tie
  assert.equal(trials.find((t) => t.minObjectPx === 100 && t.fillHolesPx === 2)!.objectF1, 0);
  assert.throws(() => choosePostProcessing([], 0.5, { objects: true }), /no validation images/);
});
