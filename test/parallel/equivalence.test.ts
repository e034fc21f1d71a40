import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../src/parallel/launch.js';
import { assertCloseValues } from '../close.js';
import { describe, lastJson, startWorker } from './processes.js';

type Weights = Record<string, number[]>;

const STEPS = 5;
const GLOBAL_BATCH = 4;
const SIZE = 8;

/**
 * K (test/close.ts): one process sums each weight gradient over the whole
 * batch, two ranks over half of it each and then add: N * H * W terms per
 * convolution, forward and back, for every convolution (the only parameters
 * called `weight`: no batch norm), and each step builds on the last.
 */
const trainingTerms = (weights: Weights) =>
  STEPS * 2 * Object.keys(weights).filter((name) => name.endsWith('.weight')).length * GLOBAL_BATCH * SIZE * SIZE;

test('2 ranks with batch 2 each equal 1 rank with batch 4 after 5 SGD-momentum steps, all-reduces during or after backward (U-Net depth 1, no batch norm)', async (t) => {
  const config = { batch: GLOBAL_BATCH / 2, steps: STEPS };
  const reference = startWorker('equivalence.js', { ...config, rank: 0, worldSize: 1, masterPort: 0, batch: GLOBAL_BATCH, overlap: false });
  const jobs = await Promise.all([true, false].map(async (overlap) => {
    const masterPort = await freePort();
    return [0, 1].map((rank) => startWorker('equivalence.js', { ...config, masterPort, rank, worldSize: 2, overlap }));
  }));
  const [single, ...parallel] = await Promise.all([reference, ...jobs.flat()].map((r) => r.done));
  for (const f of [single, ...parallel]) assert.equal(f.code, 0, describe(f));
  const expected = lastJson<Weights>(single);
  const [overlap0, overlap1, after0, after1] = parallel.map((f) => lastJson<Weights>(f));
  assert.deepEqual(overlap0, overlap1, 'both replicas hold identical weights (overlapped all-reduces)');
  assert.deepEqual(after0, after1, 'both replicas hold identical weights (all-reduces after backward)');
  // the same sums of the same two gradients, only started earlier
  assert.deepEqual(overlap0, after0, 'overlap changes when the all-reduces run, not what they compute');
  assert.deepEqual(Object.keys(overlap0), Object.keys(expected));
  const terms = trainingTerms(expected);
  for (const name of Object.keys(expected)) {
    assertCloseValues(t, name, overlap0[name], expected[name], { precision: 'float32', terms });
  }
});
