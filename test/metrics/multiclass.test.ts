import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MulticlassMetricAccumulator, multiclassMetrics } from '../../src/metrics/index.js';
import { assertClose } from './helpers.js';

// one 2x3 image, 3 classes:   truth      predicted
//                             0 1 1      0 1 2
//                             2 2 0      2 0 0
const truth = new Uint8Array([0, 1, 1, 2, 2, 0]);
const predicted = new Uint8Array([0, 1, 2, 2, 0, 0]);

test('multiclassMetrics 1x2x3 with 3 classes equals hand-computed values', () => {
  const result = multiclassMetrics(predicted, truth, { classes: 3 });
  // class 0: TP 2, FP 1, FN 0; class 1: TP 1, FP 0, FN 1; class 2: TP 1, FP 1, FN 1
  const expected = [
    { dice: 0.8, iou: 2 / 3 },
    { dice: 2 / 3, iou: 0.5 },
    { dice: 0.5, iou: 1 / 3 },
  ];
  result.perClass.forEach((s, c) => assertClose({ ...s }, expected[c]));
  result.pooledPerClass.forEach((s, c) => assertClose({ ...s }, expected[c]));
  assertClose({ ...result.meanForeground }, { dice: 7 / 12, iou: 5 / 12 });
  assert.equal(result.accuracy, 4 / 6);
  assert.deepEqual(result.perImage, [result.pooledPerClass]);
});

test('a class absent from prediction and truth of an image scores 1 on it (2x2x3 batch)', () => {
  const result = multiclassMetrics(new Uint8Array([...predicted, 0, 0, 0, 0, 0, 0]), new Uint8Array([...truth, 0, 0, 0, 0, 0, 0]), {
    classes: 3,
    images: 2,
  });
  assert.deepEqual(result.perImage[1], [
    { dice: 1, iou: 1 },
    { dice: 1, iou: 1 },
    { dice: 1, iou: 1 },
  ]);
  assertClose({ ...result.perClass[1] }, { dice: (2 / 3 + 1) / 2, iou: 0.75 });
  // pooled scores ignore the empty image for the foreground classes
  assertClose({ ...result.pooledPerClass[1] }, { dice: 2 / 3, iou: 0.5 });
  assert.equal(result.accuracy, 10 / 12);
});

test('all-foreground masks predicted exactly score 1 for every class', () => {
  const all = new Uint8Array([1, 1, 1, 1]);
  const result = multiclassMetrics(all, all, { classes: 2 });
  assert.deepEqual(result.perClass, [
    { dice: 1, iou: 1 },
    { dice: 1, iou: 1 },
  ]);
  assert.deepEqual(result.meanForeground, { dice: 1, iou: 1 });
});

test('multi-class counts from two ranks summed give the metrics of all images', () => {
  const whole = multiclassMetrics(new Uint8Array([...predicted, ...truth]), new Uint8Array([...truth, ...truth]), {
    classes: 3,
    images: 2,
  });
  const a = new MulticlassMetricAccumulator(3);
  const b = new MulticlassMetricAccumulator(3);
  a.add(predicted, truth);
  b.add(truth, truth);
  const summed = a.counts();
  b.counts().forEach((v, i) => (summed[i] += v));
  const { perImage, ...expected } = whole;
  assert.deepEqual(new MulticlassMetricAccumulator(3, summed).result(), expected);
});

test('class indices out of range are errors naming the image and pixel', () => {
  assert.throws(() => multiclassMetrics(new Uint8Array([0, 0, 0, 0]), new Uint8Array([0, 0, 0, 3]), { classes: 3, images: 2 }), {
    message: 'MulticlassMetricAccumulator: mask value 3 at image 1, pixel 1 is not a class index below 3',
  });
  assert.throws(() => new MulticlassMetricAccumulator(1), /classes must be an integer in 2\.\.256/);
});
