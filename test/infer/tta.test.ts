/**
 * Test-time augmentation undoes each of its 8 views: with a network that
 * passes channel 0 through, the average is the input itself, exactly (the
 * values are multiples of 1/1024, so 8 of them add up without rounding), on
 * a non-square image whose rotated views are W x H.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { symmetryAverage, withTestTimeAugmentation } from '../../src/infer/tta.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const [H, W] = [5, 7];
const input = Float32Array.from({ length: 2 * H * W }, (_, i) => ((i * 389) % 1024) / 1024);

test('symmetryAverage of a channel-0 pass-through on 5x7 is channel 0 exactly; a wrong undo would move pixels', () => {
  const start = memory().numTensors;
  const shapes: string[] = [];
  const out = noGrad(() =>
    tidy(() => {
      const x = tensor(input, [1, 2, H, W]);
      return symmetryAverage((view: Tensor) => {
        shapes.push(view.shape.join('x'));
        return view.slice(1, 0, 1);
      }, x).toFloat32Array();
    }),
  );
  assert.deepEqual(out, input.subarray(0, H * W));
  assert.deepEqual([...new Set(shapes)].sort(), ['1x2x5x7', '1x2x7x5'], 'rotated views are 7x5');
  assert.equal(shapes.length, 8);
  assert.equal(memory().numTensors, start);
});

test('withTestTimeAugmentation: forward gives the averaged probabilities, which probabilities passes on', () => {
  const start = memory().numTensors;
  let mode = false;
  const net = {
    forward: (x: Tensor) => x.slice(1, 0, 1).mul(2),
    probabilities: (logits: Tensor) => logits.div(2),
    train: (m = true) => (mode = m),
    get training() {
      return mode;
    },
  };
  const tta = withTestTimeAugmentation(net);
  const out = noGrad(() => tidy(() => tta.probabilities(tta.forward(tensor(input, [1, 2, H, W]))).toFloat32Array()));
  assert.deepEqual(out, input.subarray(0, H * W));
  tta.train(true);
  assert.equal(net.training, true, 'train() reaches the network');
  assert.equal(memory().numTensors, start);
});
