/**
 * Post-processing end to end: `patho tune` stores its choice in the
 * checkpoint (weights untouched), the stored values survive a save and a
 * load, and predict and eval apply them unless told otherwise. The model is
 * a tiny U-Net of random weights cut at its median probability, so its mask
 * is full of specks and holes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { readImageForInference } from '../../src/infer/image.js';
import { postProcessMask } from '../../src/infer/postprocess.js';
import { UNet } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { manualSeed, memory, noGrad } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { CHECKPOINT_FORMAT, disposeCheckpoint, loadCheckpoint, saveCheckpoint, updateCheckpointMeta } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-postprocess-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const [W, H] = [48, 40];
const data = join(dir, 'data');
const image = join(data, 'images', 'a.png');
const truth = join(data, 'masks', 'a.png');
const model = join(dir, 'model.pt');

before(async () => {
  mkdirSync(join(data, 'images'), { recursive: true });
  mkdirSync(join(data, 'masks'), { recursive: true });
  await sharp(Buffer.alloc(W * H * 3).map((_, i) => (i * 53 + ((i * i) % 97)) % 256), { raw: { width: W, height: H, channels: 3 } }).png().toFile(image);
  const mask = Buffer.alloc(W * H).map((_, i) => (i % W >= 8 && i % W < 30 && i / W >= 6 && i / W < 30 ? 255 : 0));
  await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toFile(truth);
  manualSeed(3);
  const net = new UNet({ inChannels: 3, classes: 1, depth: 2, baseChannels: 4, batchNorm: false });
  const { image: planar } = await readImageForInference(image, null);
  const probabilities = noGrad(() => tidy(() => net.probabilities(net.forward(tensor(planar.data, [1, 3, H, W]))).toFloat32Array()));
  const median = Float32Array.from(probabilities).sort()[(W * H) >> 1];
  await saveCheckpoint(model, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: null, threshold: median, bestDice: null,
    torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
    data: { root: data, images: 'images', masks: 'masks', foreground: null, validation: [{ name: 'a', image, mask: truth }] },
  });
  net.dispose();
});

function patho(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/patho.js', ...args, '--threads', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function readMask(path: string): Promise<Uint8Array> {
  const { data: pixels } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return Uint8Array.from(pixels, (v) => (v ? 1 : 0));
}

test('patho tune stores its choice in the checkpoint, chosen on the recorded validation image; the weights stay as they were', async () => {
  const start = memory().numTensors;
  const before = await loadCheckpoint(model);
  const r = patho('tune', '--model', model, '--json');
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.trials.length, 9 * 6);
  assert.equal(printed.saved, true);
  const after = await loadCheckpoint(model);
  assert.deepEqual(after.meta.postProcessing, {
    minObjectPx: printed.chosen.minObjectPx,
    fillHolesPx: printed.chosen.fillHolesPx,
    chosenOn: `1 validation images at threshold ${before.meta.threshold}, by GlaS object F1`,
  });
  assert.ok(printed.chosen.objectF1 >= printed.without.objectF1, 'no worse than nothing on the images it chose on');
  assert.deepEqual([...after.model.keys()], [...before.model.keys()]);
  for (const [name, t] of before.model) assert.deepEqual(after.model.get(name)!.toFloat32Array(), t.toFloat32Array(), name);
  disposeCheckpoint(before);
  disposeCheckpoint(after);
  assert.equal(memory().numTensors, start);
});

test('predict and eval apply the stored post-processing by default; 0 turns it off; a bad size exits 2', async () => {
  const stored = { minObjectPx: 8, fillHolesPx: 8 };
  await updateCheckpointMeta(model, { postProcessing: { ...stored, chosenOn: 'by hand' } });
  const start = memory().numTensors;
  const roundTrip = await loadCheckpoint(model);
  assert.deepEqual(roundTrip.meta.postProcessing, { ...stored, chosenOn: 'by hand' });
  disposeCheckpoint(roundTrip);
  assert.equal(memory().numTensors, start);

  const predicted = async (name: string, ...args: string[]) => {
    const out = join(dir, name);
    const r = patho('predict', '--model', model, image, '--out', out, '--no-overlay', ...args);
    assert.equal(r.code, 0, r.stderr);
    return { stdout: r.stdout, mask: await readMask(join(out, 'a_mask.png')) };
  };
  const plain = await predicted('plain', '--min-object-px', '0', '--fill-holes-px', '0');
  const cleaned = await predicted('default');
  assert.deepEqual(cleaned.mask, postProcessMask(plain.mask, W, H, stored), 'the thresholded mask with the stored post-processing');
  assert.notDeepEqual(cleaned.mask, plain.mask, 'the random model leaves specks or holes to clean');
  assert.match(cleaned.stdout, /objects under 8 px removed and holes under 8 px filled/);
  assert.doesNotMatch(plain.stdout, /removed/);

  const scored = (...args: string[]) => {
    const r = patho('eval', '--model', model, '--data', data, '--json', '--object-metrics', 'glas', ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const byDefault = scored();
  const off = scored('--min-object-px', '0', '--fill-holes-px', '0');
  assert.deepEqual(byDefault.postProcessing, stored);
  assert.deepEqual(off.postProcessing, { minObjectPx: 0, fillHolesPx: 0 });
  assert.ok(byDefault.glas.tp + byDefault.glas.fp < off.glas.tp + off.glas.fp, 'fewer predicted objects once specks are removed');

  const bad = patho('eval', '--model', model, '--data', data, '--min-object-px', '2.5');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--min-object-px expects a whole number of pixels \(0 = off\) or auto, got '2\.5'/);
});
