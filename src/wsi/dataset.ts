/**
 * Annotated slides as a training set: each slide in one folder paired by
 * base name with QuPath's GeoJSON export in another, every file checked when
 * the set is opened (so a bad file fails before training starts, naming the
 * file and the feature), the classes decided, and the resolution patches are
 * cut at. The slides themselves are opened again by whoever reads patches.
 */
import { DatasetError, listByBaseName, naturalCompare, type DatasetProblem } from '../data/dataset.js';
import { outsideSlide, readAnnotations, type Annotation } from './annotations.js';
import { classSet, type ClassSet } from './classes.js';
import { Slide, SLIDE_EXTENSIONS } from './slide.js';

/** Files read as slides: the whole-slide formats and tiled TIFF. */
const SLIDE_FILES = [...SLIDE_EXTENSIONS, '.tif', '.tiff'];
const ANNOTATION_FILES = ['.geojson', '.json'];

export interface SlideDatasetOptions {
  /** Class names to train, in mask-value order (1, 2, ...); default: every name the annotations use. */
  classes?: readonly string[];
  /** What pixels outside every annotation are. Default 'ignore'. */
  unlabelled?: 'ignore' | 'background';
  /** Microns per pixel to cut patches at; default: level 0 of each slide. */
  mpp?: number;
  /** Drop bad slides and features with a warning each and a count, instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

/** One checked slide with its annotations. */
export interface SlideEntry {
  name: string;
  slidePath: string;
  annotationPath: string;
  /** microns per level-0 pixel (geometric mean of x and y), or null when the slide does not record it */
  mpp: number | null;
  /** level-0 pixels per patch pixel */
  downsample: number;
  annotations: Annotation[];
}

/** What worker threads need to read patches (structured-cloneable). */
export interface SharedSlides {
  entries: SlideEntry[];
  classes: ClassSet;
}

export class SlideDataset {
  private constructor(
    readonly entries: readonly SlideEntry[],
    readonly classes: ClassSet,
    /** Slides and features left out by skipBad. */
    readonly skipped: readonly DatasetProblem[],
  ) {}

  /** RGB, always. */
  get channels(): number {
    return 3;
  }

  /** Classes including background. */
  get numClasses(): number {
    return this.classes.names.length + 1;
  }

  get length(): number {
    return this.entries.length;
  }

  static async open(slidesDir: string, annotationsDir: string, options: SlideDatasetOptions = {}): Promise<SlideDataset> {
    const warn = options.onWarning ?? ((message: string) => console.warn(message));
    const problems: DatasetProblem[] = [];
    const slides = await listByBaseName(slidesDir, SLIDE_FILES, problems);
    const annotations = await listByBaseName(annotationsDir, ANNOTATION_FILES, problems);
    for (const [name, path] of slides) {
      if (!annotations.has(name)) problems.push({ file: path, message: `slide has no annotation file (no ${name}.geojson in ${annotationsDir})` });
    }
    for (const [name, path] of annotations) {
      if (!slides.has(name)) problems.push({ file: path, message: `annotation file has no slide (no ${name}.svs, .tif, ... in ${slidesDir})` });
    }
    const entries: SlideEntry[] = [];
    for (const name of [...slides.keys()].filter((n) => annotations.has(n)).sort(naturalCompare)) {
      const entry = await checkSlide(name, slides.get(name)!, annotations.get(name)!, options, problems);
      if (entry) entries.push(entry);
    }
    if (problems.length > 0) {
      if (!options.skipBad) throw new DatasetError(problems);
      for (const p of problems) warn(`skipping ${p.file}: ${p.message}`);
      warn(`skipped ${problems.length} bad slide(s) or feature(s); ${entries.length} slide(s) remain`);
    }
    if (entries.length === 0) throw new DatasetError([{ file: slidesDir, message: `no annotated slides (slides paired by base name with GeoJSON files in ${annotationsDir})` }]);
    let classes: ClassSet;
    try {
      classes = classSet(entries.flatMap((e) => e.annotations), options.classes, options.unlabelled ?? 'ignore');
    } catch (error) {
      throw new DatasetError([{ file: annotationsDir, message: (error as Error).message }]);
    }
    return new SlideDataset(entries, classes, problems);
  }

  static fromShared(shared: SharedSlides): SlideDataset {
    return new SlideDataset(shared.entries, shared.classes, []);
  }

  toShared(): SharedSlides {
    return { entries: [...this.entries], classes: this.classes };
  }

  /** The slides with the given names (held-out validation slides, for instance), same classes. */
  subset(names: readonly string[]): SlideDataset {
    const missing = names.filter((n) => !this.entries.some((e) => e.name === n));
    if (missing.length) throw new DatasetError(missing.map((n) => ({ file: n, message: `no annotated slide named ${n} (slides: ${this.entries.map((e) => e.name).join(', ')})` })));
    return new SlideDataset(this.entries.filter((e) => names.includes(e.name)), this.classes, this.skipped);
  }

  /** The other slides. */
  without(names: readonly string[]): SlideDataset {
    return new SlideDataset(this.entries.filter((e) => !names.includes(e.name)), this.classes, this.skipped);
  }
}

async function checkSlide(name: string, slidePath: string, annotationPath: string, options: SlideDatasetOptions, problems: DatasetProblem[]): Promise<SlideEntry | null> {
  let slide: Slide;
  try {
    slide = Slide.open(slidePath);
  } catch (error) {
    problems.push({ file: slidePath, message: `does not open as a slide: ${(error as Error).message}` });
    return null;
  }
  try {
    const { width, height } = slide.levels[0];
    const mppXY = slide.mpp;
    const mpp = mppXY ? Math.sqrt(mppXY.x * mppXY.y) : null;
    if (options.mpp !== undefined && mpp === null) {
      problems.push({ file: slidePath, message: `--mpp ${options.mpp}: the slide does not record its microns per pixel (no openslide.mpp-x, no TIFF resolution)` });
      return null;
    }
    const parsed = await readAnnotations(annotationPath);
    const bad = [...parsed.problems, ...outsideSlide(parsed.annotations, width, height, annotationPath)];
    for (const p of bad) problems.push({ file: annotationPath, message: p.feature === null ? p.message : `feature ${p.feature}: ${p.message}` });
    const badFeatures = new Set(bad.map((p) => p.feature));
    if (badFeatures.has(null)) return null;
    return {
      name,
      slidePath,
      annotationPath,
      mpp,
      downsample: options.mpp !== undefined ? options.mpp / mpp! : 1,
      annotations: parsed.annotations.filter((a) => !badFeatures.has(a.index)),
    };
  } finally {
    slide.close();
  }
}
