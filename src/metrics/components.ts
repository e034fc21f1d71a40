/**
 * Connected components of a binary mask, and the Euclidean distance transform
 * the object metrics measure Hausdorff distances with. Both are linear in the
 * number of pixels (two raster passes with union-find; Felzenszwalb and
 * Huttenlocher's lower envelope of parabolas), so images thousands of pixels
 * on a side cost a few passes, never pixel pairs.
 */

/** 4: edge neighbours only (ISBI 2012's Fiji scoring); 8: corners too (GlaS's MATLAB `bwlabel`, skimage's default). */
export type Connectivity = 4 | 8;

/** 1 where `probabilities[at + i] >= threshold`, for the `plane` pixels of one image. */
export function thresholded(probabilities: ArrayLike<number>, at: number, plane: number, threshold: number): Uint8Array {
  const out = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) out[i] = probabilities[at + i] >= threshold ? 1 : 0;
  return out;
}

/** Objects of one image: a label per pixel (0 = background, objects 1..count) and each object's extent. */
export interface Components {
  width: number;
  height: number;
  /** label of each pixel, row-major */
  labels: Int32Array;
  count: number;
  /** pixels per object, indexed by label (entry 0 unused) */
  areas: Float64Array;
  /** bounding boxes, indexed by label: [x0, y0, x1, y1] inclusive at 4 * label */
  boxes: Int32Array;
}

/**
 * Labels the connected components of the nonzero pixels of `mask`.
 * Objects are numbered 1, 2, ... in the raster order of their first pixel
 * (as skimage.measure.label), so "the smallest label" means the same object
 * here and in the reference.
 */
export function labelComponents(mask: ArrayLike<number>, width: number, height: number, connectivity: Connectivity): Components {
  const n = width * height;
  const labels = new Int32Array(n);
  // parent[k] of provisional label k (1-based; parent[0] unused)
  let parent = new Int32Array(Math.max(16, n >> 4));
  let next = 1;
  const find = (k: number): number => {
    while (parent[k] !== k) {
      parent[k] = parent[parent[k]];
      k = parent[k];
    }
    return k;
  };
  // joins the sets of provisional labels a (0: none yet) and b; returns the root, the smaller label
  const join = (a: number, b: number): number => {
    if (b === 0 || b === a) return a;
    const rb = find(b);
    if (a === 0) return rb;
    const ra = find(a);
    if (ra === rb) return ra;
    if (ra < rb) {
      parent[rb] = ra;
      return ra;
    }
    parent[ra] = rb;
    return rb;
  };
  const diagonals = connectivity === 8;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      if (mask[i] === 0) continue;
      // neighbours already visited: left, and the row above (with its corners for 8-connectivity)
      let label = x > 0 ? labels[i - 1] : 0;
      if (y > 0) {
        label = join(label, labels[i - width]);
        if (diagonals) {
          if (x > 0) label = join(label, labels[i - width - 1]);
          if (x < width - 1) label = join(label, labels[i - width + 1]);
        }
      }
      if (label === 0) {
        if (next >= parent.length) {
          const grown = new Int32Array(parent.length * 2);
          grown.set(parent);
          parent = grown;
        }
        parent[next] = next;
        label = next++;
      }
      labels[i] = label;
    }
  }
  // second pass: final labels in raster order of each object's first pixel
  const final = new Int32Array(next);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 0) continue;
    const root = find(labels[i]);
    if (final[root] === 0) final[root] = ++count;
    labels[i] = final[root];
  }
  return withExtents(labels, width, height, count);
}

/**
 * Components from a label image (instance masks: every distinct nonzero value
 * is one object, whether or not its pixels touch), renumbered 1..count in
 * raster order of each object's first pixel.
 */
export function relabelInstances(values: ArrayLike<number>, width: number, height: number): Components {
  const labels = new Int32Array(width * height);
  const renumbered = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const v = values[i];
    if (v === 0) continue;
    let label = renumbered.get(v);
    if (label === undefined) renumbered.set(v, (label = renumbered.size + 1));
    labels[i] = label;
  }
  return withExtents(labels, width, height, renumbered.size);
}

/**
 * The objects of a true mask: its instance labels when it has several
 * nonzero values (every distinct value one object), else the connected
 * components of its foreground.
 */
export function maskComponents(mask: ArrayLike<number>, width: number, height: number, connectivity: Connectivity): Components {
  let first = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i];
    if (v === 0) continue;
    if (first === 0) first = v;
    else if (v !== first) return relabelInstances(mask, width, height);
  }
  return labelComponents(mask, width, height, connectivity);
}

/**
 * Pixels shared by object k of `a` and object m of `b` (both nonzero), keyed
 * k * (b.count + 1) + m. Neighbouring pixels mostly share their pair, so
 * runs are counted before each map update.
 */
export function pairCounts(a: Components, b: Components): Map<number, number> {
  const counts = new Map<number, number>();
  const stride = b.count + 1;
  let runKey = -1;
  let run = 0;
  const flush = () => {
    if (run > 0) counts.set(runKey, (counts.get(runKey) ?? 0) + run);
  };
  for (let p = 0; p < a.labels.length; p++) {
    const k = a.labels[p];
    const m = b.labels[p];
    if (k === 0 || m === 0) continue;
    const key = k * stride + m;
    if (key !== runKey) {
      flush();
      runKey = key;
      run = 0;
    }
    run++;
  }
  flush();
  return counts;
}

/** The pixels of every object, grouped by label, and the subset on each object's edge. */
export interface ObjectPixels {
  /** pixel indices of object k: pixels[start[k] .. start[k + 1]) */
  start: Int32Array;
  pixels: Int32Array;
  /** the object's pixels with a 4-neighbour outside it: edge[edgeStart[k] .. edgeStart[k + 1]) */
  edgeStart: Int32Array;
  edge: Int32Array;
}

/**
 * Groups the pixels of `c` by object (a counting sort, one pass). The edge
 * pixels are the ones a nearest-pixel search needs: from any pixel outside
 * an object, the nearest pixel of the object lies on its edge (a pixel
 * whose 4-neighbours are all inside has a neighbour nearer to the outside
 * point).
 */
export function objectPixels(c: Components): ObjectPixels {
  const { labels, width, height, count } = c;
  const start = new Int32Array(count + 2);
  const edgeStart = new Int32Array(count + 2);
  const onEdge = (i: number, k: number) => {
    const x = i % width;
    return (x > 0 && labels[i - 1] !== k) || (x < width - 1 && labels[i + 1] !== k) || (i >= width && labels[i - width] !== k) || (i + width < width * height && labels[i + width] !== k);
  };
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (k === 0) continue;
    start[k + 1]++;
    if (onEdge(i, k)) edgeStart[k + 1]++;
  }
  for (let k = 1; k <= count + 1; k++) {
    start[k] += start[k - 1];
    edgeStart[k] += edgeStart[k - 1];
  }
  const pixels = new Int32Array(start[count + 1]);
  const edge = new Int32Array(edgeStart[count + 1]);
  const fill = start.slice();
  const edgeFill = edgeStart.slice();
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i];
    if (k === 0) continue;
    pixels[fill[k]++] = i;
    if (onEdge(i, k)) edge[edgeFill[k]++] = i;
  }
  return { start, pixels, edgeStart, edge };
}

function withExtents(labels: Int32Array, width: number, height: number, count: number): Components {
  const areas = new Float64Array(count + 1);
  const boxes = new Int32Array(4 * (count + 1));
  for (let k = 1; k <= count; k++) boxes.set([width, height, -1, -1], 4 * k);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = labels[y * width + x];
      if (k === 0) continue;
      areas[k]++;
      const b = 4 * k;
      if (x < boxes[b]) boxes[b] = x;
      if (y < boxes[b + 1]) boxes[b + 1] = y;
      if (x > boxes[b + 2]) boxes[b + 2] = x;
      if (y > boxes[b + 3]) boxes[b + 3] = y;
    }
  }
  return { width, height, labels, count, areas, boxes };
}

/**
 * Squared Euclidean distance from every pixel of a `width` x `height` grid to
 * the nearest nonzero pixel of `target` (Infinity when there is none):
 * Felzenszwalb & Huttenlocher, "Distance transforms of sampled functions"
 * (2012), one pass down the columns and one along the rows. Exact: the
 * values are integers, as scipy's distance_transform_edt squares to.
 */
export function squaredDistanceTransform(target: ArrayLike<number>, width: number, height: number): Float64Array {
  const d = new Float64Array(width * height);
  for (let i = 0; i < d.length; i++) d[i] = target[i] !== 0 ? 0 : Infinity;
  const longest = Math.max(width, height);
  const f = new Float64Array(longest);
  const out = new Float64Array(longest);
  const v = new Int32Array(longest);
  const z = new Float64Array(longest + 1);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = d[y * width + x];
    lowerEnvelope(f, height, out, v, z);
    for (let y = 0; y < height; y++) d[y * width + x] = out[y];
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) f[x] = d[row + x];
    lowerEnvelope(f, width, out, v, z);
    for (let x = 0; x < width; x++) d[row + x] = out[x];
  }
  return d;
}

/** out[q] = min over p of (q - p)^2 + f[p], for q < n (the 1-D transform). */
function lowerEnvelope(f: Float64Array, n: number, out: Float64Array, v: Int32Array, z: Float64Array): void {
  // parabolas rooted at finite f only: an infinite one never lies below
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    out.fill(Infinity, 0, n);
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (z[j + 1] < q) j++;
    const dq = q - v[j];
    out[q] = dq * dq + f[v[j]];
  }
}

/** Masks of one image or of a batch: 0 = background, else a class or instance label. */
export type LabelImages = Uint8Array | Uint16Array | Int32Array;

/**
 * The per-image object scores of a data set (GlaS objects, ISBI regions):
 * each image's predicted and true components scored by `addImage`, which
 * adds to `sums`; ranks merge by an element-wise sum of `counts()`, as
 * BinaryMetricAccumulator.
 */
export abstract class ComponentScoreAccumulator<PerImage> {
  protected readonly sums: Float64Array;
  protected readonly perImage: PerImage[] = [];

  /** @param counts a previous `counts()` (or a sum of several) to start from */
  constructor(
    readonly threshold: number,
    fields: number,
    counts?: Float64Array,
  ) {
    this.sums = new Float64Array(fields);
    if (counts) this.sums.set(counts);
  }

  /** Adds `names.length` images of `height` x `width`: foreground probabilities and masks. */
  add(probabilities: ArrayLike<number>, masks: LabelImages, names: readonly string[], height: number, width: number): void {
    const plane = height * width;
    if (probabilities.length !== names.length * plane || masks.length !== names.length * plane) {
      throw new RangeError(`${this.constructor.name}: ${names.length} images of ${height}x${width} need ${names.length * plane} values, got ${probabilities.length} and ${masks.length}`);
    }
    names.forEach((name, k) => {
      const at = k * plane;
      const predicted = labelComponents(thresholded(probabilities, at, plane, this.threshold), width, height, this.connectivity);
      const truth = maskComponents(masks.subarray(at, at + plane), width, height, this.connectivity);
      this.perImage.push(this.addImage(name, predicted, truth));
    });
  }

  /** The sums, to add up across processes and pass back to the constructor. */
  counts(): Float64Array {
    return Float64Array.from(this.sums);
  }

  /** How components are connected in this metric's definition. */
  protected abstract readonly connectivity: Connectivity;

  /** Adds one image's sums and returns its own scores. */
  protected abstract addImage(name: string, predicted: Components, truth: Components): PerImage;
}
