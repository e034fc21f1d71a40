/**
 * The `patho` command end to end, as a user runs it: child processes of
 * bin/patho.js in a temporary folder holding a 4-image, 64x64 subset of the
 * bundled membrane data. Train, eval, predict and info must succeed and write
 * what they promise; every bad input must end with its message and exit code
 * 2, without a stack trace.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { downsamplePlanar, upsamplePlanar } from '../../src/data/scale.js';
import { readImageForInference } from '../../src/infer/image.js';
import { loadTrainedNet } from '../../src/infer/trained.js';
import { UNet } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { noGrad } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { webModel } from '../../src/web/model.js';
import { expectInputError, runPatho, writeMembraneSubset } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-e2e-'));
const data = join(dir, 'data');
const out = join(dir, 'run');
const model = join(out, 'model.pt');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `patho ...args` in the temporary folder. */
const patho = (...args: string[]) => runPatho(dir, ...args);

/** Pixel values, size and channel count of a PNG as stored (not as sharp expands it). */
async function png(path: string): Promise<{ width: number; height: number; channels: number; values: Set<number> }> {
  const { width, height, channels } = await sharp(path).metadata();
  const pixels = await sharp(path).raw().toBuffer();
  return { width: width!, height: height!, channels: channels!, values: new Set(pixels) };
}

/** A gray 8-bit PNG from raw pixels (sharp writes RGB unless told b-w). */
function writeGray(path: string, pixels: Uint8Array, size: number): Promise<unknown> {
  return sharp(pixels, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}

before(async () => {
  await writeMembraneSubset(data, ['0', '1', '2', '3']);
  const mask = await png(join(data, 'masks', '0.png'));
  assert.equal(mask.channels, 1, 'the subset masks are one-channel gray');
  assert.deepEqual([...mask.values].sort((a, b) => a - b), [0, 255]);
});

// --no-plan: these runs test the fixed behaviour of the options (test/plan/cli.test.ts tests the planned run)
const tiny = ['--base-channels', '2', '--depth', '2', '--patch', '0', '--workers', '0', '--threads', '1', '--batch-size', '2', '--seed', '1', '--no-plan'];

test('train: 2 epochs of a tiny U-Net write model.pt, last.pt and a 2-line log, and print the best epoch', () => {
  const result = patho('train', '--data', 'data', '--out', 'run', '--epochs', '2', '--val-split', '0.25', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /best epoch [12]: Dice@0\.5 \d\.\d{4}, Dice@0\.7 \d\.\d{4}.*; 2 epochs in .* min; model at run[/\\]model\.pt/);
  assert.match(result.stderr, /patho train: 3 training images from data, U-Net depth 2 base 2/);
  assert.ok(existsSync(model) && existsSync(join(out, 'last.pt')));
  const log = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(log.map((r) => r.epoch), [1, 2]);
  for (const record of log) {
    assert.ok(Number.isFinite(record.trainLoss) && Number.isFinite(record.valLoss), JSON.stringify(record));
    assert.deepEqual(Object.keys(record.dice), ['0.5', '0.7']);
    // membrane masks: each validation also gives ISBI 2012's region scores
    assert.deepEqual(Object.keys(record.objects), ['vRand', 'vInfo'], JSON.stringify(record));
    for (const score of Object.values(record.objects) as number[]) assert.ok(score >= 0 && score <= 1, JSON.stringify(record));
  }
  assert.match(result.stderr, /epoch 2 .* V_rand \d\.\d{4} V_info \d\.\d{4}/);
});

test('train --resume continues from last.pt: a third epoch is appended to the log', () => {
  const result = patho('train', '--data', 'data', '--out', 'run-resumed', '--epochs', '2', '--val-split', '0.25', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  const resumed = patho('train', '--data', 'data', '--out', 'run-resumed', '--epochs', '3', '--val-split', '0.25', '--resume', ...tiny);
  assert.equal(resumed.code, 0, resumed.stderr);
  const log = readFileSync(join(dir, 'run-resumed', 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line).epoch);
  assert.deepEqual(log, [1, 2, 3]);
});

test('train --no-plan --max-minutes without --epochs runs to the budget, not to the default 50 epochs', () => {
  const budgetOnly = patho('train', '--data', 'data', '--out', 'run-budget', '--max-minutes', '0.002', '--val-split', '0.25', ...tiny);
  assert.equal(budgetOnly.code, 0, budgetOnly.stderr);
  // the progress line counts epochs without a total: the budget alone ends the run
  assert.match(budgetOnly.stderr, /^epoch 1 /m);
  assert.doesNotMatch(budgetOnly.stderr, /^epoch \d+\//m);
  const counted = patho('train', '--data', 'data', '--out', 'run-budget-epochs', '--max-minutes', '0.002', '--epochs', '3', '--val-split', '0.25', ...tiny);
  assert.equal(counted.code, 0, counted.stderr);
  assert.match(counted.stderr, /^epoch 1\/3 /m);
});

/** The threshold model.pt records (the best of its validation sweep). */
function modelThreshold(): number {
  const info = patho('info', '--model', model, '--json');
  assert.equal(info.code, 0, info.stderr);
  return JSON.parse(info.stdout).threshold;
}

test("eval --json prints one object: images, Dice/IoU/precision/recall at the model's threshold and the others, and per-image scores", () => {
  const result = patho('eval', '--model', model, '--data', 'data', '--json', '--workers', '0', '--threads', '1');
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.images, 4);
  const threshold = modelThreshold();
  assert.equal(report.threshold, threshold);
  assert.deepEqual(Object.keys(report.thresholds), [...new Set([String(threshold), '0.5', '0.7'])]);
  for (const scores of Object.values(report.thresholds) as Record<string, number>[]) {
    for (const key of ['dice', 'iou', 'precision', 'recall']) assert.ok(scores[key] >= 0 && scores[key] <= 1, `${key} ${scores[key]}`);
  }
  assert.deepEqual(report.perImage.map((p: { name: string }) => p.name).sort(), ['0', '1', '2', '3']);
  for (const image of report.perImage) assert.ok(image.scores['0.5'].dice >= 0 && image.scores['0.5'].dice <= 1);
  // the mean over images is the mean of the per-image scores
  const mean = report.perImage.reduce((s: number, p: { scores: Record<string, { dice: number }> }) => s + p.scores['0.5'].dice, 0) / 4;
  assert.ok(Math.abs(mean - report.thresholds['0.5'].dice) < 1e-9);

  const table = patho('eval', '--model', model, '--data', 'data', '--thresholds', '0.3', '--workers', '0', '--threads', '1');
  assert.equal(table.code, 0, table.stderr);
  // the tiny model's checkpoint stores no post-processing (patho tune chooses one)
  assert.match(table.stdout, new RegExp(`^4 images; threshold ${threshold} \\(the model's\\) first; no post-processing\nthreshold +dice +iou +precision +recall`));
  assert.match(table.stdout, /\n0\.3 +\d\.\d{4}/);
});

test("eval --threshold T scores at T first instead of the model's threshold; a bad T is exit 2", () => {
  const result = patho('eval', '--model', model, '--data', 'data', '--json', '--threshold', '0.35', '--workers', '0', '--threads', '1');
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.threshold, 0.35);
  assert.deepEqual(Object.keys(report.thresholds), ['0.35', '0.5', '0.7']);
  assert.equal(report.boundary.threshold, 0.35, 'the boundary errors are counted at the threshold asked for');
  expectInputError(patho('eval', '--model', model, '--data', 'data', '--threshold', '2'), /--threshold expects a number from 0 to 1 or auto, got '2'/);
});

test('eval scores objects: ISBI regions for membrane masks by default, GlaS objects when asked, neither with none', () => {
  const run = (...extra: string[]) => {
    const result = patho('eval', '--model', model, '--data', 'data', '--json', '--workers', '0', '--threads', '1', ...extra);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  const auto = run();
  assert.equal(auto.glas, undefined);
  assert.equal(auto.isbi.threshold, modelThreshold(), "objects are scored at the model's threshold");
  assert.deepEqual(auto.isbi.perImage.map((p: { name: string }) => p.name).sort(), ['0', '1', '2', '3']);
  for (const key of ['vRand', 'vRandSplit', 'vRandMerge', 'vInfo']) assert.ok(auto.isbi[key] >= 0 && auto.isbi[key] <= 1, `${key} ${auto.isbi[key]}`);

  const glas = run('--object-metrics', 'glas', '--threshold', '0.7');
  assert.equal(glas.isbi, undefined);
  assert.equal(glas.glas.threshold, 0.7, 'objects are scored at --threshold');
  assert.equal(glas.glas.perImage.length, 4);
  assert.ok(glas.glas.f1 >= 0 && glas.glas.f1 <= 1 && glas.glas.objectDice >= 0 && glas.glas.objectDice <= 1);
  assert.equal(glas.glas.tp + glas.glas.fn, glas.glas.perImage.reduce((s: number, p: { tp: number; fn: number }) => s + p.tp + p.fn, 0));

  const none = run('--object-metrics', 'none');
  assert.equal(none.glas ?? none.isbi, undefined);

  const table = patho('eval', '--model', model, '--data', 'data', '--threshold', '0.5', '--workers', '0', '--threads', '1');
  assert.match(table.stdout, /\nISBI 2012 regions at 0\.5 \(4-connected cells, foreground-restricted, 4 image\(s\)\): V_rand \d\.\d{4} \(split \d\.\d{4}, merge \d\.\d{4}\), V_info \d\.\d{4}\n/);
  expectInputError(patho('eval', '--model', model, '--data', 'data', '--object-metrics', 'cells'), /--object-metrics/);
});

test('eval --foreground instances scores the objects as the masks number them, touching or not', async () => {
  // the same foreground, numbered 1 left of the middle column and 2 right of it: objects the middle cuts become two
  mkdirSync(join(dir, 'instances', 'images'), { recursive: true });
  mkdirSync(join(dir, 'instances', 'masks'), { recursive: true });
  let objects = 0;
  for (const name of ['0', '1', '2', '3']) {
    cpSync(join(data, 'images', `${name}.png`), join(dir, 'instances', 'images', `${name}.png`));
    const binary = await sharp(join(data, 'masks', `${name}.png`)).raw().toBuffer();
    const numbered = Uint8Array.from(binary, (v, i) => (v === 0 ? 0 : i % 64 < 32 ? 1 : 2));
    objects += new Set(numbered.filter((v) => v !== 0)).size;
    await writeGray(join(dir, 'instances', 'masks', `${name}.png`), numbered, 64);
  }
  const run = (folder: string, ...extra: string[]) => {
    const result = patho('eval', '--model', model, '--data', folder, '--json', '--threshold', '0.5', '--object-metrics', 'glas', '--workers', '0', '--threads', '1', ...extra);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  const numbered = run('instances', '--foreground', 'instances');
  const merged = run('data');
  assert.equal(numbered.glas.tp + numbered.glas.fn, objects, 'one true object per number');
  assert.ok(merged.glas.tp + merged.glas.fn > objects, 'the connected components of the same foreground are more objects');
  assert.equal(numbered.thresholds['0.5'].dice, merged.thresholds['0.5'].dice, 'the pixels are scored the same');
  // without --foreground, a mask of several values is refused, and the message says how to read one that numbers its objects
  expectInputError(patho('eval', '--model', model, '--data', 'instances', '--workers', '0', '--threads', '1'), /'instances' for masks that number their objects/);
});

test('predict writes a one-channel 0/255 mask, a probability map and an overlay of the input size for each image', async () => {
  const result = patho('predict', '--model', model, '--out', 'predictions', '--probabilities', '--workers', '0', '--threads', '1', join('data', 'images'));
  assert.equal(result.code, 0, result.stderr);
  // the summary is predict's last line (a precision check may come before it)
  assert.match(result.stdout, new RegExp(`^4 \\w+ predicted into predictions at threshold ${modelThreshold()} \\(the model's\\)\n$`, 'm'));
  for (const name of ['0', '1', '2', '3']) {
    const mask = await png(join(dir, 'predictions', `${name}_mask.png`));
    assert.deepEqual([mask.width, mask.height, mask.channels], [64, 64, 1], `${name}_mask.png`);
    for (const v of mask.values) assert.ok(v === 0 || v === 255, `${name}_mask.png holds ${v}`);
    const probabilities = await png(join(dir, 'predictions', `${name}_prob.png`));
    assert.deepEqual([probabilities.width, probabilities.height, probabilities.channels], [64, 64, 1]);
    const overlay = await png(join(dir, 'predictions', `${name}_overlay.png`));
    assert.deepEqual([overlay.width, overlay.height, overlay.channels], [64, 64, 3]);
  }
});

test('info describes the checkpoint in text and as JSON', () => {
  const text = patho('info', '--model', model);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /architecture +U-Net depth 2, base 2 channels, 1 in, 1 class\(es\), bilinear upsampling, same padding/);
  assert.match(text.stdout, /normalisation +mean \[0\.\d{4}\] std \[0\.\d{4}\]/);
  assert.match(text.stdout, /best val Dice +\d/);
  assert.match(text.stdout, new RegExp(`\nthreshold +${modelThreshold()} \\(predict and eval use it unless given --threshold\\)\n`));
  assert.match(text.stdout, /this machine +libtorch \d/);
  const json = patho('info', '--model', model, '--json');
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  assert.equal(info.format, 'patho-checkpoint-1');
  assert.deepEqual(info.unet, { inChannels: 1, classes: 1, depth: 2, baseChannels: 2, batchNorm: true, upsample: 'bilinear', padding: 'same', dropout: 0 });
  // trainable parameters only, as the network counts them (batch norm's running statistics are buffers)
  const net = new UNet({ depth: 2, baseChannels: 2 });
  assert.equal(info.parameters, net.parameterCount());
  net.dispose();
  assert.ok(info.runtime.libtorch);
  assert.equal(info.normalization.mean.length, 1);
});

test('--downsample 2 trains at half the pixels, and eval, predict, the report and the page shrink their input alike and answer at full size', async () => {
  const result = patho('train', '--data', 'data', '--out', 'run-half', '--epochs', '1', '--val-names', '3', '--downsample', '2', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  const half = join(dir, 'run-half', 'model.pt');
  const text = patho('info', '--model', half);
  assert.match(text.stdout, /resolution +1\/2 of the images' pixels \(--downsample 2\)/);
  const { net, meta } = await loadTrainedNet(half);
  try {
    assert.equal(meta.downsample, 2);
    // the report's validation files are at the image's size
    const truth = await png(join(dir, 'run-half', 'validation', '3_mask.png'));
    assert.deepEqual([truth.width, truth.height], [64, 64]);
    const evaluated = patho('eval', '--model', half, '--data', 'data', '--json', '--threshold', '0.5', '--workers', '0', '--threads', '1');
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.equal(JSON.parse(evaluated.stdout).images, 4);
    const predicted = patho('predict', '--model', half, '--out', 'predictions-half', '--probabilities', '--engine', 'libtorch', '--precision', 'fp32', '--tile', '64', '--workers', '0', '--threads', '1', join('data', 'images', '1.png'));
    assert.equal(predicted.code, 0, predicted.stderr);
    // predict's tile (the whole image: nothing mirrored in) went through the folded network; the reference is the plain network on the shrunk image, brought back by hand
    const { image } = await readImageForInference(join(data, 'images', '1.png'), meta.normalization);
    const seen = downsamplePlanar(image.data, 1, 1, 64, 64, 2);
    const small = noGrad(() => tidy(() => net.probabilities(net.forward(tensor(seen, [1, 1, 32, 32]))).toFloat32Array()));
    const reference = upsamplePlanar(small, 1, 32, 32, 2, 64, 64);
    const { data: stored, info } = await sharp(join(dir, 'predictions-half', '1_prob.png')).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [64, 64]);
    // the PNG holds round(255 p) (sharp may expand it to RGB): within half a step, plus the folded network's
    // float32 rounding (a few units in the 7th digit of p: far under a tenth of a step); unshrunk tiles are 2.5 steps off
    let worst = 0;
    for (let i = 0; i < 64 * 64; i++) worst = Math.max(worst, Math.abs(stored[i * info.channels] - 255 * reference[i]));
    assert.ok(worst <= 0.6, `probability PNG vs the shrunk-and-grown reference: ${worst} of 255`);
    const { settings, onnx } = await webModel(half);
    assert.equal(settings.downsample, 2);
    assert.ok(Buffer.from(onnx).includes(Buffer.from('downsample')), "the ONNX export's metadata names the working resolution");
  } finally {
    net.dispose();
  }
  expectInputError(patho('train', '--data', 'data', '--downsample', '9', ...tiny), /--downsample/);
});

test('an unknown option is exit 2 naming it', () => {
  expectInputError(patho('train', '--data', 'data', '--bogus', '1'), /unknown option --bogus/);
});

test('a missing --data folder is exit 2 naming it, for train and eval', () => {
  expectInputError(patho('train', '--data', 'missing', '--workers', '0'), /--data missing: no such folder/);
  expectInputError(patho('eval', '--model', model, '--data', 'missing'), /--data missing: no such folder/);
});

test('a missing --model is exit 2 naming it, for eval, predict and info', () => {
  expectInputError(patho('eval', '--model', 'missing.pt', '--data', 'data'), /--model missing\.pt: no such file/);
  expectInputError(patho('predict', '--model', 'missing.pt', join('data', 'images')), /--model missing\.pt: no such file/);
  expectInputError(patho('info', '--model', 'missing.pt'), /--model missing\.pt: no such file/);
});

test('an RGB mask and a 3-valued mask are exit 2 naming the file', async () => {
  const rgb = join(dir, 'rgb-mask');
  cpSync(data, rgb, { recursive: true });
  const colours = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < 64 * 64; i++) colours.set(i % 2 ? [255, 0, 0] : [0, 255, 0], i * 3);
  await sharp(colours, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(rgb, 'masks', '2.png'));
  expectInputError(patho('train', '--data', 'rgb-mask', '--epochs', '1', '--out', 'run-bad', ...tiny), /rgb-mask[/\\]masks[/\\]2\.png: mask is an RGB colour image/);

  const threeValued = join(dir, 'three-valued');
  cpSync(data, threeValued, { recursive: true });
  await writeGray(join(threeValued, 'masks', '1.png'), Uint8Array.from({ length: 64 * 64 }, (_, i) => [0, 128, 255][i % 3]), 64);
  expectInputError(patho('train', '--data', 'three-valued', '--epochs', '1', '--out', 'run-bad', ...tiny), /three-valued[/\\]masks[/\\]1\.png: mask values not understood: 0, 128, 255/);
  expectInputError(patho('eval', '--model', model, '--data', 'three-valued', '--workers', '0'), /three-valued[/\\]masks[/\\]1\.png: mask values not understood/);
});

test('--resume without a last.pt in --out is exit 2 naming the missing checkpoint', () => {
  expectInputError(patho('train', '--data', 'data', '--out', 'never-trained', '--resume', ...tiny), /--resume: no checkpoint at never-trained[/\\]last\.pt/);
});

test('--devices cuda:7 is exit 2 saying the device is not available, for train, eval and predict', () => {
  const unavailable = /--devices cuda:7: cuda:7 is not available \(this machine has \d+ CUDA devices?\)/;
  expectInputError(patho('train', '--data', 'data', '--devices', 'cuda:7', ...tiny), unavailable);
  expectInputError(patho('eval', '--model', model, '--data', 'data', '--devices', 'cuda:7'), unavailable);
  expectInputError(patho('predict', '--model', model, '--devices', 'cuda:7', join('data', 'images')), unavailable);
});

test('--verbose adds the stack trace to an error', () => {
  const result = patho('info', '--model', 'missing.pt', '--verbose');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--model missing\.pt: no such file\n[\s\S]*\n\s+at /);
});
