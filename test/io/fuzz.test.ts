/**
 * Seeded random mutations of real checkpoints (committed fixtures that
 * torch.save wrote): bit flips, truncations, insertions, interesting
 * integers, and mutations that know the format, edits of the central
 * directory, aliased entries, and a pickle or storage changed inside an
 * archive rebuilt with correct CRCs, so the mutation reaches the unpickler.
 * Every case must either load or be refused with a CheckpointError naming
 * the file, having charged at most its budget, and a loaded value must be
 * covered by what was charged. The seed and case number of a failure
 * reproduce it.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { ByteBudget, defaultLoadLimit } from '../../src/io/budget.js';
import { loadObject } from '../../src/io/checkpoint.js';
import { loadSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';
import { CheckpointError } from '../../src/io/errors.js';
import { DTYPE_SIZE, isTensorData, numel } from '../../src/io/value.js';
import { bytesSource, ZipReader, ZipWriter } from '../../src/io/zip.js';
import { fixture, withTempDir } from './helpers.js';
import { concat } from './hostile.js';

const SEED = 0x5eed15;
/** Sized so the whole file runs in well under a minute on a shared 2-core machine. */
const CASES_PER_BASE = 800;
const BASES = ['state_dict.pt', 'optimizer.pt', 'views.pt'];
const SAFETENSORS_CASES = 400;

/** mulberry32: a small seeded generator, so every run mutates the same way. */
function generator(seed: number): { next: () => number; int: (n: number) => number; pick: <T>(items: readonly T[]) => T } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)] };
}
type Random = ReturnType<typeof generator>;

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** Bytes with random changes anywhere, knowing nothing of the format. */
function blindMutation(bytes: Uint8Array, r: Random): { bytes: Uint8Array; how: string } {
  const out = Uint8Array.from(bytes);
  const at = r.int(bytes.length);
  switch (r.int(5)) {
    case 0: {
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) out[r.int(out.length)] ^= 1 << r.int(8);
      return { bytes: out, how: `flip ${flips} bits` };
    }
    case 1:
      return { bytes: out.subarray(0, at), how: `truncate to ${at}` };
    case 2: {
      const inserted = Uint8Array.from({ length: 1 + r.int(64) }, () => r.int(256));
      return { bytes: concat(out.subarray(0, at), inserted, out.subarray(at)), how: `insert ${inserted.length} at ${at}` };
    }
    case 3: {
      const length = 1 + r.int(64);
      return { bytes: concat(out.subarray(0, at), out.subarray(at + length)), how: `delete ${length} at ${at}` };
    }
    default:
      writeInteresting(out, at, r);
      return { bytes: out, how: `interesting int at ${at}` };
  }
}

function writeInteresting(bytes: Uint8Array, at: number, r: Random): void {
  const value = r.next() < 0.2 ? r.int(2 ** 32) : r.pick(INTERESTING);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = r.pick([1, 2, 4]);
  if (at + width > bytes.length) return;
  if (width === 1) view.setUint8(at, value & 0xff);
  else if (width === 2) view.setUint16(at, value & 0xffff, true);
  else view.setUint32(at, value >>> 0, true);
}

/** Offsets of the central-directory records and of the end record of an unmutated archive. */
function centralRecords(bytes: Uint8Array): { records: number[]; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (view.getUint32(end, true) !== 0x06054b50) end--;
  const records: number[] = [];
  for (let p = view.getUint32(end + 16, true); p < end && view.getUint32(p, true) === 0x02014b50; ) {
    records.push(p);
    p += 46 + view.getUint16(p + 28, true) + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
  return { records, end };
}

/** Central directory edits: one field of one record or of the end record, or a record listed twice. */
function zipMutation(bytes: Uint8Array, r: Random): { bytes: Uint8Array; how: string } {
  const { records, end } = centralRecords(bytes);
  const out = Uint8Array.from(bytes);
  const view = new DataView(out.buffer);
  const record = r.pick(records);
  if (r.next() < 0.25) {
    const length = (records[records.indexOf(record) + 1] ?? end) - record;
    const copy = out.slice(record, record + length);
    const grown = concat(out.subarray(0, end), copy, out.subarray(end));
    const g = new DataView(grown.buffer);
    const e = end + length;
    g.setUint16(e + 8, g.getUint16(e + 8, true) + 1, true);
    g.setUint16(e + 10, g.getUint16(e + 10, true) + 1, true);
    g.setUint32(e + 12, g.getUint32(e + 12, true) + length, true);
    return { bytes: grown, how: `list the record at ${record} twice` };
  }
  if (r.next() < 0.2) {
    const field = r.pick([8, 10, 12, 16]);
    writeInteresting(out, end + field, r);
    return { bytes: out, how: `end record field +${field}` };
  }
  const field = r.pick([8, 10, 16, 20, 24, 28, 30, 32, 42]);
  if (field === 42 && r.next() < 0.5) {
    // point at another entry's local header: an alias
    view.setUint32(record + 42, view.getUint32(r.pick(records) + 42, true), true);
    return { bytes: out, how: `record at ${record} aliases another entry` };
  }
  writeInteresting(out, record + field, r);
  return { bytes: out, how: `record at ${record} field +${field}` };
}

interface Archive {
  names: string[];
  data: Map<string, Uint8Array>;
}

async function readArchive(bytes: Uint8Array): Promise<Archive> {
  const zip = await ZipReader.open(bytesSource(bytes));
  const data = new Map<string, Uint8Array>();
  for (const name of zip.entries.keys()) data.set(name, await zip.read(name));
  return { names: [...zip.entries.keys()], data };
}

/** Writes the archive again with the product's ZipWriter, so CRCs and offsets are right. */
async function writeArchive(archive: Archive): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const writer = new ZipWriter(async (chunk) => void chunks.push(Uint8Array.from(chunk)));
  for (const name of archive.names) await writer.add(name, archive.data.get(name)!);
  await writer.finish();
  return concat(...chunks);
}

/** The pickle or a storage mutated inside a valid archive, so the change reaches the unpickler and the tensor checks. */
async function contentMutation(archive: Archive, r: Random): Promise<{ bytes: Uint8Array; how: string }> {
  const pickleName = archive.names.find((n) => n.endsWith('/data.pkl'))!;
  const storages = archive.names.filter((n) => /\/data\/\d+$/.test(n));
  const data = new Map(archive.data);
  let names = archive.names;
  let how: string;
  if (r.next() < 0.75) {
    const pickle = data.get(pickleName)!;
    let mutated: Uint8Array;
    if (r.next() < 0.3) {
      // copy a slice of the pickle elsewhere: repeats opcodes, memo puts and gets with their arguments
      const from = r.int(pickle.length);
      const slice = pickle.slice(from, from + 1 + r.int(32));
      const to = r.int(pickle.length);
      mutated = concat(pickle.subarray(0, to), slice, pickle.subarray(to));
      how = `pickle: copy ${slice.length} bytes from ${from} to ${to}`;
    } else {
      const blind = blindMutation(pickle, r);
      mutated = blind.bytes;
      how = `pickle: ${blind.how}`;
    }
    data.set(pickleName, mutated);
  } else {
    const name = r.pick(storages);
    const storage = data.get(name)!;
    const choice = r.int(3);
    if (choice === 0) {
      data.set(name, storage.subarray(0, r.int(storage.length)));
      how = `${name}: truncated`;
    } else if (choice === 1) {
      data.set(name, concat(storage, new Uint8Array(1 + r.int(8))));
      how = `${name}: grown`;
    } else {
      names = names.filter((n) => n !== name);
      how = `${name}: removed`;
    }
  }
  return { bytes: await writeArchive({ names, data }), how };
}

/** Dense bytes of the distinct tensors in a loaded value: what the addon would copy. */
function tensorBytes(value: unknown, seen = new Set<object>()): number {
  if (typeof value !== 'object' || value === null || seen.has(value)) return 0;
  seen.add(value);
  if (isTensorData(value)) return numel(value.shape) * DTYPE_SIZE[value.dtype];
  return Object.values(value).reduce((n: number, v) => n + tensorBytes(v, seen), 0);
}

/** Walks a value as a tree, as JSON.stringify would, giving up past `limit` nodes. */
function treeSize(value: unknown, limit: number): number {
  let count = 0;
  const walk = (v: unknown): void => {
    if (++count > limit) throw new Error(`the loaded value has more than ${limit} nodes as a tree`);
    if (typeof v === 'object' && v !== null && !isTensorData(v)) for (const item of Object.values(v)) walk(item);
  };
  walk(value);
  return count;
}

/** A refusal's kind, for the summary: names and numbers generalised, the first words kept. */
function reasonOf(message: string): string {
  const general = message.replace(/[^\x20-\x7e]/g, '?').replace(/\S*\/\S*/g, '<entry>').replace(/\d+/g, 'N');
  return general.split(' ').slice(0, 5).join(' ');
}

test(`${BASES.length * CASES_PER_BASE} seeded mutations of real checkpoints each load or are refused with a CheckpointError, within the budget`, async (t) => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'mutant.pt');
    const outcomes = new Map<string, number>();
    let loaded = 0;
    let worstRatio = 0;
    for (const [b, base] of BASES.entries()) {
      const original = new Uint8Array(await readFile(fixture(base)));
      const archive = await readArchive(original);
      const r = generator(SEED + b);
      for (let i = 0; i < CASES_PER_BASE; i++) {
        const kind = r.next();
        const { bytes, how } =
          kind < 0.4 ? blindMutation(original, r) : kind < 0.6 ? zipMutation(original, r) : await contentMutation(archive, r);
        const label = `${base} case ${i} (seed ${SEED + b}): ${how}`;
        await writeFile(path, bytes);
        const budget = new ByteBudget(defaultLoadLimit(bytes.length));
        let value: unknown;
        try {
          value = await loadObject(path, { budget });
        } catch (error) {
          assert.ok(error instanceof CheckpointError, `${label}: threw ${(error as Error).stack}`);
          assert.ok(error.message.startsWith(`checkpoint ${path}: `), `${label}: ${error.message}`);
          // a TypeError or RangeError underneath is a bug of ours (a read out of bounds, a missing check), not a message for users
          assert.ok(!(error.cause instanceof TypeError || error.cause instanceof RangeError), `${label}: ${(error.cause as Error)?.stack}`);
          const reason = reasonOf(error.message.slice(`checkpoint ${path}: `.length));
          outcomes.set(reason, (outcomes.get(reason) ?? 0) + 1);
          continue;
        }
        loaded++;
        assert.ok(budget.used <= budget.limit, label);
        assert.ok(tensorBytes(value) <= budget.used, `${label}: the budget counted the tensors it returned`);
        treeSize(value, 1_000_000 + bytes.length);
        worstRatio = Math.max(worstRatio, budget.used / bytes.length);
      }
    }
    const refusals = [...outcomes].sort((a, b) => b[1] - a[1]);
    t.diagnostic(`loaded ${loaded}; most bytes charged per byte of file: ${worstRatio.toFixed(2)}`);
    for (const [reason, count] of refusals.slice(0, 25)) t.diagnostic(`${count} refused: ${reason}`);
    t.diagnostic(`${refusals.slice(25).reduce((n, [, count]) => n + count, 0)} refused for ${refusals.length - 25} other reasons`);
    // The mutations reach every layer: some load, and refusals come from the zip reader, the unpickler and the tensor checks.
    assert.ok(loaded > 0);
    for (const layer of [/zip/, /pickle/, /tensor|storage/]) {
      assert.ok(refusals.some(([reason]) => layer.test(reason)), `no refusal matched ${layer}`);
    }
  });
});

/** Safetensors header edits: a number of the JSON header replaced by an interesting one. */
function headerMutation(bytes: Uint8Array, r: Random): { bytes: Uint8Array; how: string } {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('latin1');
  const numbers = [...header.matchAll(/\d+/g)];
  const target = r.pick(numbers);
  const value = String(r.next() < 0.5 ? r.pick(INTERESTING) : r.int(1024));
  const edited = header.slice(0, target.index) + value + header.slice(target.index! + target[0].length);
  const json = Buffer.from(edited.padEnd(Math.ceil(edited.length / 8) * 8, ' '), 'latin1');
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  return { bytes: concat(prefix, json, bytes.subarray(8 + headerLength)), how: `header number at ${target.index} -> ${value}` };
}

test(`${SAFETENSORS_CASES} seeded mutations of a safetensors file each load or are refused, never reading a byte twice`, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'mutant.safetensors');
    const original = new Uint8Array(await readFile(fixture('tensors.safetensors')));
    const r = generator(SEED);
    let loaded = 0;
    for (let i = 0; i < SAFETENSORS_CASES; i++) {
      const { bytes, how } = r.next() < 0.5 ? blindMutation(original, r) : headerMutation(original, r);
      const label = `tensors.safetensors case ${i} (seed ${SEED}): ${how}`;
      await writeFile(path, bytes);
      let file: SafetensorsFile;
      try {
        file = await loadSafetensors(path);
      } catch (error) {
        assert.ok(error instanceof CheckpointError, `${label}: threw ${(error as Error).stack}`);
        assert.ok(error.message.startsWith(`checkpoint ${path}: `), `${label}: ${error.message}`);
        assert.ok(!(error.cause instanceof TypeError || error.cause instanceof RangeError), `${label}: ${(error.cause as Error)?.stack}`);
        continue;
      }
      loaded++;
      assert.ok(tensorBytes(file.tensors) <= bytes.length, `${label}: tensors hold more bytes than the file`);
    }
    assert.ok(loaded > 0);
  });
});
