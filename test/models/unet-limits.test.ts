import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkUNetOptions, DEFAULT_UNET_OPTIONS, UNet, UNET_LIMITS } from '../../src/models/unet.js';
import { memory } from '../../src/tensor/runtime.js';

test('absurd U-Net widths and depths are refused before any tensor is made', () => {
  const before = memory().numTensors;
  const absurd: [object, RegExp][] = [
    [{ depth: 12, baseChannels: 1 }, /depth must be at most 8, got 12/],
    [{ depth: 1000 }, /depth must be at most 8/],
    [{ depth: 6, baseChannels: 128 }, /widest level \(baseChannels \* 2\^depth = 128 \* 2\^6 = 8192 channels\) must be at most 4096/],
    [{ baseChannels: 2 ** 40 }, /widest level/],
    [{ inChannels: 5000 }, /inChannels must be at most 4096, got 5000/],
    [{ classes: 1e9 }, /classes must be at most 4096/],
    [{ depth: -1 }, /depth must be a positive integer, got -1/],
  ];
  for (const [options, reason] of absurd) {
    assert.throws(() => new UNet(options), reason, JSON.stringify(options));
  }
  assert.throws(() => checkUNetOptions('deep' as never), /options must be an object/);
  assert.equal(memory().numTensors, before, 'nothing was built');
});

test('the default U-Net and the widest allowed one pass the limits', () => {
  assert.deepEqual(checkUNetOptions({}), DEFAULT_UNET_OPTIONS);
  const widest = checkUNetOptions({ depth: UNET_LIMITS.depth, baseChannels: UNET_LIMITS.widestChannels / 2 ** UNET_LIMITS.depth });
  assert.equal(widest.baseChannels * 2 ** widest.depth, UNET_LIMITS.widestChannels);
});
