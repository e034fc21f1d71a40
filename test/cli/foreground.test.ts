/**
 * `--foreground`: values (one class) or value:name pairs (a class per name),
 * and the names carried from a folder of masks into the checkpoint and the
 * GeoJSON of `patho predict`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';

import { foregroundOption } from '../../src/cli/foreground.js';
import { classCount, instanceLabels, toLabelMask } from '../../src/data/masks.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { expectInputError, runPatho } from './run.js';

test('values are one class; value:name pairs a class per distinct name, in the order given', () => {
  assert.deepEqual(foregroundOption(undefined, 'patho train'), { spec: undefined, names: null });
  assert.deepEqual(foregroundOption(['255'], 'patho train'), { spec: [255], names: null });
  assert.deepEqual(foregroundOption(['1', '2'], 'patho train'), { spec: [1, 2], names: null });
  assert.deepEqual(foregroundOption(['1:gland', '2:tumour'], 'patho train'), { spec: { 1: 1, 2: 2 }, names: ['gland', 'tumour'] });
  assert.deepEqual(foregroundOption(['1:gland', '3:gland', '2:tumour'], 'patho train'), { spec: { 1: 1, 3: 1, 2: 2 }, names: ['gland', 'tumour'] });
  assert.deepEqual(foregroundOption(['instances'], 'patho train'), { spec: 'instances', names: null });
});

test('instance masks: every nonzero value is foreground, one class, and the object numbers are kept', () => {
  const raw = { width: 4, height: 1, channels: 1, maxValue: 255, data: Uint8Array.from([0, 1, 7, 2]) };
  assert.deepEqual([...toLabelMask(raw, 'instances').data], [0, 1, 1, 1]);
  assert.equal(classCount('instances'), 2);
  assert.deepEqual([...instanceLabels(raw)], [0, 1, 7, 2]);
  assert.throws(() => toLabelMask(raw), /mask values not understood: 0, 1, 2, 7;.*'instances' for masks that number their objects/);
});

test('bad --foreground lists are usage errors saying what is wrong', () => {
  const bad: [string[], RegExp][] = [
    [['1:gland', '2'], /values and value:name pairs cannot be mixed/],
    [['x:gland'], /'x' is not a mask value/],
    [['70000'], /'70000' is not a mask value \(0 to 65535\)/],
    [['1:'], /'1:' has no class name/],
    [['1:Background'], /Background is class 0/],
    [['1:gland', '1:tumour'], /value 1 is given twice/],
    [['instances', '1'], /'instances' is not a mask value/],
  ];
  for (const [items, message] of bad) {
    assert.throws(() => foregroundOption(items, 'patho train'), (e: Error) => e.name === 'UsageError' && message.test(e.message) && e.message.startsWith(`--foreground ${items.join(',')}: `));
  }
});

const dir = mkdtempSync(join(tmpdir(), 'patho-foreground-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a folder trained with --foreground 128:gland,255:tumour: the names in the checkpoint and in the GeoJSON of a prediction', async () => {
  // images whose grey level is the mask value: classes a tiny U-Net learns in a few epochs
  mkdirSync(join(dir, 'data', 'images'), { recursive: true });
  mkdirSync(join(dir, 'data', 'masks'), { recursive: true });
  for (let n = 0; n < 4; n++) {
    const mask = Uint8Array.from({ length: 48 * 48 }, (_, i) => {
      const [x, y] = [i % 48, Math.floor(i / 48)];
      return (x + 7 * n) % 24 < 8 ? 0 : (y + 5 * n) % 24 < 12 ? 128 : 255;
    });
    const gray = (pixels: Uint8Array, path: string) => sharp(pixels, { raw: { width: 48, height: 48, channels: 1 } }).toColourspace('b-w').png().toFile(path);
    await gray(mask, join(dir, 'data', 'images', `${n}.png`));
    await gray(mask, join(dir, 'data', 'masks', `${n}.png`));
  }
  const tiny = ['--base-channels', '4', '--depth', '1', '--patch', '0', '--workers', '0', '--threads', '1', '--batch-size', '4', '--seed', '1', '--no-plan'];
  const train = runPatho(dir, 'train', '--data', 'data', '--foreground', '128:gland,255:tumour', '--epochs', '30', '--lr', '0.05', '--optimizer', 'adam',
    '--val-split', '0', '--out', 'run', ...tiny);
  assert.equal(train.code, 0, train.stderr);
  const checkpoint = await loadCheckpoint(join(dir, 'run', 'model.pt'));
  const { meta } = checkpoint;
  disposeCheckpoint(checkpoint);
  assert.deepEqual(meta.classes?.names, ['gland', 'tumour']);
  assert.equal(meta.unet?.classes, 3);

  const predict = runPatho(dir, 'predict', '--model', join('run', 'model.pt'), '--format', 'png,geojson', '--simplify', '0.5', '--no-overlay', '--out', 'out',
    '--threads', '1', '--devices', 'cpu', join('data', 'images', '0.png'));
  assert.equal(predict.code, 0, predict.stderr);
  const features: { properties: { classification: { name: string; color: number[] } } }[] = JSON.parse(readFileSync(join(dir, 'out', '0.geojson'), 'utf8')).features;
  const names = new Set(features.map((f) => f.properties.classification.name));
  assert.deepEqual([...names].sort(), ['gland', 'tumour']);
  for (const f of features) assert.deepEqual(f.properties.classification.color, meta.classes!.colors[meta.classes!.names.indexOf(f.properties.classification.name)]);

  expectInputError(runPatho(dir, 'train', '--data', 'data', '--foreground', '128:gland,255', '--out', 'bad', ...tiny), /--foreground 128:gland,255: values and value:name pairs cannot be mixed/);
});
