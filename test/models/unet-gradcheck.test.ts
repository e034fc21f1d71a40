/**
 * The UNet's pad-and-crop for inputs that are not a multiple of 2^depth
 * (reflection or replication padding, logits cropped back): in float64, the
 * input gradient autograd gives equals central finite differences.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNet } from '../../src/models/unet.js';
import { manualSeed, setNumThreads } from '../../src/tensor/index.js';
import { float64, gradcheck, normal } from '../tensor/gradcheck.js';

setNumThreads(2);

for (const [upsample, padding] of [['bilinear', 'same'], ['transpose', 'valid']] as const) {
  test(`UNet ${upsample}/${padding} pad-and-crop on odd input [1,1,5,7] (float64): input gradient equals finite differences`, (t) => {
    manualSeed(4);
    const net = new UNet({ inChannels: 1, classes: 1, depth: 2, baseChannels: 4, batchNorm: false, upsample, padding }).to('float64');
    net.eval();
    const w = float64(normal(35, 9), [1, 1, 5, 7]);
    gradcheck(t, (x) => {
      const logits = net.forward(x);
      assert.deepEqual([...logits.shape], [1, 1, 5, 7]);
      return logits.mul(w).sum();
    }, normal(35, 10), [1, 1, 5, 7]);
    w.dispose();
    net.dispose();
  });
}
