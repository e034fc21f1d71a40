/**
 * The safetensors format: an 8-byte little-endian header length, a JSON
 * header (`{name: {dtype, shape, data_offsets}}` plus an optional
 * `__metadata__` map of strings), then the raw little-endian tensor bytes.
 * It holds only flat tensor dicts and can run no code, which is why many
 * users share weights in it.
 */

import { open } from 'node:fs/promises';

import { writeFileAtomic } from './atomic.js';
import { inFile } from './errors.js';
import { checkTensorData, denseBytes, DTYPE_SIZE, numel, type DType, type TensorData } from './value.js';
import { fileSource } from './zip.js';

const DTYPE_NAMES: Readonly<Record<DType, string>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

const DTYPE_OF_NAME = new Map(Object.entries(DTYPE_NAMES).map(([dtype, name]) => [name, dtype as DType]));

const METADATA_KEY = '__metadata__';
/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
const MAX_HEADER_LENGTH = 100_000_000;

/** The contents of a safetensors file. */
export interface SafetensorsFile {
  tensors: Record<string, TensorData>;
  /** The free-form `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

function setKey<T>(object: Record<string, T>, key: string, value: T): void {
  // defineProperty, not assignment, so a tensor named "__proto__" stays a plain key.
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Reads a `.safetensors` file; errors name the file. */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  return inFile(path, async () => {
    const file = await open(path, 'r');
    try {
      const source = fileSource(file, (await file.stat()).size);
      if (source.size < 8) throw new Error('too short to be a safetensors file');
      const prefix = await source.read(0, 8);
      const headerLength = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
      if (headerLength > MAX_HEADER_LENGTH || 8 + headerLength > source.size) {
        throw new Error(`header length ${headerLength} exceeds the file (truncated or not a safetensors file)`);
      }
      let header: unknown;
      try {
        header = JSON.parse(new TextDecoder().decode(await source.read(8, headerLength)));
      } catch {
        throw new Error('header is not valid JSON (not a safetensors file?)');
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        throw new Error('header is not a JSON object');
      }
      const dataStart = 8 + headerLength;
      const result: SafetensorsFile = { tensors: {}, metadata: {} };
      const entries: ParsedEntry[] = [];
      for (const [name, entry] of Object.entries(header)) {
        if (name === METADATA_KEY) result.metadata = parseMetadata(entry);
        else entries.push(parseEntry(name, entry, source.size - dataStart));
      }
      checkNoOverlap(entries);
      for (const { name, dtype, shape, begin, end } of entries) {
        const data = await source.read(dataStart + begin, end - begin);
        setKey(result.tensors, name, { kind: 'tensor', dtype, shape, data });
      }
      return result;
    } finally {
      await file.close();
    }
  });
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new Error(`${METADATA_KEY} must map strings to strings`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry)) setKey(metadata, key, value as string);
  return metadata;
}

interface ParsedEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Refuses tensors whose byte ranges overlap, as the reference implementation
 * does: with overlaps, a small file could name its data many times over and
 * make the reader copy it again for each name.
 */
function checkNoOverlap(entries: readonly ParsedEntry[]): void {
  const byStart = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byStart.length; i++) {
    const [before, after] = [byStart[i - 1], byStart[i]];
    if (after.begin < before.end) {
      throw new Error(`tensors ${before.name} and ${after.name} overlap (data_offsets [${before.begin}, ${before.end}) and [${after.begin}, ${after.end}))`);
    }
  }
}

function parseEntry(name: string, entry: unknown, dataLength: number): ParsedEntry {
  const { dtype: dtypeName, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
  const dtype = typeof dtypeName === 'string' ? DTYPE_OF_NAME.get(dtypeName) : undefined;
  if (dtype === undefined) throw new Error(`tensor ${name}: unsupported dtype ${JSON.stringify(dtypeName)}`);
  const isIndexList = (v: unknown): v is number[] =>
    Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!isIndexList(shape)) throw new Error(`tensor ${name}: invalid shape`);
  if (!isIndexList(offsets) || offsets.length !== 2 || offsets[0] > offsets[1]) {
    throw new Error(`tensor ${name}: invalid data_offsets`);
  }
  const [begin, end] = offsets;
  if (end > dataLength) throw new Error(`tensor ${name}: data lies beyond the end of the file (truncated)`);
  if (end - begin !== numel(shape) * DTYPE_SIZE[dtype]) {
    throw new Error(`tensor ${name}: data_offsets span ${end - begin} bytes, shape [${shape.join(', ')}] needs ${numel(shape) * DTYPE_SIZE[dtype]}`);
  }
  return { name, dtype, shape, begin, end };
}

/** Writes `tensors` (and optional string `metadata`) to a `.safetensors` file, atomically. */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, TensorData>,
  metadata: Record<string, string> = {},
): Promise<void> {
  return inFile(path, async () => {
    if (Object.hasOwn(tensors, METADATA_KEY)) throw new Error(`a tensor cannot be named ${METADATA_KEY}`);
    for (const [name, tensor] of Object.entries(tensors)) {
      try {
        checkTensorData(tensor);
      } catch (error) {
        throw new Error(`tensor ${name}: ${(error as Error).message}`);
      }
    }
    if (!Object.values(metadata).every((v) => typeof v === 'string')) {
      throw new Error(`${METADATA_KEY} values must be strings`);
    }
    // Widest elements first keeps every tensor aligned to its element size, as the reference writer does.
    const order = Object.keys(tensors).sort((a, b) => DTYPE_SIZE[tensors[b].dtype] - DTYPE_SIZE[tensors[a].dtype]);
    const header: Record<string, unknown> = {};
    if (Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
    let offset = 0;
    // safetensors has no strides: a view is written dense
    const bytes = new Map(order.map((name) => [name, denseBytes(tensors[name])]));
    for (const name of order) {
      const { dtype, shape } = tensors[name];
      const length = bytes.get(name)!.byteLength;
      setKey(header, name, { dtype: DTYPE_NAMES[dtype], shape, data_offsets: [offset, offset + length] });
      offset += length;
    }
    // Space-padding the header to 8 bytes aligns the data section too.
    const text = new TextEncoder().encode(JSON.stringify(header));
    const json = new Uint8Array(Math.ceil(text.length / 8) * 8).fill(0x20);
    json.set(text);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
    await writeFileAtomic(path, async (write) => {
      await write(prefix);
      await write(json);
      for (const name of order) await write(bytes.get(name)!);
    });
  });
}
