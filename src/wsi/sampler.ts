/**
 * Where patches are cut from annotated slides: centres drawn inside the
 * annotated regions, balanced so that every class is drawn equally often and,
 * within a class, every slide that has it equally often (a slide with one
 * huge region does not drown the others); within a slide and class a region
 * is drawn in proportion to its area, and a point uniformly inside it.
 * Every draw takes its own stream, so a sample depends on (seed, epoch,
 * index) only, whichever worker thread draws it. Pure: no addon.
 */
import { Rng } from '../data/rng.js';
import { polygonArea, type Annotation } from './annotations.js';
import { containsPoint } from './rasterize.js';

/** A region that can receive patch centres: one annotation's polygons, its mask value and slide. */
export interface SamplingRegion {
  slide: number;
  label: number;
  annotation: Annotation;
}

/** A patch centre in level-0 pixels of `slide`, and the class it was drawn for. */
export interface PatchCentre {
  slide: number;
  x: number;
  y: number;
  label: number;
}

/** A region with what a draw inside it needs, computed once: its polygons' cumulative areas and outer-ring boxes. */
interface PreparedRegion {
  annotation: Annotation;
  cumulative: Float64Array;
  /** [minX, minY, maxX, maxY] of each polygon's outer ring */
  boxes: [number, number, number, number][];
}

/** Regions grouped label -> slide -> cumulative areas, for draws in O(log n). */
interface Stratum {
  label: number;
  slides: { slide: number; regions: PreparedRegion[]; cumulative: Float64Array }[];
}

export class BalancedPatchSampler {
  private readonly strata: Stratum[];

  /** @param regions every region of every slide; regions without area are left out */
  constructor(regions: readonly SamplingRegion[]) {
    const byLabel = new Map<number, Map<number, SamplingRegion[]>>();
    for (const r of regions) {
      if (!(r.annotation.area > 0)) continue;
      let bySlide = byLabel.get(r.label);
      if (!bySlide) byLabel.set(r.label, (bySlide = new Map()));
      const list = bySlide.get(r.slide);
      if (list) list.push(r);
      else bySlide.set(r.slide, [r]);
    }
    this.strata = [...byLabel.keys()].sort((a, b) => a - b).map((label) => ({
      label,
      slides: [...byLabel.get(label)!.entries()].sort(([a], [b]) => a - b).map(([slide, list]) => ({ slide, regions: list.map((r) => prepare(r.annotation)), cumulative: cumulativeAreas(list.map((r) => r.annotation.area)) })),
    }));
    if (this.strata.length === 0) throw new Error('no annotated region to draw patches from');
  }

  /** The labels drawn from, in the order they are balanced over. */
  get labels(): number[] {
    return this.strata.map((s) => s.label);
  }

  /** The centre of sample `index` of `epoch`. */
  draw(seed: number, epoch: number, index: number): PatchCentre {
    const rng = Rng.derive(seed, 0x51de, epoch, index);
    const stratum = this.strata[rng.int(this.strata.length)];
    const slide = stratum.slides[rng.int(stratum.slides.length)];
    const region = slide.regions[pick(slide.cumulative, rng)];
    const [x, y] = pointInside(region, rng);
    return { slide: slide.slide, x, y, label: stratum.label };
  }
}

function prepare(annotation: Annotation): PreparedRegion {
  const cumulative = cumulativeAreas(annotation.polygons.map((rings) => Math.max(0, polygonArea(rings))));
  const boxes = annotation.polygons.map((rings): [number, number, number, number] => {
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of rings[0]) {
      minX = Math.min(minX, x);
      minY = Math.min(minY, y);
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    }
    return [minX, minY, maxX, maxY];
  });
  return { annotation, cumulative, boxes };
}

function cumulativeAreas(areas: number[]): Float64Array {
  const out = new Float64Array(areas.length);
  let total = 0;
  areas.forEach((a, i) => (out[i] = total += a));
  return out;
}

/** Index i with probability proportional to cumulative[i] - cumulative[i - 1]. */
function pick(cumulative: Float64Array, rng: Rng): number {
  const target = rng.next() * cumulative[cumulative.length - 1];
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * A uniform point inside the annotation: a polygon in proportion to its
 * area, then rejection sampling in its bounding box. A ring-shaped region
 * whose holes fill most of its box takes more tries; after 10 000 misses the
 * region is reported, since its area is then too small to sample.
 */
function pointInside(region: PreparedRegion, rng: Rng): [number, number] {
  const { annotation } = region;
  const p = pick(region.cumulative, rng);
  const rings = annotation.polygons[p];
  const [minX, minY, maxX, maxY] = region.boxes[p];
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const x = rng.uniform(minX, maxX);
    const y = rng.uniform(minY, maxY);
    if (containsPoint(rings, x, y)) return [x, y];
  }
  throw new Error(`annotation ${annotation.index}: no point found inside it in 10000 tries (is its area ${annotation.area} px real?)`);
}
