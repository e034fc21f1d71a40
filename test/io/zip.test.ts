import assert from 'node:assert/strict';
import { test } from 'node:test';

import { crc32 } from '../../src/io/crc32.js';
import { bytesSource, ZipReader, ZipWriter, type ZipWriterOptions } from '../../src/io/zip.js';

async function archive(entries: Record<string, Uint8Array>, options?: ZipWriterOptions): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const writer = new ZipWriter(async (chunk) => void chunks.push(chunk.slice()), options);
  for (const [name, data] of Object.entries(entries)) await writer.add(name, data);
  await writer.finish();
  return new Uint8Array(Buffer.concat(chunks));
}

const entries = {
  'archive/data.pkl': new TextEncoder().encode('pickle bytes'),
  'archive/data/0': Uint8Array.from({ length: 300 }, (_, i) => i % 251),
  'archive/empty': new Uint8Array(0),
};

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

for (const forceZip64 of [false, true]) {
  test(`zip round trip of 3 stored entries (forceZip64 ${forceZip64})`, async () => {
    const bytes = await archive(entries, { forceZip64 });
    const reader = await ZipReader.open(bytesSource(bytes));
    assert.deepEqual([...reader.entries.keys()], Object.keys(entries));
    for (const [name, data] of Object.entries(entries)) assert.deepEqual(await reader.read(name), data);
  });

  test(`zip entry data starts on a 64-byte boundary (forceZip64 ${forceZip64})`, async () => {
    const bytes = await archive(entries, { forceZip64 });
    const view = new DataView(bytes.buffer);
    const reader = await ZipReader.open(bytesSource(bytes));
    for (const entry of reader.entries.values()) {
      const start = entry.headerOffset + 30 + view.getUint16(entry.headerOffset + 26, true) + view.getUint16(entry.headerOffset + 28, true);
      assert.equal(start % 64, 0, entry.name);
    }
  });
}

test('zip reader refuses data whose CRC-32 does not match', async () => {
  const bytes = await archive(entries);
  const reader = await ZipReader.open(bytesSource(bytes));
  const { headerOffset } = reader.entries.get('archive/data/0')!;
  const view = new DataView(bytes.buffer);
  const start = headerOffset + 30 + view.getUint16(headerOffset + 26, true) + view.getUint16(headerOffset + 28, true);
  bytes[start + 10] ^= 0xff;
  await assert.rejects(reader.read('archive/data/0'), /entry archive\/data\/0: CRC-32 mismatch/);
  assert.deepEqual(await reader.read('archive/data.pkl'), entries['archive/data.pkl']);
});

test('zip reader names what is wrong with truncated, foreign and compressed archives', async () => {
  const bytes = await archive(entries);
  await assert.rejects(ZipReader.open(bytesSource(bytes.subarray(0, bytes.length - 10))), /end of central directory not found/);
  await assert.rejects(ZipReader.open(bytesSource(new Uint8Array(100))), /end of central directory not found/);

  // Cutting off the data but keeping the end record leaves a directory pointing past the end.
  const tail = bytes.subarray(bytes.length - 22);
  await assert.rejects(ZipReader.open(bytesSource(tail)), /central directory is past the end/);

  const compressed = bytes.slice();
  const view = new DataView(compressed.buffer);
  const directoryOffset = view.getUint32(compressed.length - 6, true);
  view.setUint16(directoryOffset + 10, 8, true);
  await assert.rejects(ZipReader.open(bytesSource(compressed)), /entry archive\/data.pkl is compressed \(method 8\)/);

  const reader = await ZipReader.open(bytesSource(bytes));
  await assert.rejects(reader.read('archive/missing'), /missing entry archive\/missing/);
});
