import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Pickler, PyCallable, unpickle, type UnpickleHooks } from '../../src/io/pickle.js';
import { PyFloat, type Value } from '../../src/io/value.js';

const refuseAll: UnpickleHooks = {
  findGlobal: (module, name) => {
    throw new Error(`refusing global ${module}.${name}`);
  },
  persistentLoad: () => {
    throw new Error('no persistent ids');
  },
};

function roundTrip(value: Value): unknown {
  const pickler = new Pickler(() => assert.fail('no tensors here'));
  pickler.dump(value);
  return unpickle(pickler.finish(), refuseAll);
}

test('pickle round trip of ints at every encoding boundary', () => {
  const ints = [0, 1, 255, 256, 65535, 65536, -1, -256, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53 - 1)];
  assert.deepEqual(roundTrip(ints), ints);
  const big = [2n ** 53n, -(2n ** 53n), 2n ** 70n, -(2n ** 70n), 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n];
  assert.deepEqual(roundTrip(big), big);
  assert.deepEqual(roundTrip([5n, 128n, -129n]), [5, 128, -129], 'bigints in the safe range read back as numbers');
});

test('pickle round trip of floats, strings, booleans, None and nesting', () => {
  const value: Value = {
    floats: [0.1, -2.5, 1e-300, Infinity, -Infinity, new PyFloat(3)],
    strings: ['', 'ascii', 'ü ✓ 𝔘', 'a'.repeat(70000)],
    flags: [true, false, null],
    nested: { a: { b: [[], {}] } },
  };
  const expected = { ...value, floats: [0.1, -2.5, 1e-300, Infinity, -Infinity, 3] };
  assert.deepEqual(roundTrip(value), expected);
  assert.ok(Number.isNaN((roundTrip([NaN]) as number[])[0]));
  assert.ok(Object.is((roundTrip([-0]) as number[])[0], -0), '-0 is written as a float');
});

test('pickle keeps a key named __proto__ as a plain key', () => {
  const value = JSON.parse('{"__proto__": 1, "x": 2}') as Value;
  const back = roundTrip(value) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ['__proto__', 'x']);
});

test('pickle writes canonical integer keys as ints, which read back as strings', () => {
  const pickler = new Pickler(() => {});
  pickler.dump({ '0': 'a', '12': 'b', '-3': 'c', '007': 'd', x: 'e' });
  const bytes = pickler.finish();
  // Keys 0, 12 and -3 are BININT1/BININT opcodes (K, J); '007' and 'x' are strings (X).
  assert.ok(Buffer.from(bytes).includes(Buffer.from('X\x03\x00\x00\x00007', 'latin1')));
  assert.deepEqual(unpickle(bytes, refuseAll), { '0': 'a', '12': 'b', '-3': 'c', '007': 'd', x: 'e' });
});

test('pickle writes lists and dicts of more than 1000 items in batches', () => {
  const list = Array.from({ length: 2500 }, (_, i) => i);
  const dict = Object.fromEntries(list.map((i) => [`k${i}`, i]));
  assert.deepEqual(roundTrip({ list, dict }), { list, dict });
});

test('pickle refuses values it cannot represent and cycles', () => {
  const pickler = new Pickler(() => {});
  assert.throws(() => pickler.dump({ f: (() => 1) as unknown as Value }), /cannot serialise function/);
  assert.throws(() => pickler.dump(new Map() as unknown as Value), /cannot serialise/);
  const cyclic: Value[] = [];
  cyclic.push(cyclic);
  assert.throws(() => new Pickler(() => {}).dump(cyclic), /contains itself/);
});

test('unpickler asks the allow-list for every global and only calls PyCallables', () => {
  const pickle = Buffer.from('\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.', 'latin1');
  assert.throws(() => unpickle(pickle, refuseAll), /refusing global os\.system/);
  const asData: UnpickleHooks = { ...refuseAll, findGlobal: () => 'not callable' };
  assert.throws(() => unpickle(pickle, asData), /refusing to call string/);
  const callable: UnpickleHooks = { ...refuseAll, findGlobal: (m, n) => new PyCallable(`${m}.${n}`, (args) => args.length) };
  assert.equal(unpickle(pickle, callable), 1);
});

test('unpickler reports unknown opcodes, truncation and corrupt stacks', () => {
  assert.throws(() => unpickle(Buffer.from('\x80\x02S"x"\n.', 'latin1'), refuseAll), /unsupported pickle opcode 0x53 at byte 2/);
  assert.throws(() => unpickle(Buffer.from('\x80\x02X\x05\x00\x00\x00ab', 'latin1'), refuseAll), /truncated/);
  assert.throws(() => unpickle(Buffer.from('\x80\x02]', 'latin1'), refuseAll), /truncated/);
  assert.throws(() => unpickle(Buffer.from('\x80\x02t.', 'latin1'), refuseAll), /missing MARK/);
  assert.throws(() => unpickle(Buffer.from('\x80\x02h\x05.', 'latin1'), refuseAll), /memo 5 missing/);
  assert.throws(() => unpickle(Buffer.from('\x80\x02K\x01}b.', 'latin1'), refuseAll), /refusing to set the state of number/);
});
