import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeImageFile } from '../../src/data/decode.js';
import { objectMetricKind } from '../../src/metrics/structures.js';

const ROOT = new URL('../../../', import.meta.url);

async function kindOf(path: string): Promise<string> {
  const mask = await decodeImageFile(new URL(path, ROOT).pathname);
  return objectMetricKind(mask.data, mask.width, mask.height);
}

test('object metric kind: membrane masks (cells between thin walls) get ISBI, gland masks get GlaS', async () => {
  assert.equal(await kindOf('data/membrane/train/masks/0.png'), 'isbi');
  assert.equal(await kindOf('data/membrane/train/masks/5.png'), 'isbi');
  for (const gland of ['train_1', 'train_14', 'train_37']) assert.equal(await kindOf(`test/fixtures/metrics/glas_${gland}_truth.png`), 'glas', gland);
});

test('object metric kind: a mask of one class only gets GlaS', () => {
  assert.equal(objectMetricKind(new Uint8Array(16), 4, 4), 'glas');
  assert.equal(objectMetricKind(new Uint8Array(16).fill(1), 4, 4), 'glas');
});
