/**
 * A tiled, pyramidal, deflate-compressed 8-bit grey TIFF written row by row,
 * so a slide-sized mask never has to be in memory: sharp (libvips) would need
 * the whole raster first. Rows go in top to bottom; every full row of tiles is
 * compressed and appended at once, and each level of the pyramid fills from
 * the rows of the level above, halved by taking every other pixel (which
 * keeps label values exact) or, for maps of values such as probabilities, by
 * averaging each 2 x 2 block. Memory: one row of tiles per level. The directories
 * go at the end, one per level chained in order, the layout OpenSlide's generic
 * TIFF reader, libvips and QuPath open. A file that could pass 4 GiB (by the
 * bound of its tiles uncompressed) is written as BigTIFF, with 64-bit offsets.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

export interface TiffOptions {
  width: number;
  height: number;
  /** Tile edge, a multiple of 16. Default 256. */
  tileSize?: number;
  /** Pyramid levels after the full one: halve until the image fits a tile, by default. */
  reducedLevels?: number;
  /** Microns per pixel of the full level, written as the resolution (pixels per cm). */
  mpp?: { x: number; y: number } | null;
  /** Stored as ImageDescription of the full level. */
  description?: string;
  /** How a level is halved: 'sample' every other pixel (labels), or 'average' 2 x 2 blocks (values). Default 'sample'. */
  reduce?: 'sample' | 'average';
  /** BigTIFF (64-bit offsets) whatever the size. Default: only where the file could pass 4 GiB (`needsBigTiff`). */
  bigTiff?: boolean;
}

interface Level {
  width: number;
  height: number;
  rows: Uint8Array; // one row of tiles
  pending: Uint8Array | null; // averaging: the even row waiting for its odd partner
  filled: number;
  received: number;
  offsets: number[];
  counts: number[];
}

const MAX_OFFSET = 2 ** 32 - 1;

/**
 * Whether a TIFF of these levels could pass 4 GiB: every tile at its
 * uncompressed size plus deflate's worst-case growth (5 bytes per 16 KiB
 * block and a header), with room for the directories.
 */
export function needsBigTiff(width: number, height: number, tileSize = 256): boolean {
  const tileBound = tileSize * tileSize * (1 + 5 / 16384) + 64;
  let [w, h, tiles] = [width, height, 0];
  for (;;) {
    const count = Math.ceil(w / tileSize) * Math.ceil(h / tileSize);
    tiles += count;
    if (w <= tileSize && h <= tileSize) break;
    [w, h] = [Math.ceil(w / 2), Math.ceil(h / 2)];
  }
  return 16 + tiles * (tileBound + 16) + 64 * 1024 > MAX_OFFSET;
}

/** Writes a tiled pyramidal TIFF from rows given in order; call `close()` after the last row. */
export class TiledTiffWriter {
  private readonly fd: number;
  private readonly tile: number;
  private readonly levels: Level[] = [];
  private readonly big: boolean;
  private position: number;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: TiffOptions,
  ) {
    const { width, height } = options;
    if (!(width >= 1 && height >= 1)) throw new Error(`${path}: cannot write a ${width}x${height} TIFF`);
    this.tile = options.tileSize ?? 256;
    if (this.tile % 16 !== 0) throw new Error(`TIFF tile size must be a multiple of 16, got ${this.tile}`);
    let [w, h] = [width, height];
    const reduced = options.reducedLevels ?? Infinity;
    for (let i = 0; ; i++) {
      this.levels.push({ width: w, height: h, rows: new Uint8Array(this.tile * w), pending: null, filled: 0, received: 0, offsets: [], counts: [] });
      if (i >= reduced || (w <= this.tile && h <= this.tile)) break;
      [w, h] = [Math.ceil(w / 2), Math.ceil(h / 2)];
    }
    this.big = options.bigTiff ?? needsBigTiff(width, height, this.tile);
    this.fd = openSync(path, 'w');
    // the first directory's offset (at 4 in a TIFF, 8 in a BigTIFF) is patched in by close()
    const header = Buffer.alloc(this.big ? 16 : 8);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(this.big ? 43 : 42, 2);
    if (this.big) header.writeUInt16LE(8, 4); // bytes per offset
    writeSync(this.fd, header, 0, header.length, 0);
    this.position = header.length;
  }

  /** Appends `count` rows of `width` bytes each (row-major). */
  writeRows(rows: Uint8Array, count: number): void {
    if (this.closed) throw new Error(`${this.path}: the TIFF was closed`);
    for (let r = 0; r < count; r++) this.addRow(0, rows.subarray(r * this.options.width, (r + 1) * this.options.width));
  }

  /** Writes the directories; every row must have been written. */
  close(): void {
    if (this.closed) return;
    try {
      const level0 = this.levels[0];
      if (level0.received !== level0.height) {
        throw new Error(`${this.path}: ${level0.received} of ${level0.height} rows were written`);
      }
      let next = 0;
      const directories: Buffer[] = [];
      // directories are written last to first, so each knows the offset of the one after it
      const starts: number[] = [];
      let at = this.position + (this.position % 2);
      const sizes = this.levels.map((level, i) => this.directory(level, i, 0, 0).length);
      for (const size of sizes) {
        starts.push(at);
        at += size + (size % 2);
      }
      for (let i = this.levels.length - 1; i >= 0; i--) {
        directories[i] = this.directory(this.levels[i], i, starts[i], next);
        next = starts[i];
      }
      if (!this.big && at > MAX_OFFSET) throw new Error(`${this.path}: the mask TIFF would exceed 4 GiB`);
      for (let i = 0; i < directories.length; i++) writeSync(this.fd, directories[i], 0, directories[i].length, starts[i]);
      const first = Buffer.alloc(this.big ? 8 : 4);
      if (this.big) first.writeBigUInt64LE(BigInt(starts[0]));
      else first.writeUInt32LE(starts[0]);
      writeSync(this.fd, first, 0, first.length, this.big ? 8 : 4);
    } finally {
      this.closed = true;
      closeSync(this.fd);
    }
  }

  private addRow(index: number, row: Uint8Array): void {
    const level = this.levels[index];
    level.rows.set(row, level.filled * level.width);
    level.filled++;
    if (index + 1 < this.levels.length) this.halve(index, level, row);
    level.received++;
    if (level.filled === this.tile || level.received === level.height) this.flush(level);
  }

  /** Passes a row of the next level down: from every even row, or from each pair of rows (an odd last row pairs with itself). */
  private halve(index: number, level: Level, row: Uint8Array): void {
    const half = new Uint8Array(this.levels[index + 1].width);
    const even = level.received % 2 === 0;
    if (this.options.reduce !== 'average') {
      if (!even) return;
      for (let x = 0; x < half.length; x++) half[x] = row[2 * x];
      this.addRow(index + 1, half);
      return;
    }
    if (even && level.received + 1 < level.height) {
      level.pending = Uint8Array.from(row);
      return;
    }
    const above = even ? row : level.pending!;
    for (let x = 0; x < half.length; x++) {
      const right = Math.min(2 * x + 1, level.width - 1); // an odd last column pairs with itself
      half[x] = Math.round((above[2 * x] + above[right] + row[2 * x] + row[right]) / 4);
    }
    this.addRow(index + 1, half);
  }

  /** Compresses and appends the buffered row of tiles (padded with zeros past the image edges). */
  private flush(level: Level): void {
    const t = this.tile;
    const tile = new Uint8Array(t * t);
    for (let x0 = 0; x0 < level.width; x0 += t) {
      tile.fill(0);
      const w = Math.min(t, level.width - x0);
      for (let y = 0; y < level.filled; y++) tile.set(level.rows.subarray(y * level.width + x0, y * level.width + x0 + w), y * t);
      const data = deflateSync(tile);
      if (!this.big && this.position + data.length > MAX_OFFSET) throw new Error(`${this.path}: the mask TIFF would exceed 4 GiB`);
      writeSync(this.fd, data, 0, data.length, this.position);
      level.offsets.push(this.position);
      level.counts.push(data.length);
      this.position += data.length;
    }
    level.filled = 0;
  }

  /** The directory (IFD) of one level, with its out-of-line values after it, placed at `start`. */
  private directory(level: Level, index: number, start: number, next: number): Buffer {
    const SHORT = 3, LONG = 4, RATIONAL = 5, ASCII = 2, LONG8 = 16;
    const entries: [number, number, number[] | string][] = [
      [254, LONG, [index === 0 ? 0 : 1]], // NewSubfileType: reduced-resolution image
      [256, LONG, [level.width]],
      [257, LONG, [level.height]],
      [258, SHORT, [8]],
      [259, SHORT, [8]], // Adobe deflate
      [262, SHORT, [1]], // BlackIsZero
    ];
    if (index === 0 && this.options.description) entries.push([270, ASCII, this.options.description + '\0']);
    entries.push([277, SHORT, [1]]);
    const mpp = this.options.mpp;
    const downsample = 2 ** index;
    if (mpp) entries.push([282, RATIONAL, [Math.round(1e4 / (mpp.x * downsample) * 1000), 1000]], [283, RATIONAL, [Math.round(1e4 / (mpp.y * downsample) * 1000), 1000]]);
    entries.push([284, SHORT, [1]]);
    if (mpp) entries.push([296, SHORT, [3]]); // centimetre
    entries.push([322, LONG, [this.tile]], [323, LONG, [this.tile]], [324, this.big ? LONG8 : LONG, level.offsets], [325, LONG, level.counts]);

    // a TIFF entry is tag, type, 4-byte count, 4-byte value or offset; a BigTIFF entry has 8-byte count and value
    const [countBytes, entryBytes, valueBytes] = this.big ? [8, 20, 8] : [2, 12, 4];
    const head = countBytes + entries.length * entryBytes + valueBytes;
    const extra: Buffer[] = [];
    let extraAt = start + head;
    const ifd = Buffer.alloc(head);
    const writeOffset = (value: number, at: number) => (this.big ? ifd.writeBigUInt64LE(BigInt(value), at) : ifd.writeUInt32LE(value, at));
    if (this.big) ifd.writeBigUInt64LE(BigInt(entries.length), 0);
    else ifd.writeUInt16LE(entries.length, 0);
    entries.forEach(([tag, type, values], i) => {
      const bytes = typeof values === 'string' ? Buffer.from(values, 'latin1') : encode(type, values);
      const count = typeof values === 'string' ? bytes.length : type === RATIONAL ? values.length / 2 : values.length;
      const o = countBytes + i * entryBytes;
      ifd.writeUInt16LE(tag, o);
      ifd.writeUInt16LE(type, o + 2);
      writeOffset(count, o + 4);
      const valueAt = o + 4 + valueBytes;
      if (bytes.length <= valueBytes) {
        bytes.copy(ifd, valueAt);
      } else {
        writeOffset(extraAt, valueAt);
        const padded = bytes.length % 2 ? Buffer.concat([bytes, Buffer.alloc(1)]) : bytes;
        extra.push(padded);
        extraAt += padded.length;
      }
    });
    writeOffset(next, head - valueBytes);
    return Buffer.concat([ifd, ...extra]);
  }
}

function encode(type: number, values: number[]): Buffer {
  const size = type === 3 ? 2 : type === 16 ? 8 : 4;
  const out = Buffer.alloc(values.length * size);
  values.forEach((v, i) => (size === 2 ? out.writeUInt16LE(v, i * 2) : size === 8 ? out.writeBigUInt64LE(BigInt(v), i * 8) : out.writeUInt32LE(v, i * 4)));
  return out;
}
