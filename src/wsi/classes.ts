/**
 * From QuPath class names to mask values: one class per name given (or
 * found), background 0, and what pixels outside every annotation become.
 * A region whose class is "Background" is background and one whose class
 * starts with "Ignore" is left out of the loss, whatever --classes says.
 * Pure: no addon.
 */
import { IGNORE_LABEL } from '../data/ignore.js';
import type { Annotation } from './annotations.js';

/** Mask values 1..names.length are these classes; 0 is background. */
export interface ClassSet {
  names: string[];
  /** colour of each class in `names` order: QuPath's when the annotations carry one */
  colors: [number, number, number][];
  /** what unannotated pixels become */
  unlabelled: 'ignore' | 'background';
}

/** Colours for classes whose annotations carry none (QuPath's defaults for Tumor, Stroma, Immune cells, Necrosis, Other). */
const DEFAULT_COLORS: [number, number, number][] = [[200, 0, 0], [150, 200, 150], [160, 90, 160], [50, 50, 50], [255, 200, 0]];

/** Colours for `count` classes named without colours (QuPath's defaults first). */
export function defaultClassColors(count: number): [number, number, number][] {
  return Array.from({ length: count }, (_, i) => DEFAULT_COLORS[i % DEFAULT_COLORS.length]);
}

const isBackgroundName = (name: string) => name.toLowerCase() === 'background';
const isIgnoreName = (name: string) => name.toLowerCase().startsWith('ignore');

/**
 * The classes to train: `requested` in that order, or every class name the
 * annotations use (sorted), Background and Ignore* aside.
 * @throws naming the requested names that no annotation uses
 */
export function classSet(annotations: Iterable<Annotation>, requested: readonly string[] | undefined, unlabelled: ClassSet['unlabelled']): ClassSet {
  const colors = new Map<string, [number, number, number] | null>();
  for (const a of annotations) {
    if (a.className === null || isBackgroundName(a.className) || isIgnoreName(a.className)) continue;
    if (!colors.get(a.className)) colors.set(a.className, a.color);
  }
  const names = requested ? [...requested] : [...colors.keys()].sort();
  const reserved = names.filter((n) => isBackgroundName(n) || isIgnoreName(n));
  if (reserved.length) throw new Error(`--classes: ${reserved.join(', ')} cannot be trained as a class: Background is class 0 and Ignore* regions are left out`);
  const unknown = names.filter((n) => !colors.has(n));
  if (unknown.length) {
    const found = [...colors.keys()].sort();
    throw new Error(`--classes: no annotation has the class ${unknown.map((n) => `'${n}'`).join(', ')} (classes found: ${found.length ? found.join(', ') : 'none'})`);
  }
  if (names.length === 0) throw new Error('no classified annotations: give regions a class in QuPath (Set class) before exporting');
  const fallback = defaultClassColors(names.length);
  return { names, colors: names.map((n, i) => colors.get(n) ?? fallback[i]), unlabelled };
}

/** The mask value an annotation paints, or null when it paints nothing (a class not trained, unclassified). */
function labelOf(classes: ClassSet, annotation: Annotation): number | null {
  const name = annotation.className;
  if (name === null) return null;
  if (isIgnoreName(name)) return IGNORE_LABEL;
  if (isBackgroundName(name)) return 0;
  const index = classes.names.indexOf(name);
  return index < 0 ? null : index + 1;
}

/** The value of pixels outside every annotation. */
export function unlabelledValue(classes: ClassSet): number {
  return classes.unlabelled === 'ignore' ? IGNORE_LABEL : 0;
}

/**
 * Painting order: Background regions first, then the classes in file order
 * (a region drawn later lies on top, as QuPath shows it), Ignore regions last,
 * so an explicit class wins over Background and Ignore over everything.
 */
export function paintOrder(classes: ClassSet, annotations: readonly Annotation[]): { annotation: Annotation; label: number }[] {
  const rank = (label: number) => (label === 0 ? 0 : label === IGNORE_LABEL ? 2 : 1);
  return annotations
    .map((annotation) => ({ annotation, label: labelOf(classes, annotation) }))
    .filter((p): p is { annotation: Annotation; label: number } => p.label !== null)
    .sort((a, b) => rank(a.label) - rank(b.label) || a.annotation.index - b.annotation.index);
}
