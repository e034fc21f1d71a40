/**
 * Hostile checkpoints, built byte by byte in the tests (none is committed):
 * pickles with chosen opcodes, tensor records with chosen strides, and stored
 * zip archives whose central directory can name one entry many times.
 */

import { Pickler } from '../../src/io/pickle.js';
import { crc32 } from '../../src/io/crc32.js';

/** Bytes from single byte values, latin1 strings and byte arrays, in order. */
export function concat(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === 'number' ? Uint8Array.of(p) : typeof p === 'string' ? Uint8Array.from(Buffer.from(p, 'latin1')) : p,
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** `n` as 4 little-endian bytes. */
export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

/** A name and its stored (uncompressed) bytes. */
export interface ZipPart {
  name: string;
  data: Uint8Array;
}

/**
 * A stored zip archive of `entries`. Each of `aliases` adds a central
 * directory record that names the local header of entry `of` again, under
 * `name`: the aliasing trick that makes a naive reader read one entry many times.
 */
export function storedZip(entries: ZipPart[], aliases: { name: string; of: string }[] = []): Uint8Array {
  const locals: Uint8Array[] = [];
  const records: { name: Uint8Array; crc: number; size: number; offset: number }[] = [];
  const offsets = new Map<string, number>();
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const header = new DataView(new ArrayBuffer(30));
    header.setUint32(0, 0x04034b50, true);
    header.setUint16(4, 20, true);
    header.setUint32(14, crc32(data), true);
    header.setUint32(18, data.length, true);
    header.setUint32(22, data.length, true);
    header.setUint16(26, nameBytes.length, true);
    locals.push(new Uint8Array(header.buffer), nameBytes, data);
    records.push({ name: nameBytes, crc: crc32(data), size: data.length, offset });
    offsets.set(name, records.length - 1);
    offset += 30 + nameBytes.length + data.length;
  }
  for (const { name, of } of aliases) records.push({ ...records[offsets.get(of)!], name: Buffer.from(name, 'utf8') });
  const directoryOffset = offset;
  const central: Uint8Array[] = [];
  for (const r of records) {
    const header = new DataView(new ArrayBuffer(46));
    header.setUint32(0, 0x02014b50, true);
    header.setUint16(4, 20, true);
    header.setUint16(6, 20, true);
    header.setUint32(16, r.crc, true);
    header.setUint32(20, r.size, true);
    header.setUint32(24, r.size, true);
    header.setUint16(28, r.name.length, true);
    header.setUint32(42, r.offset, true);
    central.push(new Uint8Array(header.buffer), r.name);
  }
  const directorySize = central.reduce((n, c) => n + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, records.length, true);
  end.setUint16(10, records.length, true);
  end.setUint32(12, directorySize, true);
  end.setUint32(16, directoryOffset, true);
  return concat(...locals, ...central, new Uint8Array(end.buffer));
}

/** A checkpoint archive: `pickle` as archive/data.pkl, each storage as archive/data/<key>. */
export function checkpointArchive(
  pickle: Uint8Array,
  storages: Record<string, Uint8Array> = {},
  aliases: { name: string; of: string }[] = [],
): Uint8Array {
  const entries = [{ name: 'archive/data.pkl', data: pickle }];
  for (const [key, data] of Object.entries(storages)) entries.push({ name: `archive/data/${key}`, data });
  return storedZip(entries, aliases);
}

/**
 * The pickle of one tensor record, as torch.save writes it, over float32
 * storage `key` of `storageNumel` elements, with any offset, shape and strides.
 */
export function tensorRecord(
  view: { shape: number[]; strides: number[]; offset?: number },
  storageNumel: number,
  key = '0',
): Uint8Array {
  const p = new Pickler(() => {});
  p.global('torch._utils', '_rebuild_tensor_v2');
  p.tuple(6, () => {
    p.tuple(5, () => {
      p.str('storage');
      p.global('torch', 'FloatStorage');
      p.str(key);
      p.str('cpu');
      p.int(storageNumel);
    });
    p.persistentId();
    p.int(view.offset ?? 0);
    p.tuple(view.shape.length, () => view.shape.forEach((d) => p.int(d)));
    p.tuple(view.strides.length, () => view.strides.forEach((s) => p.int(s)));
    p.dump(false);
    p.global('collections', 'OrderedDict');
    p.tuple(0, () => {});
    p.reduce();
  });
  p.reduce();
  return p.finish();
}

/** float32 little-endian bytes of `values`. */
export function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
