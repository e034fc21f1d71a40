/**
 * Ensembles of trained models: the averaged probabilities equal the mean of
 * the members' own predictions, one member equals the model, `--model` finds
 * the members of a folder, and models that read or predict differently are
 * refused, by the library (naming both files) and by predict and eval (exit 2).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { CheckpointError } from '../../src/io/errors.js';
import { EnsembleNet, ensembleEngine, loadEnsemble, modelFiles } from '../../src/infer/ensemble.js';
import { FoldedUNet } from '../../src/infer/folded.js';
import { predictSlidingWith, type ProbabilityMap } from '../../src/infer/sliding.js';
import { libtorchEngine } from '../../src/infer/tiled.js';
import type { ChannelStats } from '../../src/data/normalize.js';
import type { UNet, UNetOptions } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad } from '../../src/tensor/runtime.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { syntheticImage, unetWithStatistics } from './helpers.js';

/** One rounding of a float32 operation on a value of at most 1. */
const ULP = 2 ** -24;

const dir = mkdtempSync(join(tmpdir(), 'patho-ensemble-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const NORMALIZATION: ChannelStats = { mean: [0.8, 0.6, 0.8], std: [0.2, 0.2, 0.2] };
const wide: UNetOptions = { inChannels: 3, classes: 1, depth: 2, baseChannels: 4 };
const deep: UNetOptions = { inChannels: 3, classes: 1, depth: 3, baseChannels: 2 };

async function saveModel(path: string, net: UNet, extra: { threshold?: number; normalization?: ChannelStats | null } = {}): Promise<string> {
  await saveCheckpoint(path, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: extra.normalization === undefined ? NORMALIZATION : extra.normalization,
    threshold: extra.threshold ?? 0.5, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  return path;
}

const a = join(dir, 'a.pt');
const b = join(dir, 'b.pt');
const twoClasses = join(dir, 'two-classes.pt');
const gray = join(dir, 'gray.pt');
const otherNormalization = join(dir, 'other-normalization.pt');
const png = join(dir, 'tile.png');

before(async () => {
  const nets = [unetWithStatistics(wide, 1), unetWithStatistics(deep, 2), unetWithStatistics({ ...wide, classes: 3 }, 3), unetWithStatistics({ ...wide, inChannels: 1 }, 4)];
  await saveModel(a, nets[0], { threshold: 0.3 });
  await saveModel(b, nets[1], { threshold: 0.6 });
  await saveModel(twoClasses, nets[2]);
  await saveModel(gray, nets[3], { normalization: { mean: [0.5], std: [0.2] } });
  await saveModel(otherNormalization, nets[0], { normalization: { mean: [0.7, 0.6, 0.8], std: [0.2, 0.2, 0.2] } });
  for (const net of nets) net.dispose();
  const rgb = Buffer.alloc(70 * 50 * 3).map((_, i) => (i * 37) % 256);
  await sharp(rgb, { raw: { width: 70, height: 50, channels: 3 } }).png().toFile(png);
});

/** The probability map of an image predicted by an engine over the given members, tiled so that tiles overlap. */
async function predictWith(nets: UNet[], image: ReturnType<typeof syntheticImage>): Promise<ProbabilityMap> {
  const folded = nets.map((net) => new FoldedUNet(net));
  try {
    return await predictSlidingWith(ensembleEngine(folded.map((f) => libtorchEngine(f))), image, { tile: 32, overlap: 0.25, batchSize: 2 });
  } finally {
    for (const f of folded) f.dispose();
  }
}

test('an ensemble of two U-Nets (other width and depth) predicts the mean of their probabilities', async (t) => {
  const start = memory().numTensors;
  const { members } = await loadEnsemble([a, b]);
  try {
    const image = syntheticImage(70, 50);
    const [first, second] = [await predictWith([members[0].net], image), await predictWith([members[1].net], image)];
    const both = await predictWith(members.map((m) => m.net), image);
    // each side rounds in float32 at most 2m + 2 times (m <= 4 overlapping tiles: m weighted terms summed, two
    // normalising divisions), and the ensemble's sum once more: 21 roundings of values at most 1
    const tolerance = 21 * ULP;
    let largest = 0;
    let spread = 0;
    for (let i = 0; i < both.data.length; i++) {
      largest = Math.max(largest, Math.abs(both.data[i] - (first.data[i] + second.data[i]) / 2));
      spread = Math.max(spread, Math.abs(first.data[i] - second.data[i]));
    }
    t.diagnostic(`largest difference from the mean ${largest.toExponential(2)} (tolerance ${tolerance.toExponential(2)})`);
    assert.ok(largest <= tolerance, `largest difference from the mean ${largest.toExponential(2)} > ${tolerance.toExponential(2)}`);
    assert.ok(spread > 1e-3, 'the two members predict differently, so the mean is not either of them');
  } finally {
    for (const m of members) m.net.dispose();
  }
  assert.equal(memory().numTensors, start);
});

test('EnsembleNet (eval): probabilities of its logits are the mean of the members\' probabilities', async (t) => {
  const start = memory().numTensors;
  const { members } = await loadEnsemble([a, b]);
  const image = syntheticImage(40, 24);
  noGrad(() => {
    const x = tensor(image.data, [1, 3, 24, 40]);
    const ensemble = new EnsembleNet(members.map((m) => m.net));
    const logits = ensemble.forward(x);
    const probabilities = ensemble.probabilities(logits);
    const got = probabilities.toFloat32Array();
    const ps = members.map((m) => {
      const l = m.net.forward(x);
      const p = m.net.probabilities(l);
      const values = p.toFloat32Array();
      l.dispose();
      p.dispose();
      return values;
    });
    // the mean (2 roundings), log and log1p (1 each), their difference (1), the sigmoid (1, and its slope p(1-p) <= 1/4
    // shrinks the logit's error): under 8 roundings of values at most 1
    let largest = 0;
    for (let i = 0; i < got.length; i++) largest = Math.max(largest, Math.abs(got[i] - (ps[0][i] + ps[1][i]) / 2));
    t.diagnostic(`largest difference from the mean ${largest.toExponential(2)} (tolerance ${(8 * ULP).toExponential(2)})`);
    assert.ok(largest <= 8 * ULP, `largest difference ${largest.toExponential(2)}`);
    for (const t of [x, logits, probabilities]) t.dispose();
  });
  for (const m of members) m.net.dispose();
  assert.equal(memory().numTensors, start);
});

test("the ensemble's threshold is the mean of its members' (0.3 and 0.6 -> 0.45); an ensemble of one is the model, with its threshold", async () => {
  const { members, meta } = await loadEnsemble([a, b]);
  for (const m of members) m.net.dispose();
  assert.ok(Math.abs(meta.threshold - 0.45) < 1e-15);
  const one = await loadEnsemble([a]);
  assert.equal(one.meta.threshold, 0.3);
  const folded = new FoldedUNet(one.members[0].net);
  const engine = libtorchEngine(folded);
  assert.equal(ensembleEngine([engine]), engine, 'the engine itself, not an average of one');
  folded.dispose();
  one.members[0].net.dispose();
});

test('models that disagree on classes, input channels or normalisation are refused, naming both files, and nothing stays loaded', async () => {
  const start = memory().numTensors;
  for (const [other, what] of [[twoClasses, 'the number of classes'], [gray, 'the input channels'], [otherNormalization, 'the input normalisation']] as const) {
    await assert.rejects(loadEnsemble([a, other]), (e: Error) => {
      assert.ok(e instanceof CheckpointError);
      assert.ok(e.message.includes(other) && e.message.includes(a), e.message);
      assert.ok(e.message.includes(`disagrees with ${a} on ${what}`), e.message);
      return true;
    });
  }
  assert.equal(memory().numTensors, start);
});

test('--model: a list, a folder of folds, a run folder (its model.pt, not last.pt), a folder of .pt files', () => {
  const folds = join(dir, 'cv');
  for (const k of [10, 2, 1]) {
    mkdirSync(join(folds, `fold-${k}`), { recursive: true });
    writeFileSync(join(folds, `fold-${k}`, 'model.pt'), '');
    writeFileSync(join(folds, `fold-${k}`, 'last.pt'), '');
  }
  mkdirSync(join(folds, 'fold-3'));
  assert.deepEqual(modelFiles(folds), [1, 2, 10].map((k) => join(folds, `fold-${k}`, 'model.pt')));
  const run = join(dir, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'model.pt'), '');
  writeFileSync(join(run, 'last.pt'), '');
  assert.deepEqual(modelFiles(run), [join(run, 'model.pt')]);
  const loose = join(dir, 'loose');
  mkdirSync(loose);
  for (const name of ['y.pt', 'x.pt', 'notes.txt']) writeFileSync(join(loose, name), '');
  assert.deepEqual(modelFiles(loose), [join(loose, 'x.pt'), join(loose, 'y.pt')]);
  assert.deepEqual(modelFiles(`${a}, ${b}`), [a, b]);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.throws(() => modelFiles(empty), /checkpoint .*empty: a folder without fold-N\/model\.pt, model\.pt or any \.pt file/);
});

function patho(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/patho.js', ...args, '--threads', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('patho predict --model a.pt,b.pt: an ensemble of two at the mean threshold; with either engine the same mask', async () => {
  const masks: Buffer[] = [];
  for (const engine of ['libtorch', 'onnxruntime']) {
    const out = join(dir, `predicted-${engine}`);
    const r = patho('predict', '--model', `${a},${b}`, png, '--out', out, '--no-overlay', '--engine', engine, '--probabilities');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`an ensemble of 2 models: ${a}, ${b}`));
    assert.match(r.stdout, /at threshold 0\.45 \(the mean of the 2 models'\)/);
    masks.push(await sharp(join(out, 'tile_prob.png')).raw().toBuffer());
  }
  // 8-bit probabilities from both engines: float32 both, apart by rounding only, so at most one step of 255
  let largest = 0;
  for (let i = 0; i < masks[0].length; i++) largest = Math.max(largest, Math.abs(masks[0][i] - masks[1][i]));
  assert.ok(largest <= 1, `probability PNGs differ by ${largest}`);
});

test('patho predict and eval refuse an ensemble of disagreeing models with exit 2, naming the file', () => {
  const r = patho('predict', '--model', `${a},${gray}`, png, '--out', join(dir, 'refused'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`checkpoint ${gray}: disagrees with ${a} on the input channels`));
  const data = join(dir, 'data');
  mkdirSync(join(data, 'images'), { recursive: true });
  const e = patho('eval', '--model', `${a},${otherNormalization}`, '--data', data);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, new RegExp(`checkpoint ${otherNormalization}: disagrees with ${a} on the input normalisation`));
  const missing = patho('predict', '--model', `${a},${join(dir, 'nope.pt')}`, png);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--model .*nope\.pt: no such file/);
});

test('patho eval --model a.pt,b.pt scores the ensemble (--json names its models)', async () => {
  const data = join(dir, 'scored');
  mkdirSync(join(data, 'images'), { recursive: true });
  mkdirSync(join(data, 'masks'), { recursive: true });
  for (const name of ['p', 'q']) {
    await sharp(png).extract({ left: 0, top: 0, width: 40, height: 40 }).toFile(join(data, 'images', `${name}.png`));
    const mask = Buffer.alloc(40 * 40).map((_, i) => ((i % 40) < 20 ? 255 : 0));
    await sharp(mask, { raw: { width: 40, height: 40, channels: 1 } }).toColourspace('b-w').png().toFile(join(data, 'masks', `${name}.png`));
  }
  const r = patho('eval', '--model', `${a},${b}`, '--data', data, '--json', '--workers', '0', '--object-metrics', 'none');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.models, [a, b]);
  assert.equal(report.threshold, 0.45);
  assert.equal(report.images, 2);
  assert.ok(report.thresholds['0.45'].dice >= 0 && report.thresholds['0.45'].dice <= 1);
});

test('a slide predicted by an ensemble: its probability TIFF is the mean of the two models\' (8-bit, within one step)', async () => {
  const CMU = 'test/fixtures/wsi/cmu-1-small-region.svs';
  const probabilities = async (model: string, name: string) => {
    const out = join(dir, `slide-${name}`);
    const r = patho('predict', '--model', model, CMU, '--out', out, '--format', 'tiff', '--probabilities', '--no-overlay', '--engine', 'libtorch', '--precision', 'fp32');
    assert.equal(r.code, 0, r.stderr);
    return sharp(join(out, 'cmu-1-small-region_prob.tif'), { limitInputPixels: false }).extractChannel(0).raw().toBuffer();
  };
  const [pa, pb, both] = [await probabilities(a, 'a'), await probabilities(b, 'b'), await probabilities(`${a},${b}`, 'both')];
  // each map is rounded to 1/255 once: the mean of two rounded maps and the rounded mean differ by at most one step
  let largest = 0;
  let differ = 0;
  for (let i = 0; i < both.length; i++) {
    largest = Math.max(largest, Math.abs(both[i] - (pa[i] + pb[i]) / 2));
    if (pa[i] !== pb[i]) differ++;
  }
  assert.ok(largest <= 1, `largest difference ${largest} of 255`);
  assert.ok(differ > 0, 'the two models differ on the slide');
});
