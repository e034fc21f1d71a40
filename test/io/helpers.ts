/** Shared helpers of the checkpoint tests. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { denseBytes, isTensorData, PyFloat, type Value } from '../../src/io/value.js';

/** Tests run from dist/test/io/, so fixtures are found from the repository root. */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/io/', import.meta.url));

/** Absolute path of fixture `name`. */
export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/**
 * The JSON form tools/make_io_fixtures.py writes into expected.json: tensors
 * as {__tensor__: {dtype, shape, hex}} (hex of the row-major bytes, views included), unsafe integers as {__bigint__}.
 */
export function describe(value: Value): unknown {
  if (isTensorData(value)) {
    const { dtype, shape } = value;
    const data = denseBytes(value);
    return { __tensor__: { dtype, shape, hex: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex') } };
  }
  if (typeof value === 'bigint') return { __bigint__: String(value) };
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(describe);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, describe(v)]));
  }
  return value;
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'patho-io-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Little-endian bytes of a typed array, for building TensorData in tests. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength));
}
