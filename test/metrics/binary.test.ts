import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BinaryMetricAccumulator, binaryMetrics, countBinary } from '../../src/metrics/index.js';
import { assertClose, randomBatch } from './helpers.js';

// one 2x3 image:      probabilities          mask
//                     0.9  0.6  0.4          1 1 1
//                     0.8  0.1  0.75         0 0 1
const probabilities = new Float32Array([0.9, 0.6, 0.4, 0.8, 0.1, 0.75]);
const mask = new Uint8Array([1, 1, 1, 0, 0, 1]);

test('binaryMetrics 1x2x3 at 0.5 and 0.7 equal hand-computed values', () => {
  const result = binaryMetrics(probabilities, mask);
  assert.equal(result.images, 1);
  const [at05, at07] = result.byThreshold;
  assert.equal(at05.threshold, 0.5);
  // 0.5: predicted 1 1 0 / 1 0 1 -> TP 3, FP 1, FN 1, TN 1
  assert.deepEqual(at05.counts, { tp: 3, fp: 1, fn: 1, tn: 1 });
  assertClose({ ...at05.mean }, { dice: 0.75, iou: 0.6, precision: 0.75, recall: 0.75, accuracy: 4 / 6 });
  // 0.7: predicted 1 0 0 / 1 0 1 -> TP 2, FP 1, FN 2, TN 1
  assert.deepEqual(at07.counts, { tp: 2, fp: 1, fn: 2, tn: 1 });
  assertClose({ ...at07.mean }, { dice: 4 / 7, iou: 2 / 5, precision: 2 / 3, recall: 0.5, accuracy: 0.5 });
  assert.deepEqual(result.perImage[0], [at05.mean, at07.mean]);
  assert.deepEqual(at07.pooled, at07.mean);
});

test('a probability equal to the threshold is foreground (p >= t)', () => {
  const [atHalf] = countBinary(new Float64Array([0.5]), new Uint8Array([1]), [0.5]);
  assert.equal(atHalf, 1);
  const counts = countBinary(new Float64Array([0.7, Math.fround(0.7), NaN]), new Uint8Array([1, 1, 1]), [0.7]);
  // float32 0.7 is 0.699999988 < 0.7; NaN is never foreground
  assert.deepEqual([...counts], [1, 0, 2, 0]);
});

test('empty and full masks follow the stated conventions', () => {
  const scores = (p: number[], m: number[]) =>
    binaryMetrics(new Float32Array(p), new Uint8Array(m), { thresholds: [0.5] }).byThreshold[0].mean;
  // both empty: everything is 1
  assertClose({ ...scores([0.1, 0.2], [0, 0]) }, { dice: 1, iou: 1, precision: 1, recall: 1, accuracy: 1 });
  // truth empty, prediction not: every overlap score 0
  assertClose({ ...scores([0.9, 0.2], [0, 0]) }, { dice: 0, iou: 0, precision: 0, recall: 0, accuracy: 0.5 });
  // prediction empty, truth not: every overlap score 0, precision included
  assertClose({ ...scores([0.1, 0.2], [1, 0]) }, { dice: 0, iou: 0, precision: 0, recall: 0, accuracy: 0.5 });
  // all foreground in both: everything is 1 (no TN at all)
  assertClose({ ...scores([0.9, 0.6], [1, 1]) }, { dice: 1, iou: 1, precision: 1, recall: 1, accuracy: 1 });
  // all foreground truth, half predicted
  assertClose({ ...scores([0.9, 0.1], [1, 1]) }, { dice: 2 / 3, iou: 0.5, precision: 1, recall: 0.5, accuracy: 0.5 });
});

test('2x2x3 batch: mean of per-image scores differs from pooled scores', () => {
  const batch = new Float32Array([...probabilities, 0, 0, 0, 0, 0, 0]);
  const masks = new Uint8Array([...mask, 0, 0, 0, 0, 0, 0]);
  const result = binaryMetrics(batch, masks, { images: 2, thresholds: [0.5] });
  const [at05] = result.byThreshold;
  assert.equal(result.images, 2);
  // the empty second image scores 1 everywhere
  assertClose({ ...result.perImage[1][0] }, { dice: 1, iou: 1, precision: 1, recall: 1, accuracy: 1 });
  assertClose({ ...at05.mean }, { dice: 0.875, iou: 0.8, precision: 0.875, recall: 0.875, accuracy: (4 / 6 + 1) / 2 });
  assert.deepEqual(at05.counts, { tp: 3, fp: 1, fn: 1, tn: 7 });
  assertClose({ ...at05.pooled }, { dice: 0.75, iou: 0.6, precision: 0.75, recall: 0.75, accuracy: 10 / 12 });
});

test('0/255 masks count as foreground', () => {
  const result = binaryMetrics(probabilities, Uint8Array.from(mask, (v) => v * 255));
  assert.deepEqual(result.byThreshold[0].counts, { tp: 3, fp: 1, fn: 1, tn: 1 });
});

test('5 thresholds in one pass equal 5 separate passes on 3x17x19', () => {
  const { probabilities: p, masks } = randomBatch(3 * 17 * 19, 7);
  const thresholds = [0.7, 0.1, 0.5, 0.5, 0.3];
  const together = countBinary(p, masks, thresholds, 3);
  for (let image = 0; image < 3; image++) {
    thresholds.forEach((t, k) => {
      const alone = countBinary(p, masks, [t], 3);
      assert.deepEqual([...together.subarray((image * 5 + k) * 4, (image * 5 + k + 1) * 4)], [
        ...alone.subarray(image * 4, image * 4 + 4),
      ]);
      // and against a direct count
      let tp = 0;
      let fp = 0;
      for (let i = image * 323; i < (image + 1) * 323; i++) {
        if (p[i] >= t) masks[i] ? tp++ : fp++;
      }
      assert.equal(alone[image * 4], tp);
      assert.equal(alone[image * 4 + 1], fp);
    });
  }
});

test('the accumulator over two batches equals one call over all images', () => {
  const { probabilities: p, masks } = randomBatch(4 * 8 * 8, 3);
  const whole = binaryMetrics(p, masks, { images: 4, thresholds: [0.4, 0.6] });
  const accumulator = new BinaryMetricAccumulator([0.4, 0.6]);
  accumulator.add(p.subarray(0, 64), masks.subarray(0, 64), 1);
  const perImage = accumulator.add(p.subarray(64), masks.subarray(64), 3);
  assert.deepEqual(perImage, whole.perImage.slice(1));
  const result = accumulator.result();
  assert.equal(result.images, 4);
  result.byThreshold.forEach((r, k) => {
    assert.deepEqual(r.counts, whole.byThreshold[k].counts);
    assertClose({ ...r.mean }, { ...whole.byThreshold[k].mean });
    assertClose({ ...r.pooled }, { ...whole.byThreshold[k].pooled });
  });
  accumulator.reset();
  assert.equal(accumulator.images, 0);
});

test('counts exported by two ranks and summed give the metrics of all images', () => {
  const { probabilities: p, masks } = randomBatch(6 * 5 * 5, 11);
  const whole = new BinaryMetricAccumulator();
  whole.add(p, masks, 6);
  const rank0 = new BinaryMetricAccumulator();
  const rank1 = new BinaryMetricAccumulator();
  rank0.add(p.subarray(0, 50), masks.subarray(0, 50), 2);
  rank1.add(p.subarray(50), masks.subarray(50), 4);
  const summed = rank0.counts();
  rank1.counts().forEach((v, i) => (summed[i] += v));
  assert.equal(summed.length, 1 + 9 * 2);
  const merged = new BinaryMetricAccumulator([0.5, 0.7], summed).result();
  const expected = whole.result();
  assert.equal(merged.images, 6);
  merged.byThreshold.forEach((r, k) => {
    assert.deepEqual(r.counts, expected.byThreshold[k].counts);
    assertClose({ ...r.mean }, { ...expected.byThreshold[k].mean });
  });
});

test('an accumulator with no images reports NaN means', () => {
  const { byThreshold } = new BinaryMetricAccumulator([0.5]).result();
  assert.ok(Number.isNaN(byThreshold[0].mean.dice));
  assert.deepEqual(byThreshold[0].counts, { tp: 0, fp: 0, fn: 0, tn: 0 });
});

test('bad layouts, thresholds and counts are errors that say what is wrong', () => {
  assert.throws(() => binaryMetrics(new Float32Array(6), new Uint8Array(5)), {
    message: 'countBinary: predictions have 6 values but masks have 5',
  });
  assert.throws(() => binaryMetrics(new Float32Array(6), new Uint8Array(6), { images: 4 }), {
    message: 'countBinary: 6 values cannot be split into 4 images of equal size (N x H x W)',
  });
  assert.throws(() => binaryMetrics(new Float32Array(1), new Uint8Array(1), { thresholds: [] }), /at least one threshold/);
  assert.throws(() => new BinaryMetricAccumulator([NaN]), /threshold NaN is not a finite number/);
  assert.throws(() => new BinaryMetricAccumulator([0.5], new Float64Array(3)), {
    message: 'BinaryMetricAccumulator: counts of length 3 do not fit 1 thresholds (expected 10)',
  });
});
