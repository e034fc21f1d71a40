/**
 * Weights moving from patho to PyTorch. The committed written-by-patho.pt is
 * what torch.load checked (tools/make_io_fixtures.py --check); these tests
 * make sure saveObject still writes exactly those bytes, so a format change
 * is caught without Python. Set PATHO_UPDATE_FIXTURES=1 to rewrite the files
 * after an intended change, then rerun the Python check.
 */

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { saveObject } from '../../src/io/checkpoint.js';
import { fromFloat32Array, PyFloat, tensorData, type Value } from '../../src/io/value.js';
import { ZipWriter } from '../../src/io/zip.js';
import { bytesOf, fixture, withTempDir } from './helpers.js';

const update = process.env.PATHO_UPDATE_FIXTURES === '1';

/** The value the Python check expects, item by item. */
function writtenByPatho(): Value {
  const tied = fromFloat32Array([1, 2, 3, 4], [4]).data;
  return {
    'conv.weight': fromFloat32Array(Array.from({ length: 18 }, (_, i) => i / 8 - 1), [2, 1, 3, 3]),
    'conv.bias': fromFloat32Array([0.5, -0.25], [2]),
    'bn.num_batches_tracked': tensorData('int64', [], bytesOf(new BigInt64Array([7n]))),
    half: tensorData('float16', [3], bytesOf(new Uint16Array([0x3c00, 0xc000, 0x3800]))),
    bf16: tensorData('bfloat16', [2], bytesOf(new Uint16Array([0x3f80, 0xbfc0]))),
    f64: tensorData('float64', [2], bytesOf(new Float64Array([Math.PI, -1e-300]))),
    i32: tensorData('int32', [3], bytesOf(new Int32Array([-1, 0, 2 ** 31 - 1]))),
    i16: tensorData('int16', [2], bytesOf(new Int16Array([-300, 300]))),
    i8: tensorData('int8', [2], bytesOf(new Int8Array([-128, 127]))),
    u8: tensorData('uint8', [3], Uint8Array.from([0, 128, 255])),
    mask: tensorData('bool', [2, 2], Uint8Array.from([1, 0, 0, 1])),
    empty: tensorData('float32', [0, 3], new Uint8Array(0)),
    'tied.a': tensorData('float32', [4], tied),
    'tied.b': tensorData('float32', [2, 2], tied),
    meta: {
      lr: new PyFloat(1),
      epoch: 5,
      ratio: 0.1,
      name: 'patho ü ✓',
      flags: [true, false, null],
      big: 2n ** 70n,
      neg: -123456789012,
      state: {
        '0': { momentum_buffer: fromFloat32Array([1, 2], [2]) },
        '1': { momentum_buffer: fromFloat32Array([0.25, -0.5], [2]) },
      },
      groups: [{ params: [0, 1], lr: new PyFloat(0.01) }],
    },
  };
}

async function checkOrUpdate(name: string, bytes: Uint8Array): Promise<void> {
  if (update) await writeFile(fixture(name), bytes);
  assert.deepEqual(new Uint8Array(await readFile(fixture(name))), new Uint8Array(bytes), `${name} differs from what patho writes now`);
}

test('saveObject writes written-by-patho.pt byte for byte as PyTorch checked it', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'written-by-patho.pt');
    await saveObject(writtenByPatho(), path);
    await checkOrUpdate('written-by-patho.pt', await readFile(path));
  });
});

test('ZipWriter with forced zip64 records writes zip64-by-patho.zip as Python zipfile checked it', async () => {
  const chunks: Uint8Array[] = [];
  const zip = new ZipWriter(async (chunk) => void chunks.push(chunk.slice()), { forceZip64: true });
  await zip.add('a.txt', new TextEncoder().encode('hello'));
  await zip.add('dir/b.bin', Uint8Array.from({ length: 200 }, (_, i) => i));
  await zip.finish();
  await checkOrUpdate('zip64-by-patho.zip', Buffer.concat(chunks));
});
