import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThresholdSweep, binaryMetrics, sweepThresholds } from '../../src/metrics/index.js';
import { randomBatch } from './helpers.js';

test('the default sweep is 0.05 .. 0.95 in steps of 0.05, equal to the decimal literals', () => {
  const { thresholds } = new ThresholdSweep();
  assert.equal(thresholds.length, 19);
  thresholds.forEach((t, i) => assert.equal(t, Number(((i + 1) * 0.05).toFixed(2))));
});

test('sweep Dice and IoU on 4x16x16 equal direct computation at every threshold', () => {
  const { probabilities, masks } = randomBatch(4 * 16 * 16, 5);
  const sweep = sweepThresholds(probabilities, masks, { images: 4 });
  const direct = binaryMetrics(probabilities, masks, { images: 4, thresholds: sweep.thresholds });
  assert.equal(sweep.images, 4);
  direct.byThreshold.forEach((d, i) => {
    assert.ok(Math.abs(sweep.dice[i] - d.mean.dice) < 1e-12, `mean Dice at ${d.threshold}`);
    assert.ok(Math.abs(sweep.iou[i] - d.mean.iou) < 1e-12, `mean IoU at ${d.threshold}`);
    assert.equal(sweep.pooledDice[i], d.pooled.dice);
    assert.equal(sweep.pooledIou[i], d.pooled.iou);
  });
  const bestIndex = sweep.dice.indexOf(Math.max(...sweep.dice));
  assert.deepEqual(sweep.best, { threshold: sweep.thresholds[bestIndex], dice: sweep.dice[bestIndex], iou: sweep.iou[bestIndex] });
});

test('probabilities exactly on a grid threshold (float64) are binned like p >= t', () => {
  const probabilities = new Float64Array([0.35, 0.3, 0.7, Math.fround(0.7), 0.95, 1, 0, NaN]);
  const masks = new Uint8Array([1, 0, 1, 1, 0, 1, 1, 0]);
  const sweep = sweepThresholds(probabilities, masks);
  const direct = binaryMetrics(probabilities, masks, { thresholds: sweep.thresholds });
  direct.byThreshold.forEach((d, i) => assert.equal(sweep.dice[i], d.mean.dice, `Dice at ${d.threshold}`));
});

test('the best threshold is the lowest of those with the highest mean Dice', () => {
  // foreground at 0.8, background at 0.3: every threshold in (0.3, 0.8] is perfect
  const probabilities = new Float32Array([0.8, 0.8, 0.3, 0.3]);
  const masks = new Uint8Array([1, 1, 0, 0]);
  const { best, dice } = sweepThresholds(probabilities, masks, { from: 0.1, to: 0.9, step: 0.1 });
  assert.deepEqual(best, { threshold: 0.4, dice: 1, iou: 1 });
  assert.equal(dice[2], 2 / 3); // at 0.3 both background pixels become foreground
  assert.equal(dice[8], 0); // at 0.9 nothing is foreground
});

test('sweep counts from two ranks summed equal one sweep over all images', () => {
  const { probabilities, masks } = randomBatch(5 * 10 * 10, 9);
  const whole = sweepThresholds(probabilities, masks, { images: 5, bins: 100 });
  const a = new ThresholdSweep({ bins: 100 });
  const b = new ThresholdSweep({ bins: 100 });
  a.add(probabilities.subarray(0, 200), masks.subarray(0, 200), 2);
  b.add(probabilities.subarray(200), masks.subarray(200), 3);
  const summed = a.counts();
  b.counts().forEach((v, i) => (summed[i] += v));
  const merged = new ThresholdSweep({ bins: 100 }, summed).result();
  assert.deepEqual(merged.pooledDice, whole.pooledDice);
  merged.dice.forEach((d, i) => assert.ok(Math.abs(d - whole.dice[i]) < 1e-12));
  assert.equal(merged.best.threshold, whole.best.threshold);
});

test('an empty sweep reports NaN and no best threshold', () => {
  const { best, dice } = new ThresholdSweep().result();
  assert.ok(Number.isNaN(best.threshold) && Number.isNaN(dice[0]));
});

test('sweep options off the bin grid are errors', () => {
  assert.throws(() => new ThresholdSweep({ step: 0.0005 }), /threshold 0\.0505 is not a multiple of 1\/1000/);
  assert.throws(() => new ThresholdSweep({ from: 0 }), /need 0 < from <= to <= 1/);
  assert.throws(() => new ThresholdSweep({ bins: 0 }), /bins must be a positive integer/);
});

test('ignored (unannotated) pixels count for nothing: the sweep equals direct computation over the labelled pixels', () => {
  const { probabilities, masks } = randomBatch(3 * 16 * 16, 9);
  const ignore = Uint8Array.from(masks, (_, i) => (i % 7 === 0 || (i > 256 && i < 300) ? 1 : 0));
  const sweep = new ThresholdSweep();
  sweep.add(probabilities, masks, 3, ignore);
  const result = sweep.result();
  const direct = binaryMetrics(probabilities, masks, { images: 3, thresholds: result.thresholds, ignore });
  direct.byThreshold.forEach((d, i) => {
    assert.ok(Math.abs(result.dice[i] - d.mean.dice) < 1e-12, `mean Dice at ${d.threshold}`);
    assert.equal(result.pooledDice[i], d.pooled.dice);
  });
  // and it differs from counting them as background, which this data would notice
  assert.notDeepEqual(result.dice, sweepThresholds(probabilities, masks, { images: 3 }).dice);
  assert.throws(() => sweep.add(probabilities, masks, 3, ignore.subarray(1)), /ignore mask of 767 pixels for masks of 768/);
});
