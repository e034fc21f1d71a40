import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadObject, saveObject } from '../../src/io/checkpoint.js';
import { CheckpointError } from '../../src/io/errors.js';
import { asFloat32Array, fromFloat32Array, isTensorData, PyFloat, tensorData, type TensorData, type Value } from '../../src/io/value.js';
import { bytesOf, describe, fixture, withTempDir } from './helpers.js';

const expected = JSON.parse(await readFile(fixture('expected.json'), 'utf8')) as Record<string, unknown>;

for (const name of ['state_dict.pt', 'optimizer.pt', 'dtypes.pt', 'views.pt', 'protocol4.pt']) {
  test(`loadObject reads ${name} written by torch.save`, async () => {
    assert.deepEqual(describe(await loadObject(fixture(name))), expected[name]);
  });
}

test('a state dict from torch.save has PyTorch names, int64 num_batches_tracked and float32 views', async () => {
  const sd = (await loadObject(fixture('state_dict.pt'))) as Record<string, TensorData>;
  assert.deepEqual(Object.keys(sd), [
    '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight', '3.bias',
  ]);
  assert.equal(sd['1.num_batches_tracked'].dtype, 'int64');
  assert.deepEqual(sd['1.num_batches_tracked'].shape, []);
  assert.deepEqual(sd['0.weight'].shape, [2, 1, 3, 3]);
  assert.equal(asFloat32Array(sd['1.running_var']).length, 2);
});

test('views of one storage stay views over its bytes, read row-major on demand', async () => {
  const views = (await loadObject(fixture('views.pt'))) as Record<string, TensorData>;
  assert.deepEqual([...asFloat32Array(views.transposed)], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  assert.deepEqual([...asFloat32Array(views.column)], [2, 6, 10]);
  assert.deepEqual([...asFloat32Array(views.block)], [5, 6, 9, 10]);
  assert.deepEqual([...asFloat32Array(views.row)], [4, 5, 6, 7]);
  assert.deepEqual([...asFloat32Array(views.expanded)], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'a stride-0 expand repeats its storage');
  assert.equal(views.row.data.buffer, views.base.data.buffer);
  assert.equal(views.transposed.data.buffer, views.base.data.buffer, 'a transposed view shares the storage too');
  assert.deepEqual(views.expanded.strides, [0, 1]);
  assert.equal(views.expanded.data.byteLength, 16, 'an expand holds its 4 elements, not 12');
  assert.equal(views.tied, views.base, 'the same tensor twice is one object');
});

test('optimizer state: int keys come back as strings, tuples as arrays, big ints as bigints', async () => {
  const checkpoint = (await loadObject(fixture('optimizer.pt'))) as Record<string, any>;
  assert.deepEqual(Object.keys(checkpoint.optimizer.state), ['0', '1', '2', '3', '4', '5']);
  assert.deepEqual(checkpoint.optimizer.param_groups[0].betas, [0.9, 0.999]);
  assert.equal(checkpoint.big, 2n ** 70n);
  assert.equal(checkpoint.negbig, -(2n ** 70n));
  assert.equal(checkpoint.neg, -(2 ** 40));
});

for (const [name, global] of Object.entries(expected.forbidden as Record<string, string>)) {
  test(`loadObject refuses ${name}, naming the global ${global}`, async () => {
    await assert.rejects(loadObject(fixture(name)), (error: Error) => {
      assert.ok(error instanceof CheckpointError);
      assert.ok(error.message.startsWith(`checkpoint ${fixture(name)}: refusing global ${global}`), error.message);
      return true;
    });
  });
}

test('loadObject refuses the legacy pre-1.6 format by name', async () => {
  await assert.rejects(
    loadObject(fixture('legacy.pt')),
    new RegExp(`^CheckpointError: checkpoint ${fixture('legacy.pt')}: not a PyTorch zip archive \\(legacy pre-1\\.6 format is not supported\\)$`),
  );
});

test('truncated, corrupt and missing files give errors naming the file', async () => {
  await withTempDir(async (dir) => {
    const original = await readFile(fixture('state_dict.pt'));
    const truncated = join(dir, 'truncated.pt');
    await writeFile(truncated, original.subarray(0, original.length - 40));
    await assert.rejects(loadObject(truncated), new RegExp(`checkpoint ${truncated}: corrupt zip archive: end of central directory not found`));

    // Flip one byte of the first storage: the archive is intact, the data is not.
    const corrupt = join(dir, 'corrupt.pt');
    const bytes = Buffer.from(original);
    const storageAt = bytes.indexOf('data/0') + 'data/0'.length;
    const dataStart = Math.ceil(storageAt / 64) * 64;
    bytes[dataStart] ^= 0xff;
    await writeFile(corrupt, bytes);
    await assert.rejects(loadObject(corrupt), new RegExp(`checkpoint ${corrupt}: entry .*/data/0: CRC-32 mismatch`));

    const empty = join(dir, 'empty.pt');
    await writeFile(empty, '');
    await assert.rejects(loadObject(empty), new RegExp(`checkpoint ${empty}: not a PyTorch zip archive`));

    const missing = join(dir, 'missing.pt');
    await assert.rejects(loadObject(missing), new RegExp(`checkpoint ${missing}: ENOENT`));
  });
});

/** Every dtype, an empty tensor, a scalar, tied tensors and nested plain data. */
function sampleCheckpoint(): Value {
  const tied = fromFloat32Array([1, 2, 3, 4], [4]).data;
  return {
    weight: fromFloat32Array([0.5, -1.25, 3, 4, 5, 6], [2, 3]),
    steps: tensorData('int64', [], bytesOf(new BigInt64Array([-(2n ** 40n)]))),
    f64: tensorData('float64', [2], bytesOf(new Float64Array([Math.PI, -1e-300]))),
    f16: tensorData('float16', [2], bytesOf(new Uint16Array([0x3c00, 0xc000]))),
    bf16: tensorData('bfloat16', [2], bytesOf(new Uint16Array([0x3f80, 0xbfc0]))),
    i32: tensorData('int32', [2], bytesOf(new Int32Array([-1, 2 ** 31 - 1]))),
    i16: tensorData('int16', [1], bytesOf(new Int16Array([-300]))),
    i8: tensorData('int8', [2], bytesOf(new Int8Array([-128, 127]))),
    u8: tensorData('uint8', [1, 3], Uint8Array.from([0, 128, 255])),
    mask: tensorData('bool', [2], Uint8Array.from([1, 0])),
    empty: tensorData('float32', [0, 3], new Uint8Array(0)),
    tiedA: tensorData('float32', [4], tied),
    tiedB: tensorData('float32', [2, 2], tied),
    meta: { lr: new PyFloat(1), epoch: 5, name: 'ü ✓', flags: [true, false, null], big: 2n ** 70n, state: { '0': { m: 1.5 } } },
  };
}

test('saveObject then loadObject gives back every name, dtype, shape and value', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.pt');
    const value = sampleCheckpoint();
    await saveObject(value, path);
    const back = (await loadObject(path)) as Record<string, Value>;
    assert.deepEqual(describe(back), describe(value));
    const [a, b] = [back.tiedA, back.tiedB] as TensorData[];
    assert.equal(a.data.buffer, b.data.buffer, 'tied tensors come back sharing one storage');
    assert.deepEqual(await readdir(dir), ['model.pt'], 'no temporary file is left behind');
  });
});

test('views are saved as views and a .safetensors copy as dense tensors, with the same values', async () => {
  const views = (await loadObject(fixture('views.pt'))) as Record<string, TensorData>;
  await withTempDir(async (dir) => {
    await saveObject(views, join(dir, 'views.pt'));
    const again = (await loadObject(join(dir, 'views.pt'))) as Record<string, TensorData>;
    assert.deepEqual(again.expanded.strides, [0, 1]);
    assert.equal(again.expanded.data.byteLength, 16);
    await saveObject({ expanded: views.expanded, transposed: views.transposed }, join(dir, 'views.safetensors'));
    const dense = (await loadObject(join(dir, 'views.safetensors'))) as Record<string, TensorData>;
    for (const name of Object.keys(views)) assert.deepEqual([...asFloat32Array(again[name])], [...asFloat32Array(views[name])], name);
    for (const name of ['expanded', 'transposed']) {
      assert.equal(dense[name].strides, undefined);
      assert.deepEqual([...asFloat32Array(dense[name])], [...asFloat32Array(views[name])], name);
    }
  });
});

test('saveObject refuses tensors whose bytes do not match their shape', async () => {
  await withTempDir(async (dir) => {
    const bad: TensorData = { kind: 'tensor', dtype: 'float32', shape: [3], data: new Uint8Array(8) };
    await assert.rejects(
      saveObject({ bad }, join(dir, 'x.pt')),
      new RegExp(`checkpoint ${join(dir, 'x.pt')}: tensor of shape \\[3\\] and dtype float32 needs 12 bytes, got 8`),
    );
  });
});

test('a failed saveObject leaves an existing checkpoint untouched and no temporary file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.pt');
    await saveObject({ version: 1 }, path);
    const before = await readFile(path);
    // The tensors are pickled and checked first; a value that cannot be pickled fails before the rename.
    const bad = { weight: fromFloat32Array([1, 2], [2]), hook: (() => 0) as unknown as Value };
    await assert.rejects(saveObject(bad, path), /cannot serialise function/);
    assert.deepEqual(await readFile(path), before);
    assert.deepEqual(await readdir(dir), ['model.pt']);
    assert.deepEqual(await loadObject(path), { version: 1 });
  });
});

test('isTensorData tells tensors from dicts that look like them', () => {
  assert.ok(isTensorData(fromFloat32Array([1], [1])));
  assert.ok(!isTensorData({ kind: 'tensor', dtype: 'float32', shape: [1], data: [0, 0, 0, 0] }));
  assert.ok(!isTensorData(null));
});
