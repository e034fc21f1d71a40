/** The protobuf encoder: nested messages as protobuf writes them, each byte copied once into the result. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ProtoWriter } from '../../src/export/protobuf.js';

test('nested messages, packed ints and strings encode as protobuf does', () => {
  const bytes = new ProtoWriter()
    .int(1, 8)
    .message(2, (a) => a.string(1, 'ab').message(3, (b) => b.packedInts(1, [1, 300]).int(2, -1)))
    .finish();
  // field 1 varint 8; field 2 (len 22): field 1 "ab", field 3 (len 16): field 1 packed [1, 300], field 2 -1 as ten bytes
  const expected = [
    0x08, 0x08,
    0x12, 22,
    0x0a, 2, 0x61, 0x62,
    0x1a, 16,
    0x0a, 3, 0x01, 0xac, 0x02,
    0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
  ];
  assert.deepEqual([...bytes], expected);
});

test('an empty nested message is a zero length; a lone bytes field returns its bytes', () => {
  assert.deepEqual([...new ProtoWriter().message(5, () => {}).finish()], [0x2a, 0]);
  const raw = new Uint8Array([1, 2, 3]);
  assert.deepEqual([...new ProtoWriter().bytes(1, raw).finish()], [0x0a, 3, 1, 2, 3]);
});
