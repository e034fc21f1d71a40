import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadObject, saveObject } from '../../src/io/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../../src/io/safetensors.js';
import { fromFloat32Array, tensorData, type TensorData } from '../../src/io/value.js';
import { bytesOf, describe, fixture, withTempDir } from './helpers.js';

const expected = JSON.parse(await readFile(fixture('expected.json'), 'utf8'))['tensors.safetensors'];

test('loadSafetensors reads a file written by hand in Python, metadata included', async () => {
  const file = await loadSafetensors(fixture('tensors.safetensors'));
  assert.deepEqual(describe(file.tensors), expected.tensors);
  assert.deepEqual(file.metadata, expected.metadata);
});

test('loadObject dispatches .safetensors to the safetensors reader', async () => {
  assert.deepEqual(describe(await loadObject(fixture('tensors.safetensors'))), expected.tensors);
});

test('safetensors round trip keeps names, dtypes, shapes, values and metadata; data stays aligned', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'w.safetensors');
    const tensors: Record<string, TensorData> = {
      mask: tensorData('bool', [3], Uint8Array.from([1, 0, 1])),
      weight: fromFloat32Array([1, 2, 3, 4, 5, 6], [2, 3]),
      step: tensorData('int64', [], bytesOf(new BigInt64Array([7n]))),
      half: tensorData('float16', [1], bytesOf(new Uint16Array([0x3c00]))),
    };
    await saveSafetensors(path, tensors, { format: 'pt' });
    const back = await loadSafetensors(path);
    assert.deepEqual(describe(back.tensors), describe(tensors));
    assert.deepEqual(back.metadata, { format: 'pt' });

    const bytes = await readFile(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + headerLength) % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString());
    for (const name of Object.keys(tensors)) {
      const [begin] = header[name].data_offsets as number[];
      assert.equal(begin % ({ BOOL: 1, F32: 4, I64: 8, F16: 2 } as Record<string, number>)[header[name].dtype], 0, name);
    }

    await saveObject(tensors, join(dir, 'via-save-object.safetensors'));
    assert.deepEqual(describe(await loadObject(join(dir, 'via-save-object.safetensors'))), describe(tensors));
  });
});

test('saveObject refuses nested values for .safetensors, naming the file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'x.safetensors');
    await assert.rejects(
      saveObject({ a: { b: fromFloat32Array([1], [1]) } }, path),
      new RegExp(`checkpoint ${path}: a .safetensors file can only hold a flat object of tensors`),
    );
  });
});

test('safetensors errors name the file: truncated data, bad header, bad dtype', async () => {
  await withTempDir(async (dir) => {
    const original = await readFile(fixture('tensors.safetensors'));
    const truncated = join(dir, 'truncated.safetensors');
    await writeFile(truncated, original.subarray(0, original.length - 4));
    await assert.rejects(loadSafetensors(truncated), new RegExp(`checkpoint ${truncated}: tensor \\w+: data lies beyond the end of the file`));

    const notJson = join(dir, 'not-json.safetensors');
    await writeFile(notJson, Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]));
    await assert.rejects(loadSafetensors(notJson), new RegExp(`checkpoint ${notJson}: header is not valid JSON`));

    const huge = join(dir, 'huge.safetensors');
    await writeFile(huge, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]));
    await assert.rejects(loadSafetensors(huge), /header length 4294967295 exceeds the file/);

    const badDtype = join(dir, 'bad-dtype.safetensors');
    const header = Buffer.from(JSON.stringify({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    await writeFile(badDtype, Buffer.concat([prefix, header, Buffer.alloc(8)]));
    await assert.rejects(loadSafetensors(badDtype), /tensor x: unsupported dtype "C64"/);
  });
});
