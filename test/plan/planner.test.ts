/**
 * The planner's decisions on synthetic fingerprints and machines, with step
 * times injected: no addon, no clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataFingerprint } from '../../src/plan/fingerprint.js';
import type { MachineInfo } from '../../src/plan/machine.js';
import { CPU_PROBE_PATCH, DEFAULT_MINUTES, MIN_STEPS, makePlan, planOptions, receptiveField, type StepCandidate } from '../../src/plan/planner.js';

function fingerprint(over: Partial<DataFingerprint> = {}): DataFingerprint {
  return {
    images: 30,
    width: { min: 512, median: 512, max: 512 },
    height: { min: 512, median: 512, max: 512 },
    channels: 1,
    mean: [0.5],
    std: [0.2],
    statsImages: 30,
    classes: 2,
    classFractions: [0.5, 0.5],
    foregroundFraction: 0.5,
    emptyMasks: 0,
    objects: { count: 300, medianSize: 40, p90Size: 100, maxSize: 200 },
    mpp: null,
    ...over,
  };
}

const cpu = (bf16: Partial<MachineInfo['bf16']> = {}): MachineInfo => ({
  device: 'cpu',
  kind: 'cpu',
  gpus: 0,
  cores: 2,
  cpuModel: 'test CPU',
  bf16: { avx512bf16: false, amx: false, ...bf16 },
  memoryBytes: 8 * 2 ** 30,
});

const gpu: MachineInfo = { ...cpu(), device: 'cuda:0', kind: 'cuda', gpus: 1, cores: 16 };

/**
 * A step-time model: seconds per image proportional to pixels and to width
 * squared (convolution FLOPs), divided by `bf16Speedup` under bf16; records
 * every candidate asked for.
 */
function fakeMeasure(secondsPerImageAt32: number, bf16Speedup = 1) {
  const asked: StepCandidate[] = [];
  const measure = async (c: StepCandidate) => {
    asked.push(c);
    const perImage = secondsPerImageAt32 * (c.baseChannels / 32) ** 2 * ((c.patch / 256) ** 2) / (c.amp ? bf16Speedup : 1);
    return { secondsPerImage: perImage, seconds: 3 * perImage * c.batchSize };
  };
  return { measure, asked };
}

test('plan for 1-channel 512x512 data on a CPU without bf16: fp32, rigid augmentation, the stated default budget', async () => {
  const { measure, asked } = fakeMeasure(0.1);
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure });
  const o = planOptions(plan);
  assert.equal(o.maxMinutes, DEFAULT_MINUTES);
  assert.equal(o.amp, false);
  assert.equal(o.channelsLast, false);
  assert.match(plan.choices.amp.why, /neither AMX nor AVX512-BF16/);
  assert.ok(asked.every((c) => !c.amp), 'bf16 is not even measured without bf16 instructions');
  assert.equal(o.preset, 'rigid');
  assert.equal(o.optimizer, 'adam');
  assert.equal(o.lr, 1e-3);
  assert.equal(o.schedule, 'cosine');
  assert.equal(o.batchSize, 4);
  assert.equal(o.workers, 1);
  // 100 px structures: 4 levels (200 px) see them; patches twice their size, at least 256
  assert.equal(o.depth, 4);
  assert.equal(o.patch, 256);
  // every choice says why, in one line
  for (const [key, choice] of Object.entries(plan.choices)) {
    assert.equal(choice.source, 'plan', key);
    assert.ok(choice.why.length > 10 && !choice.why.includes('\n'), `${key}: ${choice.why}`);
  }
});

test("a CPU is measured at a small patch with the run's batch and scaled by pixels", async () => {
  const { measure, asked } = fakeMeasure(0.1);
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure });
  assert.ok(asked.every((c) => c.patch === CPU_PROBE_PATCH && c.batchSize === plan.choices.batchSize.value && c.batchSize === 4));
  // 0.1 s per 256 px image at base 32 (the fake model), measured at 128 px and scaled back
  const width = plan.choices.baseChannels.value;
  assert.ok(Math.abs(plan.estimate!.imagesPerSecond - 1 / (0.1 * (width / 32) ** 2)) < 1e-9);
});

test('bf16 + channels-last where they measure faster (AVX512-BF16), fp32 where they do not', async () => {
  const faster = await makePlan({ fingerprint: fingerprint(), machine: cpu({ avx512bf16: true }), validationImages: 5, measure: fakeMeasure(0.1, 1.8).measure });
  assert.equal(faster.choices.amp.value, true);
  assert.equal(faster.choices.channelsLast.value, true);
  assert.match(faster.choices.amp.why, /1\.80x the fp32 rate/);

  const slower = await makePlan({ fingerprint: fingerprint(), machine: cpu({ avx512bf16: true }), validationImages: 5, measure: fakeMeasure(0.1, 1.02).measure });
  assert.equal(slower.choices.amp.value, false);
  assert.equal(slower.choices.channelsLast.value, false);
  assert.match(slower.choices.amp.why, /1\.02x/);
});

test('width: base 32 when it gets enough steps in the budget, base 16 when it does not', async () => {
  // 0.05 s per image, batch 4: 0.2 s per step, ~2700 steps in 10 minutes
  const quick = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: fakeMeasure(0.05).measure });
  assert.equal(quick.choices.baseChannels.value, 32);
  assert.ok(quick.estimate!.steps >= MIN_STEPS);
  // 0.5 s per image: too slow at 32, and base 16 (a quarter of the time) is measured and chosen
  const slow = fakeMeasure(0.5);
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: slow.measure });
  assert.equal(plan.choices.baseChannels.value, 16);
  assert.deepEqual(slow.asked.map((c) => c.baseChannels), [32, 16]);
  assert.match(plan.choices.baseChannels.why, /narrowest tried|base 32 would get too few/);
  // a longer budget affords base 32 again
  const long = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: fakeMeasure(0.5).measure, given: { maxMinutes: 60 } });
  assert.equal(long.choices.baseChannels.value, 32);
  assert.equal(long.choices.maxMinutes.source, 'given');
});

test('large RGB images with large structures, kept at full resolution: he preset, a fifth level, patches within the smallest image', async () => {
  const fp = fingerprint({
    images: 85,
    channels: 3,
    width: { min: 567, median: 775, max: 775 },
    height: { min: 430, median: 522, max: 522 },
    objects: { count: 700, medianSize: 150, p90Size: 390, maxSize: 775 },
  });
  const plan = await makePlan({ fingerprint: fp, machine: cpu(), validationImages: 17, measure: fakeMeasure(0.05).measure, given: { downsample: 1 } });
  const o = planOptions(plan);
  assert.equal(o.preset, 'he');
  assert.equal(o.depth, 5);
  assert.ok(receptiveField(5) >= 390);
  // twice 390 is beyond the 430 px side: the side rounded down to a multiple of 32
  assert.equal(o.patch, 416);
  assert.match(plan.choices.patch.why, /smallest image side \(430 px\)/);
});

test('small images: the patch is the image side, a multiple of 2^depth', async () => {
  const fp = fingerprint({ width: { min: 64, median: 64, max: 64 }, height: { min: 64, median: 64, max: 64 }, objects: { count: 20, medianSize: 10, p90Size: 20, maxSize: 30 } });
  const plan = await makePlan({ fingerprint: fp, machine: cpu(), validationImages: 1, measure: fakeMeasure(0.01).measure });
  assert.equal(plan.choices.patch.value, 64);
  assert.equal(plan.choices.depth.value, 4);
});

test('rare foreground: patches are placed on it', async () => {
  const rare = await makePlan({ fingerprint: fingerprint({ foregroundFraction: 0.01, classFractions: [0.99, 0.01] }), machine: cpu(), validationImages: 5, measure: null });
  assert.equal(rare.choices.foregroundOversample.value, 0.5);
  assert.match(rare.choices.foregroundOversample.why, /rare \(1\.0% of pixels/);
  const empty = await makePlan({ fingerprint: fingerprint({ emptyMasks: 20 }), machine: cpu(), validationImages: 5, measure: null });
  assert.equal(empty.choices.foregroundOversample.value, 0.5);
  const common = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: null });
  assert.equal(common.choices.foregroundOversample.value, 0);
});

test('GPU: bigger batch, more loader threads, wider net measured at the planned patch and batch', async () => {
  const { measure, asked } = fakeMeasure(0.002, 2);
  const plan = await makePlan({ fingerprint: fingerprint(), machine: gpu, validationImages: 5, measure });
  const o = planOptions(plan);
  assert.equal(o.batchSize, 8);
  assert.ok(o.workers > 2);
  assert.equal(o.amp, true);
  assert.equal(o.baseChannels, 64);
  assert.ok(asked.every((c) => c.patch === o.patch && c.batchSize === 8));
});

test('without a measurement the plan is deterministic and safe: fp32, base 32, every epoch validated', async () => {
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu({ amx: true }), validationImages: 5, measure: null });
  const o = planOptions(plan);
  assert.equal(o.amp, false);
  assert.equal(o.baseChannels, 32);
  assert.equal(o.valEvery, 1);
  assert.equal(plan.estimate, null);
  assert.deepEqual(plan.measurements, []);
});

test('given options are kept, said to be given, and the rest is planned around them', async () => {
  const { measure, asked } = fakeMeasure(0.1, 2);
  const plan = await makePlan({
    fingerprint: fingerprint(),
    machine: cpu({ avx512bf16: true }),
    validationImages: 5,
    measure,
    given: { baseChannels: 48, amp: false, optimizer: 'sgd', patch: 320 },
  });
  const o = planOptions(plan);
  assert.equal(o.baseChannels, 48);
  assert.equal(o.optimizer, 'sgd');
  assert.equal(o.patch, 320);
  // the precision given decides channels-last too; nothing bf16 is measured
  assert.equal(o.amp, false);
  assert.equal(o.channelsLast, false);
  assert.ok(asked.every((c) => !c.amp && c.baseChannels === 48));
  // SGD without a given rate gets the SGD rate
  assert.equal(o.lr, 5e-3);
  for (const key of ['baseChannels', 'amp', 'optimizer', 'patch'] as const) assert.equal(plan.choices[key].source, 'given');
  assert.equal(plan.choices.channelsLast.source, 'plan');
});

test('--epochs without a budget: no budget is imposed and the epochs stand', async () => {
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: fakeMeasure(0.05).measure, given: { epochs: 7 } });
  assert.equal(plan.choices.maxMinutes.value, null);
  assert.equal(plan.choices.epochs.value, 7);
  assert.equal(plan.estimate!.epochsInBudget, null);
  assert.equal(plan.estimate!.steps, 7 * Math.ceil(25 / 4));
});

test('post-processing is chosen after training for binary masks with validation images, and only then', async () => {
  const binary = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: null });
  assert.equal(binary.choices.tune.value, true);
  assert.match(binary.choices.tune.why, /the 5 validation images prefer/);
  const unvalidated = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 0, measure: null });
  assert.equal(unvalidated.choices.tune.value, false);
  const classes = await makePlan({ fingerprint: fingerprint({ classes: 3, classFractions: [0.5, 0.3, 0.2] }), machine: cpu(), validationImages: 5, measure: null });
  assert.deepEqual([classes.choices.tune.value, classes.choices.tune.why], [false, 'no post-processing: it is for binary masks, and these have 2 foreground classes']);
  const off = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: null, given: { tune: false } });
  assert.deepEqual([off.choices.tune.value, off.choices.tune.source], [false, 'given']);
});

test('a budget sets a generous epoch cap, and validation and checkpoint cadences follow the epoch time', async () => {
  // 0.05 s per image: a 25-image epoch takes 1.25 s; validating 5 whole 512 px images (4 patches each) about 0.33 s
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: fakeMeasure(0.05).measure, given: { maxMinutes: 20 } });
  const o = planOptions(plan);
  const e = plan.estimate!;
  assert.ok(Math.abs(e.epochSeconds - 1.25) < 1e-9);
  assert.ok(Math.abs(e.validationSeconds - (5 * 4 * 0.05) / 3) < 1e-9);
  assert.equal(o.valEvery, Math.ceil(e.validationSeconds / (0.1 * e.epochSeconds)));
  assert.ok(o.epochs >= 2 * e.epochsInBudget!, 'the budget, not the epoch count, ends the run');
  assert.equal(o.checkpointEvery, 120);
});

test('a width the probe had no time for is estimated from a measured one by the square of the width', async () => {
  const asked: StepCandidate[] = [];
  // one measurement eats the probe's time: 0.4 s per 128 px image at base 32, 1.6 s per 256 px patch
  const measure = async (c: StepCandidate) => {
    asked.push(c);
    return { secondsPerImage: 0.4, seconds: 25 };
  };
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure });
  assert.equal(asked.length, 1);
  // base 32: 1.6 s per image, ~85 steps in 10 minutes; base 16 estimated at 0.4 s, ~340 steps: still too few, the narrowest
  assert.equal(plan.choices.baseChannels.value, 16);
  assert.match(plan.choices.baseChannels.why, /400 ms per image \(estimated from a measured width\)/);
});

test('large structures on a slow machine, kept at full resolution: the patch shrinks to 256 before the run gets too few steps', async () => {
  const fp = fingerprint({ channels: 3, objects: { count: 700, medianSize: 150, p90Size: 390, maxSize: 775 } });
  const full = { downsample: 1 };
  // 0.2 s per 256 px image at base 32: 512 px patches (4x the pixels) get too few steps even at base 16
  const slow = await makePlan({ fingerprint: fp, machine: cpu(), validationImages: 5, measure: fakeMeasure(0.2).measure, given: full });
  assert.equal(slow.choices.patch.value, 256);
  assert.match(slow.choices.patch.why, /less than the 512 px the structures want/);
  // a fast machine keeps the 512 px patch and base 32
  const fast = await makePlan({ fingerprint: fp, machine: cpu(), validationImages: 5, measure: fakeMeasure(0.01).measure, given: full });
  assert.equal(fast.choices.patch.value, 512);
  assert.equal(fast.choices.baseChannels.value, 32);
  // a given patch is never shrunk
  const given = await makePlan({ fingerprint: fp, machine: cpu(), validationImages: 5, measure: fakeMeasure(0.2).measure, given: { ...full, patch: 512 } });
  assert.equal(given.choices.patch.value, 512);
});

test('the working resolution: structures wider than 4 levels see are trained at 1/2 or 1/4 on a CPU, where the images allow', async () => {
  // colorectal glands at 20x: 775x522 images, 390 px structures (90th percentile), 150 px median
  const glands = fingerprint({
    images: 85, channels: 3,
    width: { min: 567, median: 775, max: 775 }, height: { min: 522, median: 522, max: 522 },
    objects: { count: 700, medianSize: 150, p90Size: 390, maxSize: 775 },
  });
  const plan = await makePlan({ fingerprint: glands, machine: cpu(), validationImages: 9, measure: fakeMeasure(0.05).measure });
  const o = planOptions(plan);
  assert.equal(o.downsample, 2);
  assert.match(plan.choices.downsample.why, /^1\/2 resolution: the 390 px structures \(90th percentile\) become 195 px, which 4 levels see whole/);
  // the rest is planned at the working resolution: 195 px structures need 4 levels, and the patch is the 261 px side rounded down to 16
  assert.equal(o.depth, 4);
  assert.equal(o.patch, 256);
  // the stored fingerprint stays the data's own
  assert.equal(plan.fingerprint.objects.p90Size, 390);
  // structures that 4 levels see at full resolution: full resolution (the membrane set's cells)
  assert.equal(planOptions(await makePlan({ fingerprint: fingerprint(), machine: cpu(), validationImages: 5, measure: null })).downsample, 1);
  // a GPU trains at full resolution
  const onGpu = await makePlan({ fingerprint: glands, machine: gpu, validationImages: 9, measure: null });
  assert.equal(onGpu.choices.downsample.value, 1);
  assert.match(onGpu.choices.downsample.why, /a GPU has the steps/);
  // images whose half would be under 128 px, or structures that would blur away: full resolution
  const small = fingerprint({ width: { min: 250, median: 775, max: 775 }, objects: { count: 700, medianSize: 150, p90Size: 390, maxSize: 775 } });
  assert.equal((await makePlan({ fingerprint: small, machine: cpu(), validationImages: 5, measure: null })).choices.downsample.value, 1);
  const thin = fingerprint({ width: { min: 2000, median: 2000, max: 2000 }, height: { min: 2000, median: 2000, max: 2000 }, objects: { count: 700, medianSize: 50, p90Size: 390, maxSize: 775 } });
  assert.match((await makePlan({ fingerprint: thin, machine: cpu(), validationImages: 5, measure: null })).choices.downsample.why, /median structure \(50 px\) would be too small/);
  // very large structures in large images: 1/4, the first factor at which 4 levels see them
  const huge = fingerprint({ width: { min: 2048, median: 2048, max: 2048 }, height: { min: 2048, median: 2048, max: 2048 }, objects: { count: 100, medianSize: 400, p90Size: 700, maxSize: 1500 } });
  assert.equal((await makePlan({ fingerprint: huge, machine: cpu(), validationImages: 5, measure: null })).choices.downsample.value, 4);
  // a given factor stands
  const given = await makePlan({ fingerprint: glands, machine: cpu(), validationImages: 9, measure: null, given: { downsample: 1 } });
  assert.deepEqual([given.choices.downsample.value, given.choices.downsample.source, given.choices.depth.value], [1, 'given', 5]);
});

test('few epochs in the budget: validation often enough to pick a best epoch among several', async () => {
  // 10 training and 20 validation images, 5 s per image at base 16: 50 s epochs, 12 fit in 10 minutes;
  // a validation (~133 s) would want every 27th epoch to stay under 10% of the run, but then none would happen
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu(), trainImages: 10, validationImages: 20, measure: fakeMeasure(20).measure });
  assert.equal(plan.choices.baseChannels.value, 16);
  assert.ok(Math.abs(plan.estimate!.epochSeconds - 50) < 1e-9);
  assert.equal(plan.choices.valEvery.value, 2);
  assert.match(plan.choices.valEvery.why, /only ~12 epochs fit, and the best is picked among at least 5 validations/);
});

test('the probe stops asking once its time is spent', async () => {
  const asked: StepCandidate[] = [];
  const measure = async (c: StepCandidate) => {
    asked.push(c);
    return { secondsPerImage: 1, seconds: 25 };
  };
  const plan = await makePlan({ fingerprint: fingerprint(), machine: cpu({ avx512bf16: true }), validationImages: 5, measure, probeSeconds: 20 });
  assert.equal(asked.length, 1);
  // fp32 alone was measured: the plan stays fp32 and says why bfloat16 was not measured
  assert.equal(plan.choices.amp.value, false);
  assert.match(plan.choices.amp.why, /probe's 20 s were spent before bfloat16 could be measured/);
});
