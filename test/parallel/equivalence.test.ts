import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../src/parallel/launch.js';
import { assertCloseValues, difference, type Reporter } from '../close.js';
import { describe, lastJson, startWorker, type Running } from './processes.js';

/** Parameters and batch-norm running statistics by name. */
type Weights = Record<string, number[]>;

const STEPS = 5;
const GLOBAL_BATCH = 4;
const SIZE = 8;

/**
 * K (test/close.ts): one process sums over the whole batch, two ranks over
 * half of it each and then add. Every layer with a weight (convolutions,
 * batch norms) sums N * H * W terms per value, forward and back, and each
 * step builds on the last.
 */
const trainingTerms = (weights: Weights) =>
  STEPS * 2 * Object.keys(weights).filter((name) => name.endsWith('.weight')).length * GLOBAL_BATCH * SIZE * SIZE;

interface Job {
  batchNorm: boolean;
  /** all-reduces during backward */
  overlap: boolean;
  syncBn: boolean;
}

/** One process with the whole batch, then one job of 2 ranks per entry of `jobs`: every result, in that order. */
async function train(jobs: Job[]): Promise<{ single: Weights; parallel: Weights[][] }> {
  const config = { steps: STEPS, batchNorm: jobs[0].batchNorm };
  const reference = startWorker('equivalence.js', { ...config, rank: 0, worldSize: 1, masterPort: 0, batch: GLOBAL_BATCH, overlap: false, syncBn: false });
  const runs: Running[][] = [];
  for (const job of jobs) {
    const masterPort = await freePort();
    runs.push([0, 1].map((rank) => startWorker('equivalence.js', { ...config, ...job, masterPort, rank, worldSize: 2, batch: GLOBAL_BATCH / 2 })));
  }
  const [single, ...parallel] = await Promise.all([reference, ...runs.flat()].map((r) => r.done));
  for (const f of [single, ...parallel]) assert.equal(f.code, 0, describe(f));
  const results = parallel.map((f) => lastJson<Weights>(f));
  return { single: lastJson<Weights>(single), parallel: jobs.map((_, i) => results.slice(2 * i, 2 * i + 2)) };
}

/** Every tensor of `actual` within test/close.ts's rule of `expected`. */
function assertEquivalent(t: Reporter, actual: Weights, expected: Weights): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected));
  const terms = trainingTerms(expected);
  for (const name of Object.keys(expected)) assertCloseValues(t, name, actual[name], expected[name], { precision: 'float32', terms });
}

test('2 ranks with batch 2 each equal 1 rank with batch 4 after 5 SGD-momentum steps, all-reduces during or after backward (U-Net depth 1, no batch norm)', async (t) => {
  const { single, parallel } = await train([
    { batchNorm: false, overlap: true, syncBn: false },
    { batchNorm: false, overlap: false, syncBn: false },
  ]);
  const [[overlap0, overlap1], [after0, after1]] = parallel;
  assert.deepEqual(overlap0, overlap1, 'both replicas hold identical weights (overlapped all-reduces)');
  assert.deepEqual(after0, after1, 'both replicas hold identical weights (all-reduces after backward)');
  // the same sums of the same two gradients, only started earlier
  assert.deepEqual(overlap0, after0, 'overlap changes when the all-reduces run, not what they compute');
  assertEquivalent(t, overlap0, single);
});

test('SyncBatchNorm: 2 ranks with batch 2 each equal 1 rank with batch 4 after 5 steps, running statistics included (U-Net depth 1 with batch norm)', async (t) => {
  const { single, parallel } = await train([
    { batchNorm: true, overlap: true, syncBn: true },
    { batchNorm: true, overlap: true, syncBn: false },
  ]);
  const [[sync0, sync1], [local0]] = parallel;
  assert.deepEqual(sync0, sync1, 'both replicas hold identical weights and running statistics');
  assertEquivalent(t, sync0, single);
  // what the test tells apart: each rank's own batch statistics land outside the bound
  const terms = trainingTerms(single);
  const worst = Math.max(...Object.keys(single).map((name) => difference(local0[name], single[name], { precision: 'float32', terms }).ratio));
  assert.ok(worst > 1, `without SyncBatchNorm the largest ratio is ${worst}: the test would not notice missing synchronisation`);
});
