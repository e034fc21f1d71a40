/**
 * The GlaS challenge's object-level metrics (Sirinukunwattana et al.,
 * "Gland segmentation in colon histology images: The GlaS challenge
 * contest", Medical Image Analysis 2017), as its MATLAB evaluation code
 * (evaluation_v6: F1score.m, ObjectDice.m, ObjectHausdorff.m) computes them.
 *
 * Objects: the predicted objects are the 8-connected components of the
 * thresholded prediction (MATLAB's `bwlabel` default); the true objects are
 * the instance labels of the mask when it has several nonzero values, else
 * the 8-connected components of its foreground.
 *
 * With S_j the predicted and G_i the true objects of an image, and "the
 * partner" of an object the object on the other side it overlaps most
 * (ties: the smaller label, as MATLAB's `mode`):
 * - F1: S_j is a true positive when it covers more than 50% of its partner
 *   G (|S_j ∩ G| / |G| > 0.5), else a false positive; FN = #G - TP.
 *   F1 = 2TP / (2TP + FP + FN).
 * - Object Dice = 0.5 * (Σ_j w_j Dice(S_j, partner) + Σ_i w~_i Dice(G_i, partner)),
 *   w_j = |S_j| / Σ|S|, w~_i = |G_i| / Σ|G|; an object without partner scores 0.
 * - Object Hausdorff: the same weights over the Hausdorff distance (Euclidean,
 *   in pixels, over all pixels of both objects) to the partner; an object that
 *   overlaps nothing is paired with the object of the other side nearest to
 *   it by Hausdorff distance.
 *
 * Over a data set the sums are pooled, as the GlaS organisers' Python port
 * (S. Graham, compute_stats.py) does: TP, FP and FN are summed over images,
 * and the weights are each object's share of all objects' area in all
 * images (partners are always found within the same image).
 *
 * Empty images, which the contest's test set does not have: no objects on
 * either side scores F1 = Dice = 1, Hausdorff 0; objects on one side only
 * score F1 = Dice = 0 and leave the Hausdorff distance undefined (the
 * contest's code has no partner to measure to): such objects are left out
 * of the Hausdorff sums and counted in `unpaired`.
 */
import { type Components, ComponentScoreAccumulator, type ObjectPixels, objectPixels, pairCounts, squaredDistanceTransform } from './components.js';

/** Sums of one image or of many; `counts()` lays them out in this order. */
const FIELDS = ['images', 'tp', 'fp', 'fn', 'diceS', 'areaS', 'diceG', 'areaG', 'hausdorffS', 'pairedAreaS', 'hausdorffG', 'pairedAreaG', 'unpaired'] as const;
type Sums = Record<(typeof FIELDS)[number], number>;

/** Masks, N x H x W: 0 = background, object labels or 1 (any other value) elsewhere. */
export type { LabelImages } from './components.js';

/** The GlaS metrics of one image or, pooled, of a data set. */
export interface GlasScores {
  /** object-level F1 (detection) */
  f1: number;
  /** TP / (TP + FP) */
  precision: number;
  /** TP / (TP + FN) */
  recall: number;
  tp: number;
  fp: number;
  fn: number;
  /** object Dice */
  objectDice: number;
  /** object Hausdorff distance in pixels; null when no object had a partner to measure to */
  objectHausdorff: number | null;
  /** objects left out of the Hausdorff distance: their image has no object on the other side */
  unpaired: number;
}

/** GlaS scores over a data set, with each image's. */
export interface GlasReport extends GlasScores {
  /** the probability threshold of the prediction (p >= threshold is foreground) */
  threshold: number;
  images: number;
  perImage: ({ name: string } & GlasScores)[];
}

/**
 * GlaS's detection counts of one image: a predicted object is a hit when it
 * covers more than half of the true object it overlaps most. The part of the
 * scores that needs no distances (choosing post-processing tries many masks).
 */
export function glasDetections(s: Components, g: Components): { tp: number; fp: number; fn: number } {
  return detections(s, g, pairCounts(s, g)).counts;
}

function detections(s: Components, g: Components, overlaps: Map<number, number>) {
  const partnerOfS = partners(s.count, overlaps, (key) => [Math.floor(key / (g.count + 1)), key % (g.count + 1)]);
  const overlap = (j: number, i: number) => overlaps.get(j * (g.count + 1) + i) ?? 0;
  let tp = 0;
  for (let j = 1; j <= s.count; j++) {
    const i = partnerOfS[j];
    if (i !== 0 && overlap(j, i) / g.areas[i] > 0.5) tp++;
  }
  return { counts: { tp, fp: s.count - tp, fn: g.count - tp }, partnerOfS, overlap };
}

/** The GlaS sums of one image: predicted objects `s`, true objects `g`. */
function glasSums(s: Components, g: Components): Sums {
  const sums = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Sums;
  sums.images = 1;
  const overlaps = pairCounts(s, g);
  const { counts, partnerOfS, overlap } = detections(s, g, overlaps);
  const partnerOfG = partners(g.count, overlaps, (key) => [key % (g.count + 1), Math.floor(key / (g.count + 1))]);
  Object.assign(sums, counts);

  const dice = (j: number, i: number) => (2 * overlap(j, i)) / (s.areas[j] + g.areas[i]);
  for (let j = 1; j <= s.count; j++) {
    sums.areaS += s.areas[j];
    if (partnerOfS[j] !== 0) sums.diceS += s.areas[j] * dice(j, partnerOfS[j]);
  }
  for (let i = 1; i <= g.count; i++) {
    sums.areaG += g.areas[i];
    if (partnerOfG[i] !== 0) sums.diceG += g.areas[i] * dice(partnerOfG[i], i);
  }

  if (s.count === 0 || g.count === 0) {
    sums.unpaired = s.count + g.count;
    return sums;
  }
  const between = new HausdorffDistances(s, g);
  for (let j = 1; j <= s.count; j++) {
    const i = partnerOfS[j] || between.nearestTo(j, 's');
    sums.hausdorffS += s.areas[j] * between.distance(j, i);
    sums.pairedAreaS += s.areas[j];
  }
  for (let i = 1; i <= g.count; i++) {
    const j = partnerOfG[i] || between.nearestTo(i, 'g');
    sums.hausdorffG += g.areas[i] * between.distance(j, i);
    sums.pairedAreaG += g.areas[i];
  }
  return sums;
}

/** Scores from sums (of one image, or of many added up). */
function glasScores(sums: Sums): GlasScores {
  const { tp, fp, fn } = sums;
  const noObjects = sums.areaS === 0 && sums.areaG === 0;
  const oneSided = (sums.areaS === 0) !== (sums.areaG === 0);
  const objectDice = noObjects ? 1 : oneSided ? 0 : 0.5 * (sums.diceS / sums.areaS + sums.diceG / sums.areaG);
  let objectHausdorff: number | null = null;
  if (noObjects) objectHausdorff = 0;
  else if (sums.pairedAreaS > 0 && sums.pairedAreaG > 0) {
    objectHausdorff = 0.5 * (sums.hausdorffS / sums.pairedAreaS + sums.hausdorffG / sums.pairedAreaG);
  }
  return {
    f1: tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn),
    precision: tp + fp === 0 ? (fn === 0 ? 1 : 0) : tp / (tp + fp),
    recall: tp + fn === 0 ? (fp === 0 ? 1 : 0) : tp / (tp + fn),
    tp,
    fp,
    fn,
    objectDice,
    objectHausdorff,
    unpaired: sums.unpaired,
  };
}

/** Pools the GlaS sums over images (8-connected objects, as MATLAB's `bwlabel`). */
export class GlasMetricAccumulator extends ComponentScoreAccumulator<GlasReport['perImage'][number]> {
  protected readonly connectivity = 8;

  /** @param counts a previous `counts()` (or a sum of several) to start from */
  constructor(threshold = 0.5, counts?: Float64Array) {
    super(threshold, FIELDS.length, counts);
  }

  protected addImage(name: string, predicted: Components, truth: Components): GlasReport['perImage'][number] {
    const sums = glasSums(predicted, truth);
    FIELDS.forEach((f, i) => (this.sums[i] += sums[f]));
    return { name, ...glasScores(sums) };
  }

  result(): GlasReport {
    const sums = Object.fromEntries(FIELDS.map((f, i) => [f, this.sums[i]])) as Sums;
    return { threshold: this.threshold, images: sums.images, ...glasScores(sums), perImage: this.perImage };
  }
}

/** For each object 1..count on one side, the object on the other side it overlaps most (0: none; ties: the smaller label). */
function partners(count: number, overlaps: Map<number, number>, split: (key: number) => [number, number]): Int32Array {
  const best = new Int32Array(count + 1);
  const most = new Float64Array(count + 1);
  for (const [key, n] of overlaps) {
    const [self, other] = split(key);
    if (n > most[self] || (n === most[self] && other < best[self])) {
      most[self] = n;
      best[self] = other;
    }
  }
  return best;
}

/**
 * Hausdorff distances between the predicted objects `s` and the true objects
 * `g` of one image: the largest distance from a pixel of either object to
 * the nearest pixel of the other (Euclidean, all pixels, as the contest's
 * code measures it). Each pair is measured the cheaper of two exact ways: a
 * scan of one object's pixels against the other's edge pixels (small
 * objects), or two distance transforms over the pair's joint bounding box
 * (large overlapping ones).
 */
class HausdorffDistances {
  private readonly pixelsS: ObjectPixels;
  private readonly pixelsG: ObjectPixels;

  constructor(
    private readonly s: Components,
    private readonly g: Components,
  ) {
    this.pixelsS = objectPixels(s);
    this.pixelsG = objectPixels(g);
  }

  /** Hausdorff distance between predicted object j and true object i. */
  distance(j: number, i: number): number {
    const { s, g } = this;
    const [x0, y0, x1, y1] = jointBox(s.boxes, j, g.boxes, i);
    const scan = s.areas[j] * edgeCount(this.pixelsG, i) + g.areas[i] * edgeCount(this.pixelsS, j);
    const transforms = 8 * (x1 - x0 + 1) * (y1 - y0 + 1);
    const squared =
      scan <= transforms
        ? Math.max(directedByScan(s, j, this.pixelsS, g, i, this.pixelsG), directedByScan(g, i, this.pixelsG, s, j, this.pixelsS))
        : squaredByTransforms(s, j, g, i, [x0, y0, x1, y1]);
    return Math.sqrt(squared);
  }

  /**
   * The object on the other side nearest by Hausdorff distance to object k
   * of side `side` (ties: the smaller label). Candidates are visited by a
   * lower bound from the bounding boxes alone, and the search stops once the
   * bound passes the best distance found, so far-away specks cost nothing.
   */
  nearestTo(k: number, side: 's' | 'g'): number {
    const own = side === 's' ? this.s : this.g;
    const others = side === 's' ? this.g : this.s;
    const order: { label: number; bound: number }[] = [];
    for (let m = 1; m <= others.count; m++) order.push({ label: m, bound: hausdorffLowerBound(own.boxes, k, others.boxes, m) });
    order.sort((a, b) => a.bound - b.bound || a.label - b.label);
    let best = 0;
    let bestDistance = Infinity;
    for (const { label, bound } of order) {
      if (bound > bestDistance) break;
      const d = side === 's' ? this.distance(k, label) : this.distance(label, k);
      if (d < bestDistance || (d === bestDistance && label < best)) {
        bestDistance = d;
        best = label;
      }
    }
    return best;
  }
}

function edgeCount(p: ObjectPixels, k: number): number {
  return p.edgeStart[k + 1] - p.edgeStart[k];
}

/** [x0, y0, x1, y1] (inclusive) around object j of one side and object i of the other. */
function jointBox(a: Int32Array, j: number, b: Int32Array, i: number): [number, number, number, number] {
  return [
    Math.min(a[4 * j], b[4 * i]),
    Math.min(a[4 * j + 1], b[4 * i + 1]),
    Math.max(a[4 * j + 2], b[4 * i + 2]),
    Math.max(a[4 * j + 3], b[4 * i + 3]),
  ];
}

/**
 * A lower bound of the Hausdorff distance between object j (box a) and
 * object i (box b), from the boxes alone: every pixel of one object is at
 * least the boxes' gap from the other object, and each side of a box holds
 * a pixel of its object, which is at least its distance along that axis
 * from the other object's box.
 */
function hausdorffLowerBound(a: Int32Array, j: number, b: Int32Array, i: number): number {
  const gap = (lo: number, hi: number, v: number) => Math.max(0, lo - v, v - hi);
  const [ax0, ay0, ax1, ay1] = [a[4 * j], a[4 * j + 1], a[4 * j + 2], a[4 * j + 3]];
  const [bx0, by0, bx1, by1] = [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
  return Math.max(
    Math.hypot(Math.max(0, bx0 - ax1, ax0 - bx1), Math.max(0, by0 - ay1, ay0 - by1)),
    gap(bx0, bx1, ax0),
    gap(bx0, bx1, ax1),
    gap(by0, by1, ay0),
    gap(by0, by1, ay1),
    gap(ax0, ax1, bx0),
    gap(ax0, ax1, bx1),
    gap(ay0, ay1, by0),
    gap(ay0, ay1, by1),
  );
}

/**
 * max over pixels of object k of `a` of the squared distance to the nearest
 * pixel of object m of `b`: pixels inside m are at 0; the others are
 * measured against m's edge pixels, stopping as soon as one is no farther
 * than the running maximum (such a pixel cannot raise it).
 */
function directedByScan(a: Components, k: number, pa: ObjectPixels, b: Components, m: number, pb: ObjectPixels): number {
  const width = a.width;
  let worst = 0;
  for (let p = pa.start[k]; p < pa.start[k + 1]; p++) {
    const i = pa.pixels[p];
    if (b.labels[i] === m) continue;
    const x = i % width;
    const y = (i - x) / width;
    let nearest = Infinity;
    for (let q = pb.edgeStart[m]; q < pb.edgeStart[m + 1]; q++) {
      const e = pb.edge[q];
      const ex = e % width;
      const dx = ex - x;
      const dy = (e - ex) / width - y;
      const d = dx * dx + dy * dy;
      if (d < nearest) {
        nearest = d;
        if (nearest <= worst) break;
      }
    }
    if (nearest > worst) worst = nearest;
  }
  return worst;
}

/** The squared Hausdorff distance by one exact distance transform per direction over the pair's joint box. */
function squaredByTransforms(a: Components, j: number, b: Components, k: number, [x0, y0, x1, y1]: [number, number, number, number]): number {
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const inA = new Uint8Array(w * h);
  const inB = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y0 + y) * a.width + x0 + x;
      inA[y * w + x] = a.labels[p] === j ? 1 : 0;
      inB[y * w + x] = b.labels[p] === k ? 1 : 0;
    }
  }
  const toB = squaredDistanceTransform(inB, w, h);
  const toA = squaredDistanceTransform(inA, w, h);
  let worst = 0;
  for (let p = 0; p < w * h; p++) {
    if (inA[p] !== 0 && toB[p] > worst) worst = toB[p];
    if (inB[p] !== 0 && toA[p] > worst) worst = toA[p];
  }
  return worst;
}
