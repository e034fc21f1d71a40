/**
 * Exit codes of `patho`: every problem with the input (data, images, slides,
 * output folders, checkpoints) ends with exit code 2 and a message naming the
 * file or option, without a stack trace; 1 is left for failures of patho itself.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { UNet } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { save } from '../../src/tensor/serialize.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { pixels, writeImage } from '../data/helpers.js';
import { REPO, expectInputError, runPatho } from './run.js';

const CMU = join(REPO, 'test', 'fixtures', 'wsi', 'cmu-1-small-region.svs');
const dir = mkdtempSync(join(tmpdir(), 'patho-exit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const patho = (...args: string[]) => runPatho(dir, ...args);

const tiny = ['--base-channels', '2', '--depth', '1', '--patch', '0', '--threads', '1', '--batch-size', '1', '--epochs', '1', '--val-split', '0'];
const model = join(dir, 'model.pt');

before(async () => {
  for (let i = 0; i < 3; i++) {
    await writeImage(join(dir, 'data', 'images', `${i}.png`), pixels(16, 16, 1, (x, y) => (x * 13 + y * 7 + i) % 256));
    await writeImage(join(dir, 'data', 'masks', `${i}.png`), pixels(16, 16, 1, (x) => (x < 8 ? 255 : 0)));
  }
  const net = new UNet({ inChannels: 3, classes: 1, depth: 1, baseChannels: 2 });
  await saveCheckpoint(model, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: null,
    threshold: 0.5, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  net.dispose();
  writeFileSync(join(dir, 'a-file'), 'not a folder');
});

test('an empty images folder is exit 2 naming the folders, for train and eval', () => {
  mkdirSync(join(dir, 'empty', 'images'), { recursive: true });
  mkdirSync(join(dir, 'empty', 'masks'), { recursive: true });
  const empty = /no image\/mask pairs in empty[/\\]images and empty[/\\]masks/;
  expectInputError(patho('train', '--data', 'empty', '--out', 'run-empty', '--workers', '0', ...tiny), empty);
  expectInputError(patho('eval', '--model', model, '--data', 'empty', '--workers', '0'), empty);
  expectInputError(patho('train', '--data', 'a-file', '--out', 'run-empty', '--workers', '0', ...tiny), /cannot read folder a-file[/\\]images/);
});

test('an image whose header reads but whose pixels do not decode is exit 2 naming it, with and without loader workers', () => {
  const bad = join(dir, 'bad');
  cpSync(join(dir, 'data'), bad, { recursive: true });
  // the header (IHDR) stays intact, so the data set opens; the compressed pixels are garbage
  const png = readFileSync(join(bad, 'images', '1.png'));
  const idat = png.indexOf('IDAT') + 4;
  for (let i = idat + 2; i < Math.min(png.length - 12, idat + 40); i++) png[i] ^= 0x5a;
  writeFileSync(join(bad, 'images', '1.png'), png);
  // the image is first decoded on its way into a batch or the normalisation
  // statistics, after the data set was checked: in a worker thread or not
  for (const workers of ['0', '2']) {
    expectInputError(patho('train', '--data', 'bad', '--out', 'run-bad', '--workers', workers, ...tiny), /bad[/\\]images[/\\]1\.png: does not decode/);
  }
});

test('a plain image that does not decode is exit 2 for predict', () => {
  writeFileSync(join(dir, 'junk.png'), 'not an image');
  expectInputError(patho('predict', '--model', model, '--out', 'pred-junk', 'junk.png'), /junk\.png: does not decode/);
});

test('a slide OpenSlide cannot open is exit 2 naming it: not a slide, truncated', () => {
  writeFileSync(join(dir, 'notes.svs'), 'not a slide');
  expectInputError(patho('predict', '--model', model, '--out', 'pred-slide', 'notes.svs'), /^patho: notes\.svs: not a format OpenSlide reads$/m);
  writeFileSync(join(dir, 'truncated.svs'), readFileSync(CMU).subarray(0, 600_000));
  expectInputError(patho('predict', '--model', model, '--out', 'pred-slide', 'truncated.svs'), /truncated\.svs: a TIFF that OpenSlide cannot read/);
});

test('an output folder that cannot be written is exit 2 naming it, before train reads the data or builds the network', () => {
  const train = patho('train', '--data', 'data', '--out', join('a-file', 'run'), '--workers', '0', ...tiny);
  expectInputError(train, /--out a-file[/\\]run: cannot write there \(ENOTDIR/);
  assert.doesNotMatch(train.stderr, /training images from/, 'stopped before the data set was read and the network built');
  expectInputError(patho('train', '--data', 'data', '--out', join('a-file', 'run'), '--devices', 'cpu:2', ...tiny), /--out a-file[/\\]run: cannot write there/);
  expectInputError(patho('predict', '--model', model, '--out', join('a-file', 'masks'), join('data', 'images')), /--out a-file[/\\]masks: cannot write there/);
});

test('a checkpoint that is not a patho model is exit 2 naming it, for predict and eval', async () => {
  const plain = join(dir, 'state-dict.pt');
  const weights = tensor([1, 2, 3], [3]);
  await save({ 'conv.weight': weights }, plain);
  const foreign = join(dir, 'foreign.pt');
  await save({ model: { 'conv.weight': weights }, meta: { format: CHECKPOINT_FORMAT, unet: { depth: 1, baseChannels: 2 } } }, foreign);
  weights.dispose();
  const noArchitecture = /checkpoint state-dict\.pt: holds weights but no architecture, so it is not a patho model/;
  expectInputError(patho('predict', '--model', 'state-dict.pt', '--out', 'pred-plain', join('data', 'images')), noArchitecture);
  expectInputError(patho('eval', '--model', 'state-dict.pt', '--data', 'data', '--workers', '0'), noArchitecture);
  expectInputError(patho('eval', '--model', 'foreign.pt', '--data', 'data', '--workers', '0'), /checkpoint foreign\.pt: its weights do not fit the U-Net it describes: .*missing keys/);
  writeFileSync(join(dir, 'text.pt'), 'hello');
  expectInputError(patho('info', '--model', 'text.pt'), /checkpoint text\.pt: not a PyTorch zip archive/);
});

test('--resume from a model that is not a training checkpoint, and an image of the wrong channel count, are exit 2 naming the file', async () => {
  // model.pt describes a 3-channel U-Net; this data set is gray
  cpSync(model, join(dir, 'run-resume', 'last.pt'), { recursive: true });
  expectInputError(
    patho('train', '--data', 'data', '--out', 'run-resume', '--resume', '--workers', '0', ...tiny),
    /checkpoint \S*last\.pt: --resume: was trained with inChannels=3; this run has inChannels=1/,
  );
  // a plain state_dict has nothing to resume
  cpSync(join(dir, 'state-dict.pt'), join(dir, 'run-plain', 'last.pt'), { recursive: true });
  expectInputError(
    patho('train', '--data', 'data', '--out', 'run-plain', '--resume', '--workers', '0', ...tiny),
    /checkpoint \S*last\.pt: .*not a patho/,
  );
  // a model trained on 3-channel images (its normalisation says so); these are gray
  const net = new UNet({ inChannels: 3, classes: 1, depth: 1, baseChannels: 2 });
  await saveCheckpoint(join(dir, 'normalized.pt'), {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] },
    threshold: 0.5, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  net.dispose();
  expectInputError(patho('predict', '--model', 'normalized.pt', '--out', 'pred-gray', join('data', 'images', '0.png')), /0\.png: 1-channel image, but the model was trained on 3-channel images/);
});
