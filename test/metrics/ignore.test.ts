/**
 * Metrics on partially annotated masks: unannotated pixels (IGNORE_LABEL)
 * count for nothing. Confusion counts against PyTorch's bincount of the
 * labelled pixels (tools/make_ignore_fixtures.py); counts are integers, so
 * they must be equal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { IGNORE_LABEL } from '../../src/data/ignore.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { MulticlassMetricAccumulator, countBinary, multiclassMetrics } from '../../src/metrics/index.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/losses/ignore.safetensors', import.meta.url));
const { tensors } = await loadSafetensors(FIXTURE);
const floats = (key: string) => new Float32Array(tensors[key].data.slice().buffer);
const ints = (key: string) => Array.from(new BigInt64Array(tensors[key].data.slice().buffer), Number);

/** argmax over the class axis of logits [N, C, H, W]: N x H x W class indices. */
function argmax(logits: Float32Array, [n, c, h, w]: number[]): Uint8Array {
  const out = new Uint8Array(n * h * w);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h * w; i++) {
      let best = 0;
      for (let k = 1; k < c; k++) if (logits[(b * c + k) * h * w + i] > logits[(b * c + best) * h * w + i]) best = k;
      out[b * h * w + i] = best;
    }
  }
  return out;
}

test('multi-class confusion of [2, 6, 7] masks with unannotated pixels equals PyTorch bincount of the labelled ones', () => {
  const predicted = argmax(floats('multi.logits'), tensors['multi.logits'].shape);
  const masks = Uint8Array.from(ints('multi.target'));
  assert.ok(masks.includes(IGNORE_LABEL), 'the fixture has unannotated pixels');
  const accumulator = new MulticlassMetricAccumulator(3);
  accumulator.add(predicted, masks, 2);
  assert.deepEqual(Array.from(accumulator.counts().subarray(1, 10)), ints('metrics.confusion'));
  const confusion = ints('metrics.confusion');
  const labelled = masks.filter((v) => v !== IGNORE_LABEL).length;
  assert.equal(confusion.reduce((s, v) => s + v, 0), labelled);
  assert.equal(accumulator.result().accuracy, (confusion[0] + confusion[4] + confusion[8]) / labelled);
});

test('an ignored pixel changes nothing whatever is predicted there', () => {
  const masks = Uint8Array.from([1, 1, IGNORE_LABEL, 0]);
  const a = multiclassMetrics(Uint8Array.from([1, 0, 0, 0]), masks, { classes: 2 });
  const b = multiclassMetrics(Uint8Array.from([1, 0, 1, 0]), masks, { classes: 2 });
  assert.deepEqual(a.perClass, b.perClass);
  assert.equal(a.accuracy, 2 / 3);
});

test('binary counts at 0.5 over labelled pixels of each image equal PyTorch\'s', () => {
  const probabilities = Float32Array.from(floats('binary.logits'), (x) => 1 / (1 + Math.exp(-x)));
  const mask = floats('binary.mask');
  const ignore = Uint8Array.from(mask, (v) => (v === IGNORE_LABEL ? 1 : 0));
  const truth = Uint8Array.from(mask, (v) => (v === 1 ? 1 : 0));
  const counts = countBinary(probabilities, truth, [0.5], 2, ignore);
  assert.deepEqual(Array.from(counts), ints('metrics.binary_counts'));
  // without the ignore mask the unannotated pixels would count as background
  const all = countBinary(probabilities, truth, [0.5], 2);
  assert.notDeepEqual(Array.from(all), Array.from(counts));
  assert.throws(() => countBinary(probabilities, truth, [0.5], 2, new Uint8Array(3)), /ignore mask of 3 pixels for masks of 84/);
});
