import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../src/parallel/launch.js';
import { describe, lastJson, startWorker } from './processes.js';

interface Result {
  grads: Record<string, number[]>[];
  before: number;
  after: number;
  armedTwice: string | null;
  destroyed: string | null;
}

test('the gradient reducer averages during backward; a gradient missing on one rank or on all counts as zeros; freed with its group', async () => {
  const masterPort = await freePort();
  const finished = await Promise.all([0, 1].map((rank) => startWorker('reducer.js', { rank, worldSize: 2, masterPort }).done));
  for (const f of finished) assert.equal(f.code, 0, describe(f));
  for (const r of finished.map((f) => lastJson<Result>(f))) {
    // a: both ranks' x averaged; b: rank 0's gradient and rank 1's zeros; c: no rank's
    assert.deepEqual(r.grads, [0, 1].map((step) => ({ a: [1.5, 15, step], b: [0.5, 1, 1.5, 2], c: [0] })));
    assert.equal(r.after, r.before, 'no tensor handle left behind by two steps');
    assert.match(r.armedTwice ?? 'no error', /ddpReducerArm: the previous backward's gradients were never averaged/);
    assert.match(r.destroyed ?? 'no error', /ddpReducerFinish: the gradient reducer's process group was destroyed/);
  }
});
