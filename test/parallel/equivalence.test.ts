import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../src/parallel/launch.js';
import { describe, lastJson, startWorker } from './processes.js';

type Weights = Record<string, number[]>;

function largestDifference(a: Weights, b: Weights): { name: string; diff: number } {
  assert.deepEqual(Object.keys(a), Object.keys(b));
  let worst = { name: '', diff: 0 };
  for (const name of Object.keys(a)) {
    assert.equal(a[name].length, b[name].length, name);
    for (let i = 0; i < a[name].length; i++) {
      const diff = Math.abs(a[name][i] - b[name][i]);
      if (!(diff <= worst.diff)) worst = { name, diff };
    }
  }
  return worst;
}

test('2 ranks with batch 2 each equal 1 rank with batch 4 after 5 SGD-momentum steps (U-Net depth 1, no batch norm)', async () => {
  const masterPort = await freePort();
  const config = { masterPort, batch: 2, steps: 5 };
  const reference = startWorker('equivalence.js', { ...config, rank: 0, worldSize: 1, batch: 4 });
  const ranks = [0, 1].map((rank) => startWorker('equivalence.js', { ...config, rank, worldSize: 2 }));
  const [single, ...parallel] = await Promise.all([reference, ...ranks].map((r) => r.done));
  for (const f of [single, ...parallel]) assert.equal(f.code, 0, describe(f));
  const expected = lastJson<Weights>(single);
  const [rank0, rank1] = parallel.map((f) => lastJson<Weights>(f));
  assert.deepEqual(rank0, rank1, 'both replicas hold identical weights');
  const worst = largestDifference(rank0, expected);
  assert.ok(worst.diff <= 1e-5, `largest difference ${worst.diff} in ${worst.name}`);
});
