/**
 * `patho train --slides` and `patho predict` end to end, as a user runs them:
 * a tiny U-Net trained two short epochs on the annotated CMU-1 region (two
 * copies, one held out, patches at 2 um/px), then a 512 x 512 crop of it
 * trained at level 0 and predicted back to GeoJSON carrying the training
 * class names and colours. Bad slide sets end with exit code 2 and a message
 * naming the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { parseAnnotations } from '../../src/wsi/annotations.js';
import { paintOrder } from '../../src/wsi/classes.js';
import { rasterizeWindow } from '../../src/wsi/patches.js';
import { annotatedSlides, croppedSlide } from './helpers.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'patho.js');
let data: Awaited<ReturnType<typeof annotatedSlides>>;
before(async () => {
  data = await annotatedSlides(['cmu-a', 'cmu-b']);
  mkdirSync(join(data.dir, 'crop', 'slides'), { recursive: true });
  mkdirSync(join(data.dir, 'crop', 'annotations'));
  await croppedSlide(join(data.dir, 'crop', 'slides'), join(data.dir, 'crop', 'annotations'), 'crop');
});
after(() => data.cleanup());

function patho(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: data.dir, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const tiny = ['--depth', '2', '--base-channels', '4', '--patch', '32', '--batch-size', '2', '--threads', '1', '--devices', 'cpu', '--workers', '1'];

test('train on annotated slides with named classes at an mpp, validating on a held-out slide', () => {
  const train = patho('train', '--slides', data.slides, '--annotations', data.annotations, '--classes', 'Tumor,Stroma', '--mpp', '2',
    '--samples-per-epoch', '4', '--epochs', '2', '--val-slides', 'cmu-b', '--out', 'run', ...tiny);
  assert.equal(train.code, 0, train.stderr);
  assert.match(train.stderr, /1 training slide\(s\) from .*slides, classes 1 Tumor, 2 Stroma \(0 background\), unannotated pixels ignored, 2 batches of 32 px patches per epoch at 2 um\/px/);
  const epochs = readFileSync(join(data.dir, 'run', 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.event === 'epoch');
  assert.equal(epochs.length, 2);
  for (const r of epochs) {
    assert.ok(Number.isFinite(r.trainLoss) && Number.isFinite(r.valLoss), JSON.stringify(r));
    assert.ok(r.dice.argmax >= 0 && r.dice.argmax <= 1, `validation Dice over annotated pixels: ${r.dice.argmax}`);
  }
});

test('a model trained on a slide predicts GeoJSON with the class names and colours, as QuPath detections, that rasterises back to the mask', async () => {
  const crop = join(data.dir, 'crop');
  const train = patho('train', '--slides', join(crop, 'slides'), '--samples-per-epoch', '8', '--epochs', '2', '--lr', '0.05', '--out', 'crop-run', ...tiny);
  assert.equal(train.code, 0, train.stderr);
  assert.match(train.stderr, /classes 1 Stroma, 2 Tumor \(0 background\).* at level 0/);
  const predict = patho('predict', '--model', join('crop-run', 'model.pt'), '--out', 'predictions', '--format', 'geojson,png', '--no-overlay', '--objects', 'detection',
    '--threads', '1', '--devices', 'cpu', join(crop, 'slides', 'crop.tif'));
  assert.equal(predict.code, 0, predict.stderr);
  const path = join(data.dir, 'predictions', 'crop.geojson');
  const text = readFileSync(path, 'utf8');
  const collection = JSON.parse(text);
  assert.equal(collection.type, 'FeatureCollection');
  assert.ok(collection.features.length > 0, 'the predicted slide has regions');
  const colours: Record<string, number[]> = { Tumor: [200, 0, 0], Stroma: [150, 200, 150] };
  for (const f of collection.features) {
    const { name, color } = f.properties.classification;
    assert.ok(name in colours, `class ${name}`);
    assert.deepEqual(color, colours[name]);
    assert.equal(f.properties.objectType, 'detection');
    assert.ok(f.properties.measurements['Area px^2'] > 0);
  }
  assert.ok(!text.includes(data.dir), 'no local paths in the output');

  // round trip: the GeoJSON read back and rasterised is the predicted mask, pixel for pixel
  const { data: stored, info } = await sharp(join(data.dir, 'predictions', 'crop_mask.png')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [512, 512]);
  // class values, stored gray or as three equal channels
  const mask = Uint8Array.from({ length: 512 * 512 }, (_, i) => stored[i * info.channels]);
  const parsed = parseAnnotations(text, 'crop.geojson');
  assert.deepEqual(parsed.problems, []);
  // the checkpoint's order: class 1 Stroma, class 2 Tumor
  const classes = { names: ['Stroma', 'Tumor'], colors: [colours.Stroma, colours.Tumor] as [number, number, number][], unlabelled: 'background' as const };
  const back = rasterizeWindow({ x: 0, y: 0, width: 512, height: 512, scale: 1 }, paintOrder(classes, parsed.annotations), 0);
  let differing = 0;
  for (let i = 0; i < mask.length; i++) if (back.data[i] !== mask[i]) differing++;
  assert.equal(differing, 0, `${differing} pixels differ between the mask and its GeoJSON`);

  // simplified outlines (never longer, still valid); a minimum area in um^2 on a slide without mpp is a usage error naming both
  const simple = patho('predict', '--model', join('crop-run', 'model.pt'), '--out', 'simple', '--format', 'geojson', '--no-overlay', '--simplify', '1.5',
    '--threads', '1', '--devices', 'cpu', join(crop, 'slides', 'crop.tif'));
  assert.equal(simple.code, 0, simple.stderr);
  const positions = (file: string) => readFileSync(file, 'utf8').split('],[').length;
  assert.ok(positions(join(data.dir, 'simple', 'crop.geojson')) <= positions(path), `${positions(path)} -> ${positions(join(data.dir, 'simple', 'crop.geojson'))} positions`);
  assert.deepEqual(parseAnnotations(readFileSync(join(data.dir, 'simple', 'crop.geojson'), 'utf8'), 'crop.geojson').problems, []);
  const noMpp = patho('predict', '--model', join('crop-run', 'model.pt'), '--out', 'small', '--min-area', '10', '--threads', '1', '--devices', 'cpu', join(crop, 'slides', 'crop.tif'));
  assert.equal(noMpp.code, 2, noMpp.stderr);
  assert.match(noMpp.stderr, /crop\.tif: --min-area 10 is in um\^2, but the slide does not record its microns per pixel/);
  assert.doesNotMatch(noMpp.stderr, /\n\s+at /);
});

test('the same training losses, to the last bit, with the patches read in the main thread or in a worker thread', () => {
  // a worker thread loads the addon to read slides; it must not change libtorch's threading for the training
  const losses = (workers: string) => {
    const out = `run-workers-${workers}`;
    const run = patho('train', '--slides', data.slides, '--annotations', data.annotations, '--classes', 'Tumor', '--samples-per-epoch', '8', '--epochs', '2',
      '--val-slides', 'cmu-b', '--out', out, ...tiny.slice(0, -2), '--workers', workers, '--patch', '64', '--base-channels', '8');
    assert.equal(run.code, 0, run.stderr);
    return readFileSync(join(data.dir, out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.event === 'epoch').map((r) => r.trainLoss);
  };
  const inMain = losses('0');
  assert.equal(inMain.length, 2);
  assert.deepEqual(losses('1'), inMain);
});

test('bad slide sets: exit code 2, the file named, no stack trace', () => {
  const unknown = patho('train', '--slides', data.slides, '--annotations', data.annotations, '--classes', 'Tumor,Necrosis', '--epochs', '1', '--out', 'bad', ...tiny);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /--classes: no annotation has the class 'Necrosis' \(classes found: Stroma, Tumor\)/);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /);

  writeFileSync(join(data.annotations, 'cmu-b.geojson'), '{"type": "FeatureCollection", "features": [');
  const broken = patho('train', '--slides', data.slides, '--annotations', data.annotations, '--epochs', '1', '--out', 'bad', ...tiny);
  assert.equal(broken.code, 2, broken.stderr);
  assert.match(broken.stderr, new RegExp(`${join(data.annotations, 'cmu-b.geojson').replace(/[/.]/g, '\\$&')}: not JSON`));

  const skipped = patho('train', '--slides', data.slides, '--annotations', data.annotations, '--epochs', '1', '--samples-per-epoch', '2', '--out', 'skip', '--skip-bad', ...tiny);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /skipped 1 bad slide\(s\) or feature\(s\); 1 slide\(s\) remain/);

  const noFolder = patho('train', '--slides', join(data.dir, 'nowhere'), '--epochs', '1');
  assert.equal(noFolder.code, 2);
  assert.match(noFolder.stderr, /--slides .*nowhere: no such folder/);
});
