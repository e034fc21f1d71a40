/**
 * Checkpoints built to hurt the loader: each either loads within a byte
 * budget tied to its size or is refused with a CheckpointError naming the
 * file, quickly, without the process running out of heap or stack.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { ByteBudget, defaultLoadLimit } from '../../src/io/budget.js';
import { loadObject } from '../../src/io/checkpoint.js';
import { CheckpointError } from '../../src/io/errors.js';
import { unpickle } from '../../src/io/pickle.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { ZipReader, bytesSource } from '../../src/io/zip.js';
import { asFloat32Array, type TensorData } from '../../src/io/value.js';
import { memory } from '../../src/tensor/runtime.js';
import { fromValue } from '../../src/tensor/serialize.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { checkpointArchive, concat, floats, storedZip, tensorRecord, u32 } from './hostile.js';
import { withTempDir } from './helpers.js';

const noGlobals = {
  findGlobal: (module: string, name: string) => assert.fail(`unexpected global ${module}.${name}`),
  persistentLoad: () => assert.fail('unexpected persistent id'),
};

/** Writes `bytes` to `name` in a temporary folder and loads it with a fresh budget, which it returns too. */
async function load(bytes: Uint8Array, name = 'hostile.pt'): Promise<{ value: unknown; budget: ByteBudget }> {
  return withTempDir(async (dir) => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    const budget = new ByteBudget(defaultLoadLimit(bytes.length));
    return { value: await loadObject(path, { budget }), budget };
  });
}

/** Expects loading `bytes` to be refused with a CheckpointError naming the file and matching `reason`. */
async function expectRefused(bytes: Uint8Array, reason: RegExp): Promise<ByteBudget> {
  return withTempDir(async (dir) => {
    const path = join(dir, 'hostile.pt');
    await writeFile(path, bytes);
    const budget = new ByteBudget(defaultLoadLimit(bytes.length));
    await assert.rejects(loadObject(path, { budget }), (error: Error) => {
      assert.ok(error instanceof CheckpointError, `${error.name}: ${error.message}`);
      assert.ok(error.message.startsWith(`checkpoint ${path}: `), error.message);
      assert.match(error.message, reason);
      return true;
    });
    return budget;
  });
}

/** A pickle of nested lists, each holding its inner list twice through the memo: 2^levels paths to the innermost. */
function sharedPairs(levels: number): Uint8Array {
  const parts: (number | string | Uint8Array)[] = [0x80, 2, ']', 'q', 0, '0'];
  for (let i = 1; i <= levels; i++) parts.push(']', '(', 'h', i - 1, 'h', i - 1, 'e', 'q', i, '0');
  parts.push('h', levels, '.');
  return concat(...parts);
}

test('a list shared through the memo comes back as one object, referenced twice at every level', async () => {
  const { value } = await load(checkpointArchive(sharedPairs(12)));
  let level = value as unknown[];
  for (let i = 12; i > 0; i--) {
    assert.equal(level.length, 2);
    assert.equal(level[0], level[1], `level ${i}: both items are the same list, not copies`);
    level = level[0] as unknown[];
  }
  assert.deepEqual(level, []);
});

test('a few hundred bytes sharing one list 2^40 ways are refused, naming the file', async () => {
  const bytes = checkpointArchive(sharedPairs(40));
  assert.ok(bytes.length < 1000);
  await expectRefused(bytes, /expands to more than \d+ values/);
});

test('a list or dict that contains itself is refused, naming the file', async () => {
  await expectRefused(checkpointArchive(concat(0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.')), /holds a tuple or list that contains itself/);
  const dict = concat(0x80, 2, '}', 'q', 0, 'X', u32(4), 'self', 'h', 0, 's', '.');
  await expectRefused(checkpointArchive(dict), /holds a dict that contains itself/);
});

test('lists nested 100000 deep are refused by depth, not by a stack overflow', async () => {
  const depth = 100_000;
  const pickle = concat(0x80, 2, ']'.repeat(depth), 'a'.repeat(depth - 1), '.');
  await expectRefused(checkpointArchive(pickle), /nests deeper than 1000 levels/);
});

test('a stride-0 tensor of 2^27 elements over a 4-element storage stays a view of its 16 bytes, in the file and in libtorch', async () => {
  const before = memory().numTensors;
  const { value, budget } = await load(checkpointArchive(tensorRecord({ shape: [2 ** 27], strides: [0] }, 4), { '0': floats([1, 2, 3, 4]) }));
  const view = value as TensorData;
  assert.deepEqual(view.strides, [0]);
  assert.equal(view.data.byteLength, 4, 'the view holds the one element it reaches');
  assert.ok(budget.used < 4096, `only the pickle, its objects and 4 bytes of storage were charged (used ${budget.used} bytes)`);
  const t = fromValue(view) as Tensor;
  try {
    assert.deepEqual(t.shape, [2 ** 27]);
    assert.equal(t.isContiguous(), false, 'libtorch holds it as a view, as torch.load does');
    const tail = t.slice(0, 2 ** 27 - 3, 2 ** 27);
    assert.deepEqual([...(tail.toArray() as Float32Array)], [1, 1, 1]);
    tail.dispose();
  } finally {
    t.dispose();
  }
  assert.equal(memory().numTensors, before);
});

test('a small broadcast (stride-0) tensor loads as a view, each row the storage', async () => {
  // as torch.tensor([1., 2, 3, 4]).expand(3, 4); views.pt holds one that torch.save wrote
  const { value, budget } = await load(checkpointArchive(tensorRecord({ shape: [3, 4], strides: [0, 1] }, 4), { '0': floats([1, 2, 3, 4]) }));
  const tensor = value as TensorData;
  assert.deepEqual(tensor.shape, [3, 4]);
  assert.deepEqual([...asFloat32Array(tensor)], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
  assert.equal(tensor.data.byteLength, 16, 'the view holds its storage, not 12 elements');
  assert.ok(budget.used >= 16 + 16, 'the storage and the bytes the view spans are charged');
});

test('a megabyte of one-byte "new list" opcodes is refused by the budget, not by the heap running out', async () => {
  // [[], [], ...]: a million empty lists, some 60 MB of heap from a 1 MB file
  const lists = 1_000_000;
  const budget = await expectRefused(checkpointArchive(concat(0x80, 2, ']', '(', ']'.repeat(lists), 'e', '.')), /the objects of archive\/data\.pkl needs 64 bytes, beyond the loader's budget/);
  assert.ok(budget.used <= defaultLoadLimit(lists + 200));
});

test('a pickle that appends to a tensor\'s shape after building it does not change the tensor', async () => {
  const pickle = concat(
    0x80, 2, 'ctorch._utils\n_rebuild_tensor_v2\n', '(',
    '(', 'X', u32(7), 'storage', 'ctorch\nFloatStorage\n', 'X', u32(1), '0', 'X', u32(3), 'cpu', 'K', 4, 't', 'Q',
    'K', 0, ']', 'q', 1, '(', 'K', 4, 'e', ']', '(', 'K', 1, 'e', 0x89, 'ccollections\nOrderedDict\n', ')', 'R', 't', 'R',
    'h', 1, 'K', 2, 'a', '0', // shape.append(2), on the list the tensor was built from
    '.',
  );
  const { value } = await load(checkpointArchive(pickle, { '0': floats([1, 2, 3, 4]) }));
  const tensor = value as TensorData;
  assert.deepEqual(tensor.shape, [4]);
  assert.deepEqual([...asFloat32Array(tensor)], [1, 2, 3, 4]);
});

test('a central directory naming one stored entry 300 times is refused as overlapping entries', async () => {
  const storage = new Uint8Array(64 * 1024);
  const aliases = Array.from({ length: 300 }, (_, i) => ({ name: `archive/data/${i + 1}`, of: 'archive/data/0' }));
  const bytes = checkpointArchive(tensorRecord({ shape: [4], strides: [1] }, storage.length / 4), { '0': storage }, aliases);
  await expectRefused(bytes, /corrupt zip archive: entries archive\/data\/\d+ and archive\/data\/\d+ overlap/);
  await assert.rejects(ZipReader.open(bytesSource(bytes)), /overlap/);
});

test('a zip naming the same entry twice is refused', async () => {
  const data = new TextEncoder().encode('x');
  const bytes = storedZip([
    { name: 'archive/data.pkl', data },
    { name: 'archive/data.pkl', data },
  ]);
  await assert.rejects(ZipReader.open(bytesSource(bytes)), /entry archive\/data\.pkl is listed twice/);
});

test('only the storages the pickle uses are read: an unused, corrupt one is never touched', async () => {
  const unused = new Uint8Array(1 << 20);
  const bytes = checkpointArchive(tensorRecord({ shape: [2], strides: [1] }, 2), { '0': floats([5, 6]), '1': unused });
  // Corrupt the unused storage's data: reading it would fail its CRC-32 check.
  const at = Buffer.from(bytes).indexOf('archive/data/1') + 'archive/data/1'.length;
  bytes[at + 100] ^= 0xff;
  const { value, budget } = await load(bytes);
  assert.deepEqual([...asFloat32Array(value as TensorData)], [5, 6]);
  assert.ok(budget.used < 4096, `the 1 MiB unused storage is not charged (used ${budget.used} bytes)`);
});

test('overlapping safetensors ranges are refused, naming the file', async () => {
  await withTempDir(async (dir) => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) header[`t${i}`] = { dtype: 'F32', shape: [1024], data_offsets: [0, 4096] };
    const json = Buffer.from(JSON.stringify(header));
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
    const path = join(dir, 'aliased.safetensors');
    await writeFile(path, concat(prefix, json, new Uint8Array(4096)));
    await assert.rejects(loadSafetensors(path), (error: Error) => {
      assert.ok(error instanceof CheckpointError);
      assert.match(error.message, new RegExp(`^checkpoint ${path}: tensors t\\d+ and t\\d+ overlap`));
      return true;
    });
  });
});

test('a LONG4 integer of 4 MB decodes, with its sign, to the exact bigint', () => {
  const length = 4 * 1024 * 1024;
  const long4 = (bytes: Uint8Array) => unpickle(concat(0x80, 2, 0x8b, u32(bytes.length), bytes, '.'), noGlobals);
  const top = new Uint8Array(length);
  top[length - 1] = 0x40;
  assert.equal(long4(top), 1n << BigInt(8 * length - 2));
  assert.equal(long4(new Uint8Array(length).fill(0xff)), -1, '-1 in 4 MB of two\'s complement is a safe number');
  const pattern = new Uint8Array(length).fill(0xa5);
  // 0xa5a5...a5 (negative: top bit set) = -(0x5a5a...5b)
  const magnitude = BigInt(`0x${'5a'.repeat(length - 1)}5b`);
  assert.equal(long4(pattern), -magnitude);
});
