/**
 * Turning mask files into class indices, refusing what we cannot interpret.
 *
 * Masks saved as 0/255, as RGB, or as lossy JPEG are the commonest reason a
 * U-Net silently trains to Dice 0, so every value the conversion does not
 * understand is an error that lists what it saw.
 */
import type { LabelMask } from './types.js';
import type { RawImage } from './raw.js';

/**
 * Which mask values are foreground: one value, a list of values (all class 1),
 * or a value-to-class map for several classes (unmapped 0 is background).
 * 'instances': an instance mask (GlaS's and MoNuSeg's originals), where every
 * nonzero value is foreground and each distinct value is one object, so that
 * the object metrics keep touching objects apart.
 * Left out: 0 is background and any single other value is foreground.
 */
export type ForegroundSpec = number | number[] | Record<number, number> | 'instances';

/** Number of classes (background included) that `foreground` describes. */
export function classCount(foreground: ForegroundSpec | undefined): number {
  if (foreground === undefined || foreground === 'instances' || typeof foreground === 'number' || Array.isArray(foreground)) return 2;
  return 1 + Math.max(0, ...Object.values(foreground));
}

/** Converts a decoded mask to class indices; throws a message saying what is wrong. */
export function toLabelMask(raw: RawImage, foreground?: ForegroundSpec): LabelMask {
  const values = grayValues(raw);
  const counts = new Uint32Array(raw.maxValue + 1);
  for (let i = 0; i < values.length; i++) counts[values[i]]++;
  const seen: number[] = [];
  for (let v = 0; v < counts.length; v++) if (counts[v] > 0) seen.push(v);
  const lut = lookupTable(seen, raw.maxValue, foreground);
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = lut[values[i]];
  return { width: raw.width, height: raw.height, data };
}

/**
 * The object labels of an instance mask: each distinct nonzero value one
 * object (0 background), as the file stores them.
 */
export function instanceLabels(raw: RawImage): Uint8Array | Uint16Array {
  return grayValues(raw);
}

/** The single channel of a mask; an RGB mask is accepted only when it is gray. */
function grayValues(raw: RawImage): Uint8Array | Uint16Array {
  if (raw.channels === 1) return raw.data;
  const n = raw.width * raw.height;
  const out = raw.data instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = raw.data[i * 3];
    const g = raw.data[i * 3 + 1];
    const b = raw.data[i * 3 + 2];
    // many tools save gray masks as RGB with three equal channels: those
    // carry no colour and are read as gray
    if (r !== g || r !== b) {
      const x = i % raw.width;
      const y = Math.floor(i / raw.width);
      throw new Error(
        `mask is an RGB colour image (pixel (${x}, ${y}) is (${r}, ${g}, ${b})); ` +
          'save masks as single-channel images of class values',
      );
    }
    out[i] = r;
  }
  return out;
}

function lookupTable(seen: number[], maxValue: number, foreground: ForegroundSpec | undefined): Uint8Array {
  const lut = new Uint8Array(maxValue + 1);
  const known = new Uint8Array(maxValue + 1);
  known[0] = 1;
  if (foreground === undefined || foreground === 'instances') {
    const nonzero = seen.filter((v) => v !== 0);
    if (nonzero.length > 1 && foreground === undefined) {
      throw new Error(
        `mask values not understood: ${describe(seen)}; by default 0 is background and a single other ` +
          'value is foreground: say which values are foreground with the foreground option ' +
          "(a value, a list, a value-to-class map, or 'instances' for masks that number their objects 1, 2, 3, ...)" +
          (seen.length > 8 ? ' (many values often mean a lossy JPEG mask: store masks as PNG)' : ''),
      );
    }
    for (const v of nonzero) lut[v] = 1;
    return lut;
  }
  const map: Array<[number, number]> =
    typeof foreground === 'number'
      ? [[foreground, 1]]
      : Array.isArray(foreground)
        ? foreground.map((v) => [v, 1])
        : Object.entries(foreground).map(([k, c]) => [Number(k), c]);
  for (const [value, cls] of map) {
    if (value >= 0 && value <= maxValue) {
      lut[value] = cls;
      known[value] = 1;
    }
  }
  const unknown = seen.filter((v) => !known[v]);
  if (unknown.length > 0) {
    throw new Error(
      `mask values not understood: ${describe(unknown)} (values seen: ${describe(seen)}); ` +
        `neither background (0) nor foreground (${map.map(([v]) => v).join(', ')})`,
    );
  }
  return lut;
}

function describe(values: number[]): string {
  const shown = values.slice(0, 12).join(', ');
  return values.length > 12 ? `${values.length} distinct values (${shown}, ...)` : shown;
}
