/** The step-time probe: real training steps, a fake clock, no tensors left behind. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeTrainingStep } from '../../src/plan/probe.js';
import { memory } from '../../src/tensor/runtime.js';

test('timeTrainingStep: median of the timed steps per image, by the injected clock; frees its tensors', async () => {
  // each reading of the clock is 100 ms later than the one before: every timed step spans one tick
  let t = 0;
  const now = () => (t += 100);
  const before = memory().numTensors;
  for (const amp of [false, true]) {
    t = 0;
    const m = await timeTrainingStep(
      { baseChannels: 2, depth: 2, patch: 16, batchSize: 2, amp, channelsLast: amp },
      { device: 'cpu', channels: 3, classes: 1, steps: 3, now },
    );
    // a step is 100 ms for a batch of 2; the whole measurement read the clock 2 + 2 * 3 times
    assert.equal(m.secondsPerImage, 0.05);
    assert.equal(m.seconds, 0.7);
    assert.equal(memory().numTensors, before, `live tensors after the ${amp ? 'bf16' : 'fp32'} probe`);
  }
});
