/**
 * The subset of ZIP that PyTorch checkpoints use: stored (uncompressed)
 * entries, read through the central directory, with zip64 records for
 * archives and entries beyond 4 GiB. Writing aligns each entry's data to 64
 * bytes with a padding extra field, as PyTorch's writer does, so libtorch can
 * map tensor data straight from the file.
 */

import type { FileHandle } from 'node:fs/promises';

import { crc32 } from './crc32.js';

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIR = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIR = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
/** PyTorch's padding extra field is tagged "FB" and filled with 'Z'. */
const PADDING_EXTRA_ID = 0x4246;
const ALIGNMENT = 64;
const UINT32_MAX = 0xffffffff;
const UINT16_MAX = 0xffff;
/** General purpose flag bit 11: names are UTF-8. */
const FLAG_UTF8 = 0x0800;
/** DOS date of 1980-01-01, the earliest valid one; fixed so output is reproducible. */
const DOS_DATE = 0x0021;

/** Random-access bytes, so archives can be read from a file without loading it whole. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes starting at `position`. */
  read(position: number, length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.byteLength,
    read: async (position, length) => {
      if (position + length > bytes.byteLength) throw new Error('unexpected end of data');
      return bytes.subarray(position, position + length);
    },
  };
}

/** A ByteSource over an open file of `size` bytes. */
export function fileSource(file: FileHandle, size: number): ByteSource {
  return {
    size,
    read: async (position, length) => {
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await file.read(bytes, done, length - done, position + done);
        if (bytesRead === 0) throw new Error('unexpected end of file');
        done += bytesRead;
      }
      return bytes;
    },
  };
}

/** One entry of an archive's central directory. */
export interface ZipEntry {
  name: string;
  size: number;
  crc32: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

/** Thrown when bytes are not a readable ZIP archive; the message says what is wrong. */
export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

function u64(view: DataView, offset: number): number {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('zip64 value out of range');
  return Number(value);
}

/**
 * Reads stored entries of a ZIP archive through its central directory. Each
 * entry must own its bytes: a directory that names one stored entry many
 * times (so that reading "every entry" reads the same data again and again)
 * or lets entries overlap is refused, as is a name listed twice.
 */
export class ZipReader {
  private constructor(
    private readonly source: ByteSource,
    /** Entries by name, in central-directory order. */
    readonly entries: ReadonlyMap<string, ZipEntry>,
    /** Where the space of each entry ends: the next entry's local header, or the central directory. */
    private readonly spaceEnds: ReadonlyMap<string, number>,
  ) {}

  /** Parses the central directory; throws ZipFormatError when there is none. */
  static async open(source: ByteSource): Promise<ZipReader> {
    const end = await findEndOfCentralDirectory(source);
    const directory = await source.read(end.directoryOffset, end.directorySize);
    const view = new DataView(directory.buffer, directory.byteOffset, directory.byteLength);
    const entries = new Map<string, ZipEntry>();
    const nameLengths = new Map<string, number>();
    let p = 0;
    for (let i = 0; i < end.entryCount; i++) {
      if (p + 46 > directory.length || view.getUint32(p, true) !== CENTRAL_HEADER) {
        throw new ZipFormatError('corrupt central directory');
      }
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      const nameLength = view.getUint16(p + 28, true);
      const extraLength = view.getUint16(p + 30, true);
      const commentLength = view.getUint16(p + 32, true);
      if (p + 46 + nameLength + extraLength + commentLength > directory.length) {
        throw new ZipFormatError('corrupt central directory');
      }
      const name = new TextDecoder().decode(directory.subarray(p + 46, p + 46 + nameLength));
      let size = view.getUint32(p + 24, true);
      let compressedSize = view.getUint32(p + 20, true);
      let headerOffset = view.getUint32(p + 42, true);
      // The zip64 extra field holds, in this order, exactly those of the three
      // values whose 32-bit slot is saturated.
      const extraStart = p + 46 + nameLength;
      const zip64 = findExtra(view, extraStart, extraStart + extraLength, ZIP64_EXTRA_ID);
      if (zip64 !== undefined) {
        let q = zip64.start;
        const next = (): number => {
          if (q + 8 > zip64.end) throw new ZipFormatError('corrupt zip64 extra field');
          q += 8;
          return u64(view, q - 8);
        };
        if (size === UINT32_MAX) size = next();
        if (compressedSize === UINT32_MAX) compressedSize = next();
        if (headerOffset === UINT32_MAX) headerOffset = next();
      }
      if (flags & 1) throw new ZipFormatError(`entry ${name} is encrypted`);
      if (method !== 0 || compressedSize !== size) {
        throw new ZipFormatError(`entry ${name} is compressed (method ${method}); only stored entries are supported`);
      }
      if (entries.has(name)) throw new ZipFormatError(`entry ${name} is listed twice in the central directory`);
      entries.set(name, { name, size, crc32: view.getUint32(p + 16, true), headerOffset });
      nameLengths.set(name, nameLength);
      p = extraStart + extraLength + commentLength;
    }
    return new ZipReader(source, entries, entrySpaces(entries, nameLengths, end.directoryOffset));
  }

  /** The bytes of entry `name`, after checking their CRC-32. */
  async read(name: string): Promise<Uint8Array> {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new ZipFormatError(`missing entry ${name}`);
    const header = await this.source.read(entry.headerOffset, 30).catch(() => {
      throw new ZipFormatError(`entry ${name}: local header is past the end of the file`);
    });
    const view = new DataView(header.buffer, header.byteOffset, 30);
    if (view.getUint32(0, true) !== LOCAL_HEADER) throw new ZipFormatError(`entry ${name}: bad local header`);
    const dataOffset = entry.headerOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
    if (dataOffset + entry.size > this.source.size) {
      throw new ZipFormatError(`entry ${name} is truncated`);
    }
    if (dataOffset + entry.size > this.spaceEnds.get(name)!) {
      throw new ZipFormatError(`entry ${name} overlaps the entry or directory after it`);
    }
    const data = await this.source.read(dataOffset, entry.size);
    if (crc32(data) !== entry.crc32) throw new ZipFormatError(`entry ${name}: CRC-32 mismatch (corrupt data)`);
    return data;
  }
}

/**
 * Checks that entries, in file order, do not overlap: each needs at least its
 * 30-byte local header, its name and its data before the next one starts (the
 * local extra field is only known when the entry is read, which checks it
 * against the space found here).
 */
function entrySpaces(
  entries: ReadonlyMap<string, ZipEntry>,
  nameLengths: ReadonlyMap<string, number>,
  directoryOffset: number,
): Map<string, number> {
  const inFileOrder = [...entries.values()].sort((a, b) => a.headerOffset - b.headerOffset);
  const spaceEnds = new Map<string, number>();
  inFileOrder.forEach((entry, i) => {
    const next = inFileOrder[i + 1];
    const spaceEnd = next === undefined ? directoryOffset : next.headerOffset;
    if (entry.headerOffset + 30 + nameLengths.get(entry.name)! + entry.size > spaceEnd) {
      throw new ZipFormatError(
        next === undefined
          ? `entry ${entry.name} overlaps the central directory`
          : `entries ${entry.name} and ${next.name} overlap (a directory naming one entry twice?)`,
      );
    }
    spaceEnds.set(entry.name, spaceEnd);
  });
  return spaceEnds;
}

/** Where the data of extra field `id` lies among the extra fields in [start, end), cut off at `end`. */
function findExtra(view: DataView, start: number, end: number, id: number): { start: number; end: number } | undefined {
  for (let q = start; q + 4 <= end; q += 4 + view.getUint16(q + 2, true)) {
    if (view.getUint16(q, true) === id) return { start: q + 4, end: Math.min(q + 4 + view.getUint16(q + 2, true), end) };
  }
  return undefined;
}

async function findEndOfCentralDirectory(
  source: ByteSource,
): Promise<{ entryCount: number; directorySize: number; directoryOffset: number }> {
  // The end record is 22 bytes plus a comment of at most 65535 bytes.
  const tailLength = Math.min(source.size, 22 + UINT16_MAX);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let p = tail.length - 22;
  while (p >= 0 && view.getUint32(p, true) !== END_OF_CENTRAL_DIR) p--;
  if (p < 0) throw new ZipFormatError('end of central directory not found (truncated or not a zip archive)');
  let entryCount = view.getUint16(p + 10, true);
  let directorySize = view.getUint32(p + 12, true);
  let directoryOffset = view.getUint32(p + 16, true);
  const locator = p - 20;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR) {
    const recordOffset = u64(view, locator + 8);
    const record = await source.read(recordOffset, 56).catch(() => {
      throw new ZipFormatError('zip64 end of central directory is past the end of the file');
    });
    const r = new DataView(record.buffer, record.byteOffset, 56);
    if (r.getUint32(0, true) !== ZIP64_END_OF_CENTRAL_DIR) {
      throw new ZipFormatError('corrupt zip64 end of central directory');
    }
    entryCount = u64(r, 32);
    directorySize = u64(r, 40);
    directoryOffset = u64(r, 48);
  }
  if (directoryOffset + directorySize > source.size) {
    throw new ZipFormatError('central directory is past the end of the file (truncated archive)');
  }
  return { entryCount, directorySize, directoryOffset };
}

/** Where a ZipWriter sends its bytes, in order. */
export type ByteSink = (chunk: Uint8Array) => Promise<void>;

/** Options of ZipWriter. */
export interface ZipWriterOptions {
  /**
   * Write zip64 records even where 32-bit fields would do (default false:
   * only entries, offsets and directories beyond 4 GiB get them). Lets tests
   * and other readers exercise the zip64 path without gigabytes of data.
   */
  forceZip64?: boolean;
}

interface WrittenEntry {
  name: Uint8Array;
  size: number;
  crc32: number;
  headerOffset: number;
}

/** Writes stored entries one after another, then the central directory. */
export class ZipWriter {
  private offset = 0;
  private readonly written: WrittenEntry[] = [];
  private readonly forceZip64: boolean;

  constructor(
    private readonly sink: ByteSink,
    options: ZipWriterOptions = {},
  ) {
    this.forceZip64 = options.forceZip64 ?? false;
  }

  /** Appends entry `name` holding `data`, its data 64-byte aligned in the archive. */
  async add(name: string, data: Uint8Array): Promise<void> {
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length > UINT16_MAX) throw new Error(`zip entry name too long: ${name}`);
    const headerOffset = this.offset;
    const zip64 = this.forceZip64 || data.byteLength >= UINT32_MAX;
    // The local zip64 field carries both sizes, which must then read 0xffffffff.
    const zip64Length = zip64 ? 4 + 16 : 0;
    const unpadded = headerOffset + 30 + nameBytes.length + zip64Length + 4;
    const padding = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
    const extraLength = zip64Length + 4 + padding;
    const header = new Uint8Array(30 + nameBytes.length + extraLength);
    const view = new DataView(header.buffer);
    const crc = crc32(data);
    view.setUint32(0, LOCAL_HEADER, true);
    view.setUint16(4, zip64 ? 45 : 20, true);
    view.setUint16(6, FLAG_UTF8, true);
    view.setUint16(12, DOS_DATE, true);
    view.setUint32(14, crc, true);
    view.setUint32(18, zip64 ? UINT32_MAX : data.byteLength, true);
    view.setUint32(22, zip64 ? UINT32_MAX : data.byteLength, true);
    view.setUint16(26, nameBytes.length, true);
    view.setUint16(28, extraLength, true);
    header.set(nameBytes, 30);
    let q = 30 + nameBytes.length;
    if (zip64) {
      view.setUint16(q, ZIP64_EXTRA_ID, true);
      view.setUint16(q + 2, 16, true);
      view.setBigUint64(q + 4, BigInt(data.byteLength), true);
      view.setBigUint64(q + 12, BigInt(data.byteLength), true);
      q += zip64Length;
    }
    view.setUint16(q, PADDING_EXTRA_ID, true);
    view.setUint16(q + 2, padding, true);
    header.fill(0x5a, q + 4);
    await this.emit(header);
    await this.emit(data);
    this.written.push({ name: nameBytes, size: data.byteLength, crc32: crc, headerOffset });
  }

  /** Writes the central directory and end records; the writer is done after this. */
  async finish(): Promise<void> {
    const directoryOffset = this.offset;
    for (const entry of this.written) await this.emit(this.centralHeader(entry));
    const directorySize = this.offset - directoryOffset;
    const count = this.written.length;
    const zip64 =
      this.forceZip64 || count >= UINT16_MAX || directoryOffset >= UINT32_MAX || directorySize >= UINT32_MAX;
    if (zip64) {
      const recordOffset = this.offset;
      const record = new DataView(new ArrayBuffer(56 + 20));
      record.setUint32(0, ZIP64_END_OF_CENTRAL_DIR, true);
      record.setBigUint64(4, 44n, true);
      record.setUint16(12, 45, true);
      record.setUint16(14, 45, true);
      record.setBigUint64(24, BigInt(count), true);
      record.setBigUint64(32, BigInt(count), true);
      record.setBigUint64(40, BigInt(directorySize), true);
      record.setBigUint64(48, BigInt(directoryOffset), true);
      record.setUint32(56, ZIP64_LOCATOR, true);
      record.setBigUint64(64, BigInt(recordOffset), true);
      record.setUint32(72, 1, true);
      await this.emit(new Uint8Array(record.buffer));
    }
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, END_OF_CENTRAL_DIR, true);
    end.setUint16(8, zip64 ? UINT16_MAX : count, true);
    end.setUint16(10, zip64 ? UINT16_MAX : count, true);
    end.setUint32(12, zip64 ? UINT32_MAX : directorySize, true);
    end.setUint32(16, zip64 ? UINT32_MAX : directoryOffset, true);
    await this.emit(new Uint8Array(end.buffer));
  }

  private centralHeader(entry: WrittenEntry): Uint8Array {
    const bigSize = this.forceZip64 || entry.size >= UINT32_MAX;
    const bigOffset = this.forceZip64 || entry.headerOffset >= UINT32_MAX;
    const zip64Values = (bigSize ? 2 : 0) + (bigOffset ? 1 : 0);
    const extraLength = zip64Values > 0 ? 4 + 8 * zip64Values : 0;
    const header = new Uint8Array(46 + entry.name.length + extraLength);
    const view = new DataView(header.buffer);
    const version = zip64Values > 0 ? 45 : 20;
    view.setUint32(0, CENTRAL_HEADER, true);
    view.setUint16(4, version, true);
    view.setUint16(6, version, true);
    view.setUint16(8, FLAG_UTF8, true);
    view.setUint16(14, DOS_DATE, true);
    view.setUint32(16, entry.crc32, true);
    view.setUint32(20, bigSize ? UINT32_MAX : entry.size, true);
    view.setUint32(24, bigSize ? UINT32_MAX : entry.size, true);
    view.setUint16(28, entry.name.length, true);
    view.setUint16(30, extraLength, true);
    view.setUint32(42, bigOffset ? UINT32_MAX : entry.headerOffset, true);
    header.set(entry.name, 46);
    if (zip64Values > 0) {
      let q = 46 + entry.name.length;
      view.setUint16(q, ZIP64_EXTRA_ID, true);
      view.setUint16(q + 2, 8 * zip64Values, true);
      q += 4;
      if (bigSize) {
        view.setBigUint64(q, BigInt(entry.size), true);
        view.setBigUint64(q + 8, BigInt(entry.size), true);
        q += 16;
      }
      if (bigOffset) view.setBigUint64(q, BigInt(entry.headerOffset), true);
    }
    return header;
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    await this.sink(chunk);
    this.offset += chunk.byteLength;
  }
}
