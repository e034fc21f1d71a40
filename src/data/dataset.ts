/**
 * Image/mask folders: pairing by base name, checking, and access to samples.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { decodeImageFile, ImageDecodeError, readImageHeader } from './decode.js';
import { classCount, toLabelMask, type ForegroundSpec } from './masks.js';
import type { RawImage } from './raw.js';
import { downsampleLabels, downsampleRaw, scaledSide } from './scale.js';
import type { LabelMask } from './types.js';

/** File extensions read as images or masks (case-insensitive); other files are ignored. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp'];

/** Options for opening a data set. */
export interface DatasetOptions {
  /** Which mask values are foreground (see ForegroundSpec); default: 0 vs one other value. */
  foreground?: ForegroundSpec;
  /** Skip bad pairs with a warning each and a count, instead of failing. Default false. */
  skipBad?: boolean;
  /** Where warnings go; default console.warn. */
  onWarning?: (message: string) => void;
  /** Keep only these base names (a validation subset, for instance). */
  names?: readonly string[];
  /** Leave out these base names (the validation subset of a training set). */
  exclude?: readonly string[];
}

/** One checked image/mask pair. */
export interface DatasetEntry {
  name: string;
  imagePath: string;
  maskPath: string;
  width: number;
  height: number;
  channels: number;
  /** 1 for 8-bit files, 2 for 16-bit. */
  bytesPerValue: number;
}

/** A problem found in a file while opening a data set. */
export interface DatasetProblem {
  file: string;
  message: string;
}

/**
 * Thrown when a data set has bad files and skipBad is off (lists every
 * problem), or has no pairs at all.
 */
export class DatasetError extends Error {
  constructor(
    readonly problems: DatasetProblem[],
    message = `${problems.length} problem(s) in the data set (pass skipBad to skip these pairs):\n${listProblems(problems)}`,
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

function listProblems(problems: DatasetProblem[]): string {
  const lines = problems.slice(0, 20).map((p) => `  ${p.file}: ${p.message}`);
  if (problems.length > 20) lines.push(`  ... and ${problems.length - 20} more`);
  return lines.join('\n');
}

/**
 * What a worker thread needs to rebuild a data set without re-checking it:
 * the masks live in one SharedArrayBuffer, so workers read them without copies.
 */
export interface SharedDataset {
  entries: DatasetEntry[];
  maskBuffer: SharedArrayBuffer;
  maskOffsets: number[];
  channels: number;
  numClasses: number;
  /** Images and masks are served at 1/downsample of the files' pixels (see scale.ts); 1 when absent. */
  downsample?: number;
}

/**
 * Pairs `root/<images>/NAME.*` with `root/<masks>/NAME.*` by base name,
 * whatever the extensions. Opening decodes every mask (they are checked and
 * kept as class indices) and reads every image header; images themselves are
 * decoded on demand, so an image whose header reads but whose pixel data is
 * corrupt fails only then, with its path in the message.
 */
export class SegmentationDataset {
  private constructor(
    readonly entries: readonly DatasetEntry[],
    readonly masks: readonly LabelMask[],
    private readonly shared: SharedDataset,
    /** Pairs left out by skipBad, with the reason. */
    readonly skipped: readonly DatasetProblem[],
  ) {}

  /** Number of image/mask pairs. */
  get length(): number {
    return this.entries.length;
  }

  /** Channels of every image: 1 (gray) or 3 (RGB). */
  get channels(): number {
    return this.shared.channels;
  }

  /** Number of classes including background. */
  get numClasses(): number {
    return this.shared.numClasses;
  }

  /** The files' pixels per served pixel along each side (1: as stored). */
  get downsample(): number {
    return this.shared.downsample ?? 1;
  }

  /** Scans, pairs and checks the folders; throws DatasetError unless skipBad. */
  static async open(
    root: string,
    imagesDir = 'images',
    masksDir = 'masks',
    options: DatasetOptions = {},
  ): Promise<SegmentationDataset> {
    const warn = options.onWarning ?? ((message: string) => console.warn(message));
    const problems: DatasetProblem[] = [];
    const images = await listImages(join(root, imagesDir), problems);
    const masks = await listImages(join(root, masksDir), problems);
    const keep = options.names ? new Set(options.names) : null;
    const exclude = new Set(options.exclude ?? []);
    if (keep) {
      for (const name of keep) {
        if (!images.has(name)) problems.push({ file: join(root, imagesDir, name), message: 'requested name has no image' });
      }
    }
    const wanted = (name: string) => (!keep || keep.has(name)) && !exclude.has(name);
    for (const [name, path] of images) {
      if (wanted(name) && !masks.has(name)) {
        problems.push({ file: path, message: `image has no mask (no ${name}.* in ${join(root, masksDir)})` });
      }
    }
    for (const [name, path] of masks) {
      if (wanted(name) && !images.has(name)) {
        problems.push({ file: path, message: `mask has no image (no ${name}.* in ${join(root, imagesDir)})` });
      }
    }
    const names = [...images.keys()].filter((n) => wanted(n) && masks.has(n)).sort(naturalCompare);
    const checked = await mapLimited(names, 4, (name) => checkPair(name, images.get(name)!, masks.get(name)!, options.foreground));

    const entries: DatasetEntry[] = [];
    const labels: LabelMask[] = [];
    let channels = 0;
    for (const result of checked) {
      if ('problem' in result) {
        problems.push(result.problem);
        continue;
      }
      channels ||= result.entry.channels;
      if (result.entry.channels !== channels) {
        problems.push({
          file: result.entry.imagePath,
          message: `image has ${result.entry.channels} channel(s) but the data set's first image has ${channels}`,
        });
        continue;
      }
      entries.push(result.entry);
      labels.push(result.mask);
    }
    if (problems.length > 0) {
      if (!options.skipBad) throw new DatasetError(problems);
      for (const p of problems) warn(`skipping ${p.file}: ${p.message}`);
      warn(`skipped ${problems.length} bad file(s); ${entries.length} pair(s) remain`);
    }
    if (entries.length === 0) throw new DatasetError(problems, `no image/mask pairs in ${join(root, imagesDir)} and ${join(root, masksDir)}`);
    const shared = shareMasks(entries, labels, channels, classCount(options.foreground));
    return new SegmentationDataset(entries, sharedMasks(shared), shared, problems);
  }

  /** Rebuilds a data set in a worker thread from `toShared()`, without re-checking. */
  static fromShared(shared: SharedDataset): SegmentationDataset {
    return new SegmentationDataset(shared.entries, sharedMasks(shared), shared, []);
  }

  /** The structured-cloneable form passed to worker threads (masks are shared, not copied). */
  toShared(): SharedDataset {
    return this.shared;
  }

  /** The pairs with the given names (in this data set's order), sharing this data set's masks. */
  subset(names: readonly string[]): SegmentationDataset {
    const wanted = new Set(names);
    const keep = this.entries.map((e, i) => (wanted.has(e.name) ? i : -1)).filter((i) => i >= 0);
    const missing = names.filter((n) => !this.entries.some((e) => e.name === n));
    if (missing.length > 0) throw new Error(`names not in the data set: ${missing.join(', ')}`);
    const shared: SharedDataset = {
      ...this.shared,
      entries: keep.map((i) => this.entries[i]),
      maskOffsets: keep.map((i) => this.shared.maskOffsets[i]),
    };
    return new SegmentationDataset(shared.entries, sharedMasks(shared), shared, this.skipped);
  }

  /**
   * The same pairs served at 1/factor of their pixels (a working resolution:
   * masks by the most frequent label of each block, images by block means
   * when decoded); the entries still describe the files.
   */
  downsampled(factor: number): SegmentationDataset {
    if (factor === this.downsample) return this;
    if (this.downsample !== 1) throw new Error(`the data set is already served at 1/${this.downsample}`);
    const labels = this.masks.map((m) => downsampleLabels(m, factor));
    const shared = { ...shareMasks([...this.entries], labels, this.channels, this.numClasses), downsample: factor };
    return new SegmentationDataset(shared.entries, sharedMasks(shared), shared, this.skipped);
  }

  /** Decodes image `index` (at the served resolution); throws ImageDecodeError naming the file (which may have changed since it was checked). */
  async image(index: number): Promise<RawImage> {
    const entry = this.entries[index];
    const raw = await decodeImageFile(entry.imagePath);
    if (raw.width !== entry.width || raw.height !== entry.height || raw.channels !== entry.channels) {
      throw new ImageDecodeError(entry.imagePath, `decoded as ${raw.width}x${raw.height}x${raw.channels}, header said ${entry.width}x${entry.height}x${entry.channels}`);
    }
    return downsampleRaw(raw, this.downsample);
  }

  /** Bytes needed to hold every decoded image at the served resolution (the loader caches when this fits). */
  decodedBytes(): number {
    const f = this.downsample;
    return this.entries.reduce((sum, e) => sum + scaledSide(e.width, f) * scaledSide(e.height, f) * e.channels * e.bytesPerValue, 0);
  }
}

type PairResult = { entry: DatasetEntry; mask: LabelMask } | { problem: DatasetProblem };

async function checkPair(name: string, imagePath: string, maskPath: string, foreground: ForegroundSpec | undefined): Promise<PairResult> {
  let header;
  try {
    header = await readImageHeader(imagePath);
  } catch (error) {
    return { problem: { file: imagePath, message: `does not decode: ${(error as Error).message}` } };
  }
  let raw: RawImage;
  try {
    raw = await decodeImageFile(maskPath);
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    return { problem: { file: maskPath, message: error.reason } };
  }
  if (raw.width !== header.width || raw.height !== header.height) {
    return {
      problem: {
        file: maskPath,
        message: `mask is ${raw.width}x${raw.height} but its image ${imagePath} is ${header.width}x${header.height}`,
      },
    };
  }
  try {
    const mask = toLabelMask(raw, foreground);
    return { entry: { name, imagePath, maskPath, ...header }, mask };
  } catch (error) {
    return { problem: { file: maskPath, message: (error as Error).message } };
  }
}

/** Base name -> path for the image files of a folder; duplicate base names are problems. */
function listImages(dir: string, problems: DatasetProblem[]): Promise<Map<string, string>> {
  return listByBaseName(dir, IMAGE_EXTENSIONS, problems);
}

/**
 * Base name -> path of the files of `dir` with one of `extensions`
 * (lower case, with the dot); duplicate base names are problems.
 * @throws naming the folder when it cannot be read
 */
export async function listByBaseName(dir: string, extensions: readonly string[], problems: DatasetProblem[]): Promise<Map<string, string>> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (error) {
    const message = `cannot read folder ${dir}: ${(error as Error).message}`;
    throw new DatasetError([{ file: dir, message }], message);
  }
  const byName = new Map<string, string>();
  for (const file of files.sort()) {
    const ext = extname(file).toLowerCase();
    if (file.startsWith('.') || !extensions.includes(ext)) continue;
    const name = file.slice(0, file.length - ext.length);
    const path = join(dir, file);
    const other = byName.get(name);
    if (other !== undefined) problems.push({ file: path, message: `same base name as ${other}: pairing is ambiguous` });
    else byName.set(name, path);
  }
  return byName;
}

function shareMasks(entries: DatasetEntry[], masks: LabelMask[], channels: number, numClasses: number): SharedDataset {
  const maskOffsets: number[] = [];
  let total = 0;
  for (const m of masks) {
    maskOffsets.push(total);
    total += m.data.length;
  }
  const maskBuffer = new SharedArrayBuffer(total);
  masks.forEach((m, i) => new Uint8Array(maskBuffer, maskOffsets[i], m.data.length).set(m.data));
  return { entries, maskBuffer, maskOffsets, channels, numClasses };
}

function sharedMasks(shared: SharedDataset): LabelMask[] {
  const f = shared.downsample ?? 1;
  return shared.entries.map((e, i) => {
    const [width, height] = [scaledSide(e.width, f), scaledSide(e.height, f)];
    return { width, height, data: new Uint8Array(shared.maskBuffer, shared.maskOffsets[i], width * height) };
  });
}

/** Orders "2" before "10" so data sets list in the order people number them. */
export function naturalCompare(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    const numeric = i % 2 === 1;
    if (numeric && Number(pa[i]) !== Number(pb[i])) return Number(pa[i]) - Number(pb[i]);
    return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Maps with at most `limit` calls in flight, keeping results in input order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}
